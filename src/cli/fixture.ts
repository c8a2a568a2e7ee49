/** `hub messages fixture ID`: a journalled message as a test case for `hub test` (src/flow-test/fixture.ts). */
import { dirname, join, relative, resolve } from 'node:path';
import { PROJECT_ROOT } from '../config/paths.js';
import { fixtureFromRecord, writeFixture } from '../flow-test/fixture.js';
import type { MessageRecord } from '../journal/contract.js';
import { ADMIN_OPTIONS, withAdmin } from './admin-client.js';
import { command } from './args.js';

export const fixtureCommand = command({
  name: 'messages fixture',
  summary: 'Write a test case from a journalled message: its input, its sinks\' replies, what the flow did.',
  usage: ['hub messages fixture ID [--out FILE] [--name TEXT]'],
  description:
    'Write a test case for hub test from a message in the journal of a running hub: its input as the source received it, a mock for each sink from the replies (or errors) the sinks gave, and expectations from what the flow did (each sink\'s calls, the error code and step, or delivered). The journal holds all of that for flows whose journal policy is `all`; for any other message the command says what is missing. Printed, or added to the test file --out (made when there is none).',
  options: {
    ...ADMIN_OPTIONS,
    out: { type: 'string', value: 'FILE', description: 'Add the case to this test file (e.g. flows/orders-api.test.yaml), made with its modeline when there is none.' },
    name: { type: 'string', value: 'TEXT', description: 'The case\'s name (default: the message\'s id, status, error and time).' },
  },
  args: [{ name: 'ID', required: true, description: 'The message\'s id (hub messages lists them).' }],
  async run(values, [id], io) {
    return withAdmin(values, io.env, async (api) => {
      const { data } = await api.call<MessageRecord>('GET', `/messages/${encodeURIComponent(id!)}`);
      const out = values.out === undefined ? undefined : resolve(values.out);
      const schema = out ? relative(dirname(out), join(PROJECT_ROOT, 'schemas', 'flow-test.schema.json')) : '';
      const yaml = writeFixture(fixtureFromRecord(data, values.name), out, schema);
      io.out(out ? `added a case for message ${id} to ${values.out}; run it with: hub test ${values.out}` : yaml.trimEnd());
      return 0;
    });
  },
});
