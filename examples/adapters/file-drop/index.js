// A complete adapter written against the hub's public contract: messages from files dropped in a folder, and
// messages written as files. Load it by naming it in hub.yaml: adapters: [./examples/adapters/file-drop/index.js]
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Message, RetryableError, inboundHeaders, toMs } from 'integration-hub';

const dirSchema = { type: 'string', description: 'The folder, relative to the flow file.' };

/** @type {import('integration-hub').AdapterRegistration} */
export default {
  name: 'file_drop',
  description: 'Reads messages from *.json files dropped in a folder; writes messages as files.',
  source: {
    schema: {
      type: 'object', additionalProperties: false, required: ['dir'],
      properties: { dir: dirSchema, poll: { type: 'string', description: 'How often to look, e.g. 500ms.' } },
    },
    create(config, adapter) {
      const dir = resolve(adapter.baseDir, config.dir);
      const busy = new Map(); // file name -> its delivery, settled or not
      let timer;
      return {
        async start(ctx) {
          const take = async (name) => {
            const file = join(dir, name);
            const message = new Message({
              body: await readFile(file),
              meta: { flow: ctx.flow, source: `file_drop:${dir}`, receivedAt: new Date().toISOString(), attempt: 1, file: name },
            });
            try {
              await ctx.deliver(message.with({ headers: { ...inboundHeaders({}, message.id), 'content-type': 'application/json' } }));
              await rm(file); // settled: only now is the file gone (a crash before this reads it again)
            } catch (err) {
              ctx.logger.warn({ file: name, code: err.code }, err.message);
              // Permanent: parked in failed/. Retryable: left in place, taken again at a later poll.
              if (err.retryable === false) await rename(file, join(dir, 'failed', name));
            }
          };
          const poll = async () => {
            await mkdir(join(dir, 'failed'), { recursive: true });
            for (const name of await readdir(dir)) {
              if (!name.endsWith('.json') || busy.has(name)) continue;
              busy.set(name, take(name).catch((err) => ctx.logger.error({ err }, `cannot take ${name}`)).finally(() => busy.delete(name)));
            }
          };
          await mkdir(join(dir, 'failed'), { recursive: true }); // ready means files may be dropped now
          timer = setInterval(() => poll().catch((err) => ctx.logger.error({ err }, `cannot read ${dir}`)), toMs(config.poll ?? '1s'));
        },
        async stop() {
          clearInterval(timer);
          timer = undefined;
          await Promise.all(busy.values());
        },
        ready: () => timer !== undefined,
      };
    },
  },
  sink: {
    schema: { type: 'object', additionalProperties: false, required: ['dir'], properties: { dir: dirSchema } },
    create(config, adapter) {
      const dir = resolve(adapter.baseDir, config.dir);
      return {
        start: () => mkdir(dir, { recursive: true }).then(() => undefined),
        stop: async () => {},
        ready: () => true,
        async send(message) {
          const target = join(dir, `${message.id}.json`);
          try {
            await writeFile(`${target}.tmp`, message.body);
            await rename(`${target}.tmp`, target); // readers never see half a file
          } catch (err) {
            throw new RetryableError('DOWNSTREAM_UNAVAILABLE', `cannot write ${target}: ${err.message}`, { cause: err });
          }
          return undefined;
        },
      };
    },
  },
};
