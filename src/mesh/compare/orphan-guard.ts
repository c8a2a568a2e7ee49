/**
 * Preloaded (node --import) into every process hub compare starts, which it starts with an IPC channel: when that
 * channel closes because compare itself is gone (even killed with SIGKILL, which runs no cleanup of compare's), the
 * process stops itself as if it got SIGTERM. So no process of a comparison outlives it.
 */
if (process.channel) {
  // The channel must not keep a process alive that would otherwise exit (a hub that has stopped).
  process.channel.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
export {};
