import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { AdapterRegistration, Sink, Source } from '../core/contracts.js';
import { Registry } from '../core/registry.js';
import { builtinSteps } from '../steps/index.js';
import { formatDiagnostics, loadFlows } from './load-flows.js';
import { MessageSchemas } from './schema-validator.js';

/**
 * A minimal adapter for linter tests: an HTTP-like source that claims a path, and a one-way and a request-reply sink.
 * (The real REST and SOAP adapters have their own claim tests; these cases are about the linter.)
 */
const probe: AdapterRegistration = {
  name: 'probe',
  description: 'linter test adapter',
  source: {
    schema: { type: 'object', additionalProperties: false, required: ['path'], properties: { path: { type: 'string', pattern: '^/' }, password: { type: 'string' }, url: { type: 'string' } } },
    create: (): Source => ({ start: async () => {}, stop: async () => {}, ready: () => true }),
    claims: (c: { path: string }) => [{ key: `http POST ${c.path}`, path: ['path'] }],
    requestReply: true,
  },
  sink: {
    schema: { type: 'object', additionalProperties: false, properties: { reply: { type: 'boolean' } } },
    create: (): Sink => ({ start: async () => {}, stop: async () => {}, ready: () => true, send: async () => undefined }),
    requestReply: true,
  },
};

function registry(): Registry {
  const r = new Registry().registerAdapter(probe);
  for (const s of builtinSteps) r.registerStep(s);
  return r;
}

const root = mkdtempSync(join(tmpdir(), 'hub-lint-'));
const schemasDir = join(root, 'schemas');
mkdirSync(schemasDir);
writeFileSync(join(schemasDir, 'order.v1.schema.json'), JSON.stringify({ type: 'object', required: ['id'] }));
afterAll(() => {});

let n = 0;
function lint(files: Record<string, string>, env: NodeJS.ProcessEnv = {}) {
  const dir = join(root, `case-${++n}`);
  mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const result = loadFlows([dir], { registry: registry(), schemas: new MessageSchemas(schemasDir), logger: pino({ level: 'silent' }), limits: { bodyBytes: 1 << 20, maxDepth: 64 }, mode: 'run', env });
  const lines = result.diagnostics.map((d) => `${d.file.split('/').pop()}:${d.line}:${d.col}: ${d.message}`);
  return { result, lines };
}

const good = `name: good
source:
  probe: { path: /a }
steps:
  - transform: { jsonata: '{ "id": orderId }' }
  - validate: { schema: order.v1 }
  - to: out
sinks:
  out: { probe: {} }
`;

