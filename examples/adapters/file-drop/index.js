// A complete adapter written against the hub's public contract: files in a folder.
//
//   source: { file_drop: { dir: ./inbox, poll: 500ms } }   each new *.json / *.xml / *.txt file becomes a message;
//                                                           the file is removed only once the flow has settled it
//                                                           (at least once: a crash before that re-reads it).
//   sinks:  { archive: { file_drop: { dir: ./outbox } } }  each message is written to DIR/<message id>.<ext>,
//                                                           atomically (written aside, then renamed).
//
// Load it by naming it in hub.yaml:   adapters: [ ./examples/adapters/file-drop/index.js ]
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { Message, RetryableError, inboundHeaders, toMs } from 'integration-hub';

const TYPES = { '.json': 'application/json', '.xml': 'application/xml', '.txt': 'text/plain' };
const EXTENSIONS = { 'application/json': '.json', 'application/xml': '.xml', 'text/xml': '.xml' };

/** @type {import('integration-hub').AdapterRegistration} */
export default {
  name: 'file_drop',
  description: 'Reads messages from files dropped in a folder; writes messages as files.',
  source: {
    schema: {
      type: 'object',
      additionalProperties: false,
      required: ['dir'],
      properties: {
        dir: { type: 'string', description: 'Folder to watch, relative to the flow file.' },
        poll: { description: 'How often to look for new files.', default: '1s', oneOf: [{ type: 'integer', minimum: 10 }, { type: 'string', pattern: '^(\\d+(\\.\\d+)?(ms|s|m|h))+$' }] },
      },
    },
    create(config, adapterCtx) {
      const dir = resolve(adapterCtx.baseDir, config.dir);
      const every = toMs(config.poll ?? '1s');
      let timer;
      let running = false;
      let ready = false;
      const busy = new Set();
      return {
        async start(ctx) {
          await mkdir(dir, { recursive: true });
          ready = true;
          const scan = async () => {
            if (running) return;
            running = true;
            try {
              for (const name of (await readdir(dir)).sort()) {
                const type = TYPES[extname(name)];
                if (!type || busy.has(name)) continue;
                busy.add(name);
                const file = join(dir, name);
                const message = new Message({ body: await readFile(file), headers: { 'content-type': type }, meta: { flow: ctx.flow, source: `file_drop:${dir}`, receivedAt: new Date().toISOString(), attempt: 1, file: name } });
                ctx.deliver(message.with({ headers: { ...inboundHeaders({}, message.id), 'content-type': type } })).then(
                  () => rm(file).finally(() => busy.delete(name)),
                  (err) => {
                    // Settled as failed: park the file beside the folder's .failed/ so it is not read again and not lost.
                    ctx.logger.warn({ file: name, code: err.code }, `file ${name} failed: ${err.message}`);
                    mkdir(join(dir, '.failed'), { recursive: true })
                      .then(() => rename(file, join(dir, '.failed', name)))
                      .finally(() => busy.delete(name));
                  },
                );
              }
            } finally {
              running = false;
            }
          };
          timer = setInterval(() => void scan().catch((err) => ctx.logger.error({ err }, 'scan failed')), every);
        },
        async stop() {
          clearInterval(timer);
          ready = false;
        },
        ready: () => ready,
      };
    },
  },
  sink: {
    schema: {
      type: 'object',
      additionalProperties: false,
      required: ['dir'],
      properties: { dir: { type: 'string', description: 'Folder to write to, relative to the flow file.' } },
    },
    create(config, adapterCtx) {
      const dir = resolve(adapterCtx.baseDir, config.dir);
      return {
        start: () => mkdir(dir, { recursive: true }).then(() => undefined),
        stop: async () => {},
        ready: () => true,
        async send(message) {
          const ext = EXTENSIONS[(message.contentType ?? '').split(';')[0]] ?? '.bin';
          const target = join(dir, `${message.id}${ext}`);
          try {
            await writeFile(`${target}.tmp`, message.body);
            await rename(`${target}.tmp`, target);
          } catch (err) {
            throw new RetryableError('DOWNSTREAM_UNAVAILABLE', `cannot write ${target}: ${err.message}`, { cause: err });
          }
          return undefined;
        },
      };
    },
  },
};
