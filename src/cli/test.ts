/** `hub test`: runs the flows' test files (src/flow-test/), once or on every change (--watch). */
import { watch, writeFileSync, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { MessageSchemas } from '../config/schema-validator.js';
import { ConfigError } from '../core/errors.js';
import { junitReport, textReport } from '../flow-test/report.js';
import { ok, runTestFiles, type TestOptions } from '../flow-test/suite.js';
import { findTestFiles } from '../flow-test/test-file.js';
import { command, type Io } from './args.js';
import { CONFIG_OPTION, setup } from './setup.js';

async function once(paths: string[], options: TestOptions, values: { reporter: 'text' | 'junit'; out: string | undefined }, io: Io): Promise<number> {
  const report = await runTestFiles(findTestFiles(paths), options);
  const passed = ok(report);
  if (values.reporter === 'junit') {
    const text = junitReport(report);
    if (values.out) {
      try {
        writeFileSync(values.out, text + '\n');
      } catch (e) {
        throw new ConfigError('CLI_OUTPUT_FAILED', `cannot write ${values.out}: ${(e as Error).message}`, { cause: e });
      }
    } else io.out(text);
  }
  if (values.reporter === 'text' || values.out) (passed ? io.out : io.err)(textReport(report));
  return passed ? 0 : 1;
}

/** Runs the tests again whenever a file under the watched folders changes (debounced); resolves on SIGINT. */
async function watching(paths: string[], options: TestOptions, values: { reporter: 'text' | 'junit'; out: string | undefined }, io: Io): Promise<number> {
  const run = async (): Promise<void> => {
    try {
      await once(paths, options, values, io);
    } catch (e) {
      io.err(`hub: ${(e as { code?: string }).code ?? 'INTERNAL'}: ${(e as Error).message}`);
    }
    io.out('\nwatching for changes (Ctrl-C ends)...');
  };
  await run();
  const folders = new Set([...findTestFiles(paths).map((f) => dirname(f)), options.schemas.dir]);
  let timer: NodeJS.Timeout | undefined;
  let running = Promise.resolve();
  const changed = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => (running = running.then(run)), 100);
  };
  const watchers: FSWatcher[] = [...folders].map((dir) => watch(dir, { recursive: false }, changed));
  return new Promise((resolve) => {
    process.once('SIGINT', () => {
      for (const w of watchers) w.close();
      clearTimeout(timer);
      void running.then(() => resolve(0));
    });
  });
}

export const testCommand = command({
  name: 'test',
  summary: 'Run the flows\' test cases (<flow>.test.yaml): the real flow, its sinks mocked, no network.',
  usage: ['hub test [--config FILE] [--reporter text|junit] [--out FILE] [--watch] [PATH...]'],
  description:
    'Run the test files beside the flows (<flow>.test.yaml; a folder is searched recursively, a flow file stands for its test file). Each case feeds its input to the real flow through the real runtime, its sinks replaced by the case\'s mocks, with no broker and no network, and checks what the sinks received and what the caller got. A failure is printed at file:line:col with a diff of expected and actual; the steps and route branches no case reached are named. Exit 1 when a case fails or a test file or its flow has a problem.',
  options: {
    ...CONFIG_OPTION,
    reporter: { type: 'string', value: 'R', choices: ['text', 'junit'], default: 'text', description: 'text for a terminal, junit for CI (JUnit XML on stdout, or in --out).' },
    out: { type: 'string', value: 'FILE', description: 'Write the JUnit XML to this file (the text report goes to the terminal).' },
    watch: { type: 'boolean', short: 'w', description: 'Run again on every change of a test file, a flow or a schema, until Ctrl-C.' },
  },
  args: [{ name: 'PATH', variadic: true, description: 'Test files, flow files or folders (default: the flows folder).' }],
  async run(values, paths, io) {
    const { config, registry } = await setup(values.config);
    const options: TestOptions = { registry, schemas: new MessageSchemas(config.schemasDir), limits: config.limits, env: io.env };
    const where = paths.length ? paths : [config.flowsDir];
    return values.watch ? watching(where, options, values, io) : once(where, options, values, io);
  },
});
