import { Writable } from 'node:stream';
import type { ChannelModel } from 'amqplib';

/** The parts of amqplib's Connection this reaches into (lib/connection.js, lib/mux.js). */
interface Internals {
  connection?: {
    stream?: unknown;
    muxer?: { _readIncoming?: unknown };
  };
}

/**
 * amqplib writes every frame it has queued to the socket with a write() of its own: one system call, and one
 * loopback or network segment for the broker to read, per publish or ack. Its writer (the Mux) takes the frames of
 * all channels in passes, one pass per turn of the event loop; this makes each pass one writev: the socket is
 * corked for the pass and uncorked after it, so a hundred publishes made in one turn leave as one write. Order and
 * backpressure stay amqplib's (write() still says when the socket's buffer is full).
 *
 * It reaches into amqplib's internals (`connection.muxer._readIncoming`, `connection.stream`); when they are not
 * there in the form expected it changes nothing and returns false, and amqplib writes as it always did.
 */
export function batchWrites(model: ChannelModel): boolean {
  const connection = (model as unknown as Internals).connection;
  const stream = connection?.stream;
  const mux = connection?.muxer;
  if (!(stream instanceof Writable) || !mux || typeof mux._readIncoming !== 'function') return false;
  const pass = mux._readIncoming as (this: unknown) => void;
  mux._readIncoming = function batched(this: unknown): void {
    stream.cork();
    try {
      pass.call(this);
    } finally {
      stream.uncork();
    }
  };
  return true;
}
