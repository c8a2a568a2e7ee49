import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { builtinRegistry } from '../builtins.js';
import { main } from '../cli/main.js';
import { formatDiagnostics, loadFlows } from './load-flows.js';
import { PROJECT_ROOT } from './paths.js';
import { MessageSchemas } from './schema-validator.js';
import { formatOwnership, ownershipOf } from '../mesh/lint.js';

const root = mkdtempSync(join(tmpdir(), 'hub-mesh-lint-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** A REST flow calling one HTTP sink (and a Kafka one with `kafka`), with the given extra YAML at the end. */
function flowFile(extra: string, opts: { source?: string; kafka?: boolean } = {}): string {
  const file = join(root, `flow-${++n}.yaml`);
  const source = opts.source ?? 'rest: { method: POST, path: /lint-' + n + ' }';
  writeFileSync(
    file,
    `name: lint-${n}
source:
  ${source}
steps:
  - to: erp
sinks:
  erp:
    rest: { url: "http://erp.example.com:8089/orders", timeout: 5s }
${opts.kafka ? '  events:\n    kafka: { brokers: "kafka:9092", topic: orders }\n' : ''}${extra}`,
  );
  return file;
}

function lint(file: string): { text: string; errors: string[]; warnings: string[]; flows: ReturnType<typeof loadFlows>['flows'] } {
  const r = loadFlows([file], { registry: builtinRegistry(), schemas: new MessageSchemas(root), logger: pino({ level: 'silent' }), limits: { bodyBytes: 1 << 20, maxDepth: 64 }, mode: 'validate' });
  const text = formatDiagnostics(r.diagnostics);
  return { text, errors: r.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.line}:${d.col} ${d.message}`), warnings: r.diagnostics.filter((d) => d.severity === 'warning').map((d) => `${d.line}:${d.col} ${d.message}`), flows: r.flows };
}

describe('service.resilience: contradictions are errors at line:col', () => {
  it('retries given while the hub owns them', () => {
    const { errors } = lint(flowFile('service:\n  resilience:\n    owner: hub\n    retries: { attempts: 3 }\n'));
    expect(errors).toEqual([expect.stringMatching(/^12:14 the hub owns retries \(errors\.retry: 3 tries of a sink call\), and resilience\.retries are the mesh's/)]);
  });

  it('per_try_timeout x attempts longer than the timeout', () => {
    const { errors } = lint(flowFile('service:\n  resilience:\n    owner: mesh\n    timeout: 2s\n    retries: { attempts: 3, per_try_timeout: 1s }\n'));
    expect(errors).toEqual([expect.stringMatching(/^13:46 3 tries of 1s each take up to 3s, longer than resilience\.timeout 2s/)]);
  });

  it('a timeout longer than the flow\'s own (the hub cuts every message there)', () => {
    const { errors } = lint(flowFile('timeout: 5s\nservice:\n  resilience: { timeout: 8s }\n'));
    expect(errors).toEqual([expect.stringMatching(/^11:26 resilience\.timeout 8s is longer than the flow's timeout 5s/)]);
  });

  it('a request-reply flow whose hub retries need more than the timeout', () => {
    const { errors } = lint(flowFile('errors:\n  retry: { attempts: 5, backoff: fixed, initial: 1s }\nservice:\n  resilience: { timeout: 3s }\n'));
    expect(errors).toEqual([expect.stringMatching(/^12:26 resilience\.timeout 3s is shorter than the 4s the hub's 5 tries of a sink call \(errors\.retry\) wait in backoff alone/)]);
  });

  it('the mesh asked to own a concern of a flow it sees only as TCP', () => {
    const file = join(root, 'tcp-only.yaml');
    writeFileSync(file, `name: tcp-only
source:
  kafka: { brokers: "kafka:9092", topic: in, group_id: g }
steps:
  - to: out
sinks:
  out:
    amqp: { url: "amqp://rabbitmq:5672", exchange: out }
service:
  resilience:
    owner: { retries: mesh, timeouts: hub }
`);
    const { errors } = lint(file);
    expect(errors).toEqual([expect.stringMatching(/^11:23 the mesh cannot own retries of flow "tcp-only": none of its hops is HTTP/)]);
  });

  it('a connection pool while the hub owns circuit breaking; a retry condition Istio does not know', () => {
    const { errors } = lint(flowFile('service:\n  resilience:\n    owner: { retries: mesh }\n    retries: { retry_on: [5xx, sometimes] }\n    connection_pool: { max_connections: 10 }\n'));
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/^12:32 invalid value/);
    expect(errors[1]).toMatch(/^13:22 the hub owns circuit breaking, and connection_pool is the mesh's: the hub's bulkhead is the flow's concurrency \(32\) and queue \(1000\)/);
  });

  it('`hub validate`, `hub mesh lint` and `hub run` refuse such a flow with a non-zero exit', async () => {
    const file = flowFile('service:\n  resilience: { retries: { attempts: 2 } }\n');
    const errs: string[] = [];
    expect(await main(['validate', file], () => {}, (s) => errs.push(s))).toBe(1);
    expect(await main(['mesh', 'lint', file], () => {}, (s) => errs.push(s))).toBe(1);
    expect(await main(['run', '--flows', file, '--port', '0', '--log-level', 'silent'], () => {}, (s) => errs.push(s))).toBe(1);
    expect(errs.join('\n')).toMatch(/flow-\d+\.yaml:10:26: the hub owns retries/);
  });
});

describe('hub mesh lint: who owns what on each hop', () => {
  it('the hub owning everything: no mesh retries, the hub\'s numbers, the breaker per sink', () => {
    const { flows, errors, warnings } = lint(flowFile('timeout: 10s\nservice:\n  resilience: { timeout: 4s, circuit_breaker: { consecutive_errors: 3, ejection_time: 20s } }\n', { kafka: true }));
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    expect(flows[0]!.timeoutMs).toBe(4000);
    const o = ownershipOf(flows[0]!)!;
    expect(o.hops.map((h) => [h.hop, h.retries.owner, h.timeouts.owner, h.circuit_breaking.owner])).toEqual([
      ['inbound', 'none', 'hub', 'hub'],
      ['sink erp', 'hub', 'hub', 'hub'],
      ['sink events', 'hub', 'hub', 'hub'],
    ]);
    expect(o.hops[1]!.circuit_breaking.detail).toBe('opens after 3 failures, probe after 20s');
    expect(o.hops[1]!.timeouts.detail).toBe('5s per try');
  });

  it('the mesh owning retries: stacked on the hub\'s, multiplied by the re-run of a request-reply flow, warned; TCP hops stay the hub\'s', () => {
    const { flows, errors, warnings } = lint(flowFile('errors:\n  retry: { attempts: 3 }\nservice:\n  resilience:\n    owner: mesh\n    timeout: 9s\n    retries: { attempts: 3, per_try_timeout: 3s }\n    circuit_breaker: { consecutive_errors: 5 }\n', { kafka: true }));
    expect(errors).toEqual([]);
    expect(warnings).toEqual([
      expect.stringMatching(/^7:3 retries stacked on sink "erp": flow re-run 3 x hub 3 x mesh 3 = up to 27 calls per message/),
      expect.stringMatching(/^9:3 retries stacked on sink "events": flow re-run 3 x hub 3 = up to 9 calls per message/),
    ]);
    const o = ownershipOf(flows[0]!)!;
    expect(o.hops.map((h) => [h.hop, h.retries.owner, h.timeouts.owner, h.circuit_breaking.owner, h.calls_per_message])).toEqual([
      ['inbound', 'mesh', 'mesh', 'mesh', undefined],
      ['sink erp', 'both', 'mesh', 'mesh', 27],
      ['sink events', 'both', 'hub', 'hub', 9],
    ]);
    expect(o.hops[0]!.retries.detail).toBe('3 tries of 3s on 5xx,reset,connect-failure,refused-stream');
    expect(o.hops[2]!.circuit_breaking.detail).toMatch(/\(TCP: not the mesh's\)$/);
    const table = formatOwnership(o);
    expect(table).toContain('sink erp (rest, http)');
    expect(table).toContain('BOTH: flow re-run 3 x hub 3 x mesh 3 = up to 27 calls per message');
  });

  it('a mesh timeout per try longer than the hub\'s own sink timeout: the hub cuts first (warned)', () => {
    const { warnings } = lint(flowFile('errors:\n  retry: { attempts: 1 }\nservice:\n  resilience: { owner: { timeouts: mesh }, timeout: 8s }\n'));
    expect(warnings).toEqual([expect.stringMatching(/timeouts stacked on sink "erp": mesh 8s per try, but the hub's 5s per try cuts first/)]);
  });

  it('an https sink is TLS the hub speaks itself: the mesh sees TCP', () => {
    const file = flowFile('errors:\n  retry: { attempts: 1 }\nservice:\n  resilience: { owner: mesh }\n');
    const text = readFileSync(file, 'utf8').replace('http://erp.example.com:8089', 'https://erp.example.com');
    writeFileSync(file, text);
    const o = ownershipOf(lint(file).flows[0]!)!;
    expect(o.hops[1]).toMatchObject({ transport: 'tcp', retries: { owner: 'mesh', detail: 'flow re-run 3: up to 3 calls per message' }, timeouts: { owner: 'hub' } });
  });
});

describe('docs/hub-and-mesh.md', () => {
  it('shows `hub mesh lint` of an example flow as it prints', async () => {
    const lines: string[] = [];
    expect(await main(['mesh', 'lint', join(PROJECT_ROOT, 'flows', 'order-status-api.yaml')], (x) => lines.push(x), () => {})).toBe(0);
    const readme = readFileSync(join(PROJECT_ROOT, 'docs', 'hub-and-mesh.md'), 'utf8');
    expect(readme).toContain('$ hub mesh lint flows/order-status-api.yaml\n' + lines.join('\n') + '\n```');
  });
});