describe('loadFlows (the linter)', () => {
  it('accepts a valid flow and builds it', () => {
    const { result, lines } = lint({ 'good.yaml': good });
    expect(lines).toEqual([]);
    expect(result.flows.map((f) => [f.name, f.steps.map((s) => s.label)])).toEqual([['good', ['0:transform', '1:validate', '2:to']]]);
  });

  it('reports YAML syntax errors', () => {
    const { result, lines } = lint({ 'f.yaml': 'name: x\nsource: [a\n' });
    expect(result.flows).toEqual([]);
    expect(lines[0]).toMatch(/^f\.yaml:\d+:\d+: YAML syntax error/);
  });

  it('reports duplicate keys where the second one stands', () => {
    const { lines } = lint({ 'f.yaml': good.replace('steps:', 'name: again\nsteps:') });
    expect(lines).toEqual([expect.stringMatching(/^f\.yaml:4:1: duplicate key/)]);
  });

  it('refuses alias bombs', () => {
    const bomb = `name: bomb\nsource: { probe: { path: /b } }\nx1: &a [1,1,1,1,1,1,1,1,1,1]\nx2: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nx3: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nx4: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n`;
    const { lines } = lint({ 'bomb.yaml': bomb });
    expect(lines).toEqual([expect.stringMatching(/^bomb\.yaml:4:\d+: alias expansion refused/)]);
  });

  it('reports every problem of a file in one pass, each at its line and column', () => {
    const text = `name: Bad_Name
source:
  probe: { path: /c, pssword: x }
steps:
  - transfrom: { jsonata: 'a' }
  - transform: { jsonata: 'a +' }
  - route:
      - when: 'total > 1'
        to: nowhere
      - otherwise: out
  - validate: { schema: missing.v9 }
  - filter: { when: 1 }
sinks:
  out: { probe: { reply: "yes" } }
  other: { kafkaa: {} }
extra: true
`;
    const { result, lines } = lint({ 'bad.yaml': text });
    expect(result.flows).toEqual([]);
    expect(lines).toEqual(
      expect.arrayContaining([
        'bad.yaml:1:7: must be kebab-case: lower-case letters, digits and single dashes (e.g. orders-api)',
        expect.stringMatching(/^bad\.yaml:3:22: unknown key "pssword": did you mean "password"\?/),
        expect.stringMatching(/^bad\.yaml:5:5: unknown step "transfrom": did you mean "transform"\?/),
        expect.stringMatching(/^bad\.yaml:6:30: JSONata does not compile/),
        expect.stringMatching(/^bad\.yaml:9:13: .*nowhere/),
        expect.stringMatching(/^bad\.yaml:11:25: schema "missing\.v9" not found/),
        expect.stringMatching(/^bad\.yaml:12:21: must be string/),
        'bad.yaml:14:26: must be boolean',
        expect.stringMatching(/^bad\.yaml:15:12: unknown adapter "kafkaa".*known: probe/),
        expect.stringMatching(/^bad\.yaml:16:1: unknown key "extra"/),
      ]),
    );
    expect(lines).toHaveLength(10);
  });

  it('reports wrong types and missing keys', () => {
    const { lines } = lint({ 'f.yaml': 'name: t\nsource: { probe: {} }\nconcurrency: many\nsteps: {}\n' });
    expect(lines).toEqual(
      expect.arrayContaining([
        'f.yaml:2:18: missing required key "path"',
        'f.yaml:3:14: must be integer',
        'f.yaml:4:8: must be array',
      ]),
    );
  });

  it('reports a bad duration and still reports the other problems', () => {
    const { lines } = lint({ 'f.yaml': 'name: t\nsource: { probe: { path: /d } }\ntimeout: soon\nerrors: { retry: { initial: later } }\nsteps:\n  - transform: { jsonata: "(" }\n' });
    expect(lines).toEqual([
      expect.stringMatching(/^f\.yaml:3:10: invalid value/),
      expect.stringMatching(/^f\.yaml:4:29: invalid value/),
      expect.stringMatching(/^f\.yaml:6:\d+: JSONata does not compile/),
    ]);
  });

  it('reports an unknown source adapter with the known ones', () => {
    const { lines } = lint({ 'f.yaml': 'name: t\nsource: { sop: { path: /x } }\n' });
    expect(lines).toEqual([expect.stringMatching(/^f\.yaml:2:11: unknown adapter "sop".*\(known: probe\)/)]);
  });

  it('refuses literal secrets and takes environment references', () => {
    const literal = lint({ 'f.yaml': 'name: t\nsource: { probe: { path: /s, password: hunter2 } }\n' });
    expect(literal.lines).toEqual([expect.stringMatching(/^f\.yaml:2:40: "password" is a secret: write it as an environment reference like \$\{env:PASSWORD\}/)]);
    const ref = lint({ 'f.yaml': 'name: t\nsource: { probe: { path: /s, password: "${env:ERP_PASSWORD}" } }\n' }, { ERP_PASSWORD: 'p' });
    expect(ref.lines).toEqual([]);
    const fallback = lint({ 'f.yaml': 'name: t\nsource: { probe: { path: /s, password: "${env:ERP_PASSWORD:-hunter2}" } }\n' }, { ERP_PASSWORD: 'p' });
    expect(fallback.lines).toEqual([expect.stringMatching(/^f\.yaml:2:40: "password" is a secret: .*nor as a reference's default/)]);
    const unset = lint({ 'f.yaml': 'name: t\nsource: { probe: { path: /s, password: "${env:ERP_PASSWORD}" } }\n' });
    expect(unset.lines).toEqual(['f.yaml:2:40: environment variable ERP_PASSWORD is not set']);
  });

  it('refuses a password inside a URL at its file:line:col unless it is an environment reference (of its own, without a default)', () => {
    const amqp = lint({ 'f.yaml': 'name: t\nsource:\n  probe:\n    path: /s\n    url: "amqp://admin:hunter2@rabbit:5672"\n' });
    expect(amqp.lines).toEqual([expect.stringMatching(/^f\.yaml:5:10: "url" holds a password inside a URL \(scheme:\/\/user:password@host\): take it from the environment/)]);
    const https = lint({ 'f.yaml': 'name: t\nsource: { probe: { path: /s, url: "https://user:pa55word@api.example/v1" } }\n' });
    expect(https.lines).toEqual([expect.stringMatching(/^f\.yaml:2:35: "url" holds a password inside a URL/)]);
    const fallback = lint({ 'f.yaml': 'name: t\nsource: { probe: { path: /s, url: "amqp://admin:${env:RABBIT_PASSWORD:-hunter2}@rabbit" } }\n' }, { RABBIT_PASSWORD: 'p' });
    expect(fallback.lines).toEqual([expect.stringMatching(/^f\.yaml:2:35: "url" holds a password inside a URL.*nor as a reference's default/)]);
    // A reference for the password, or for the whole URL, is how it is done; a user without a password is no secret.
    expect(lint({ 'f.yaml': 'name: t\nsource: { probe: { path: /s, url: "amqp://admin:${env:RABBIT_PASSWORD}@rabbit:5672" } }\n' }, { RABBIT_PASSWORD: 'p' }).lines).toEqual([]);
    expect(lint({ 'f.yaml': 'name: t\nsource: { probe: { path: /s, url: "${env:AMQP_URL}" } }\n' }, { AMQP_URL: 'amqp://a:b@rabbit' }).lines).toEqual([]);
    expect(lint({ 'f.yaml': 'name: t\nsource: { probe: { path: /s, url: "https://deploy@api.example/v1" } }\n' }).lines).toEqual([]);
  });

  it('reports two flows claiming one HTTP path, and two flows with one name', () => {
    const { result, lines } = lint({
      'a.yaml': 'name: a\nsource: { probe: { path: /same } }\n',
      'b.yaml': 'name: b\nsource: { probe: { path: /same } }\n',
      'c.yaml': 'name: a\nsource: { probe: { path: /other } }\n',
    });
    expect(lines).toEqual([
      expect.stringMatching(/^b\.yaml:2:26: http POST \/same is already claimed by flow "a" \(.*a\.yaml:2:26\)/),
      expect.stringMatching(/^c\.yaml:1:7: flow name "a" is already used by .*a\.yaml:1:7/),
    ]);
    expect(result.flows.map((f) => f.name)).toEqual(['a']);
  });

  it('keeps the hub\'s own paths (admin API, health, metrics) away from flows', () => {
    const { result, lines } = lint({ 'a.yaml': 'name: a\nsource: { probe: { path: /admin/api/messages } }\n', 'b.yaml': 'name: b\nsource: { probe: { path: /healthz } }\n', 'c.yaml': 'name: c\nsource: { probe: { path: /administration } }\n' });
    expect(lines).toEqual(['a.yaml:2:26: http POST /admin/api/messages: paths under /admin belong to the hub itself; choose another path', 'b.yaml:2:26: http POST /healthz: paths under /healthz belong to the hub itself; choose another path']);
    expect(result.flows.map((f) => f.name)).toEqual(['c']);
  });

  it('formats diagnostics as file:line:col: message, sorted', () => {
    const { result } = lint({ 'z.yaml': 'name: z\nsource: { probe: {} }\n', 'a.yaml': 'name: 1\nsource: { probe: { path: /q } }\n' });
    expect(formatDiagnostics(result.diagnostics).split('\n').map((l) => l.replace(/^.*\//, ''))).toEqual(['a.yaml:1:7: must be string', 'z.yaml:2:18: missing required key "path"']);
  });

  it('reads the journal policy and the error policy, with defaults', () => {
    const { result } = lint({ 'good.yaml': good, 'j.yaml': good.replace('name: good', 'name: j').replace('/a', '/j') + 'journal: { record: all, body_bytes: 100 }\nerrors:\n  durable: { attempts: 2, initial: 1s, max: 1m }\n  dead_letter: { sink: out }\n' });
    const [g, j] = result.flows;
    expect(g).toMatchObject({ journal: { record: 'failures', maxBodyBytes: 65536 }, durable: { attempts: 5, initialMs: 5000, maxMs: 600000 }, deadLetterSink: undefined });
    expect(j).toMatchObject({ journal: { record: 'all', maxBodyBytes: 100 }, durable: { attempts: 2, initialMs: 1000, maxMs: 60000 }, deadLetterSink: 'out' });
    expect(lint({ 'n.yaml': good + 'journal: none\n' }).result.flows[0]!.journal.record).toBe('none');
  });

  it('reports an unknown dead-letter sink and a bad journal policy; warns that a caller waiting for a reply owns its retries', () => {
    const { lines } = lint({ 'f.yaml': good + 'journal: sometimes\nerrors:\n  durable: { attempts: 1 }\n  dead_letter: { sink: nowhere }\n' });
    expect(lines).toEqual([
      expect.stringMatching(/^f\.yaml:10:10: invalid value; expected: Which messages the journal records/),
      'f.yaml:13:24: no sink named "nowhere" (sinks: out)',
      'f.yaml:12:3: the probe source waits for a reply, so its caller gets the error and owns the retry: `durable` has no effect (failures are still journalled)',
    ]);
  });
});
