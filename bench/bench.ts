/**
 * `npm run bench` (scripts/bench.sh): the hub against hand-written pipes, in one process, on loopback.
 *
 *   1. AMQP -> transform -> Kafka   (bench/amqp-to-kafka.ts)
 *   2. Kafka -> AMQP                (bench/kafka-to-amqp.ts)
 *   3. scenario 1's hub pipe with `journal: none`, `failures` and `all` (and `all` on Redis with REDIS_URL), as
 *      ratios to `none`: what the journal costs
 *   4. REST -> JSONata -> REST, request-reply: the hub against a hand-written pipe and Node-RED
 *   5. SOAP -> xml_to_json -> JSONata -> REST -> SOAP reply: the hub against a hand-written pipe
 *      (4 and 5: bench/request-reply/, each pipe a process of its own)
 *
 * Each pipe gets a warm-up round, then the pipes take turns for BENCH_ROUNDS measured rounds (in scenario 3 each
 * round starts one pipe further on, so that no policy always follows the same one); every round uses fresh
 * queues, topics and groups and deletes them afterwards. Throughput is messages per second from the first send to
 * the last receive; latency is receive time minus send time, p50 and p99; the table shows the median of the rounds.
 */
import { cpus, freemem, tmpdir, totalmem } from 'node:os';
import amqp, { type ChannelModel } from 'amqplib';
import { roundAmqpToKafka, RAW_DESCRIPTION as RAW1, type HubVariant } from './amqp-to-kafka.js';
import { fmt, kafkaClient, median, SETTINGS, type RoundResult } from './common.js';
import { installAmqpTrace, installTrace } from './trace.js';
import { roundKafkaToAmqp, RAW_DESCRIPTION as RAW2, STRICT_DESCRIPTION } from './kafka-to-amqp.js';
import { RR, scenario4, scenario5 } from './request-reply/scenarios.js';

const TARGET = 0.8;
/** Scenario 3: `journal: failures` (the default) may cost less than 10% of the throughput of `none` when nothing fails. */
const FAILURES_TARGET = 0.9;
/** Broker rounds (scenarios 1-3) that would start after this are skipped (and said so): the bench stays within about five minutes. */
const BUDGET_MS = Number(process.env.BENCH_BUDGET_MS ?? 120_000);
/** Scenarios 1-3 need RabbitMQ and Kafka; 4 and 5 only loopback HTTP. */
const BROKERS = SETTINGS.scenarios.some((s) => ['1', '2', '3'].includes(s));
const began = Date.now();
let problems = 0;

function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

async function main(): Promise<void> {
  installTrace();
  const soak = process.env.BENCH_SOAK === '1' ? RR.soakSeconds * 2 : 0;
  const limit = Number(process.env.BENCH_HARD_LIMIT_S ?? 330) + soak;
  const hardStop = setTimeout(() => {
    out(`bench: hard time limit (${limit} s) reached; exiting`);
    process.exit(2);
  }, limit * 1000);

  const cpu = cpus();
  out('integration-hub benchmark: the hub against hand-written pipes');
  out(`machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM (${(freemem() / 2 ** 30).toFixed(1)} free), ${process.platform} ${process.arch}; node ${process.version}`);
  out(`scenarios ${SETTINGS.scenarios.join(',')} (BENCH_SCENARIOS); everything on this machine, over loopback`);
  out();
  try {
    if (BROKERS) await brokerScenarios();
    if (SETTINGS.scenarios.includes('4') && !(await scenario4(out))) problems++;
    if (SETTINGS.scenarios.includes('5') && !(await scenario5(out))) problems++;
  } finally {
    clearTimeout(hardStop);
  }
  out(`total time ${((Date.now() - began) / 1000).toFixed(0)} s`);
}

/** Scenarios 1-3: RabbitMQ and Kafka, pipes and load in this process. */
async function brokerScenarios(): Promise<void> {
  const admin = kafkaClient('bench-admin').admin();
  await admin.connect();
  // The load generator's connection; made again before a round if the broker closed it (RabbitMQ is shared with
  // test runs that restart it), so that one restart costs one round, not every round after it.
  const connectLoad = async (): Promise<ChannelModel> => {
    const conn = await amqp.connect(SETTINGS.amqpUrl);
    conn.on('error', () => {});
    conn.on('close', () => (loadClosed = true));
    loadClosed = false;
    return conn;
  };
  let loadClosed = false;
  let amqpConn = await connectLoad();
  const load = async (): Promise<ChannelModel> => (loadClosed ? (amqpConn = await connectLoad()) : amqpConn);
  await installAmqpTrace(amqpConn);

  const cluster = await admin.describeCluster();
  const server = (amqpConn.connection as unknown as { serverProperties?: { product?: string; version?: string } }).serverProperties;
  out(`RabbitMQ ${server?.version ?? '?'} at ${SETTINGS.amqpUrl.replace(/\/\/[^@]*@/, '//')}; Kafka at ${SETTINGS.kafkaBrokers.join(',')} (${cluster.brokers.length} broker)`);
  out(`scenarios 1-3: brokers, load generators, readers and pipes all on this machine (loopback); pipes and load share one Node process`);
  out(`per round: ${fmt(SETTINGS.n)} messages of ~${SETTINGS.bodyBytes} B (warm-up ${fmt(SETTINGS.warmupN)}); ${SETTINGS.rounds} measured rounds per pipe, median shown`);
  out();

  try {
    if (SETTINGS.scenarios.includes('1')) {
      await scenario(
        'Scenario 1: AMQP -> transform (JSONata / plain JS) -> Kafka',
        [
          `load: amqplib publisher, confirm channel, <=1000 unconfirmed, persistent, to a fresh durable queue`,
          `hub:  amqp source (prefetch ${SETTINGS.prefetch}, concurrency ${SETTINGS.prefetch}) -> transform (JSONata) -> kafka sink (acks=all, idempotent, linger 5ms, batch_size 200)`,
          RAW1.replaceAll('P', String(SETTINGS.prefetch)),
          `output: kafkajs consumer on a fresh topic with ${SETTINGS.partitions} partitions`,
        ],
        ['raw', 'hub'],
        async (pipe, n) => roundAmqpToKafka(pipe as 'raw' | 'hub', n, admin, await load()),
      );
    }
    if (SETTINGS.scenarios.includes('2')) {
      await scenario(
        'Scenario 2: Kafka -> AMQP',
        [
          `load: kafkajs producer, acks=-1, requests of 500 records, fresh topic with ${SETTINGS.partitions} partitions`,
          `hub:  kafka source (ordered per partition, pipelined, max_in_flight ${SETTINGS.prefetch}, concurrency ${SETTINGS.prefetch}) -> amqp sink (confirms, persistent, mandatory)`,
          RAW2.replaceAll('P', String(SETTINGS.partitions)),
          STRICT_DESCRIPTION.replaceAll('P', String(SETTINGS.partitions)),
          'output: amqplib consumer (no-ack) on a fresh queue bound to a fresh topic exchange',
        ],
        ['raw', 'hub', 'strict'],
        async (pipe, n) => roundKafkaToAmqp(pipe as 'raw' | 'hub' | 'strict', n, admin, await load()),
      );
    }
    if (SETTINGS.scenarios.includes('3')) {
      const variants = new Map<string, HubVariant>([
        ['none', { journal: 'none' }],
        ['failures', { journal: 'failures' }],
        ['all', { journal: 'all' }],
      ]);
      if (SETTINGS.redisUrl) variants.set('all-redis', { journal: 'all', redisUrl: SETTINGS.redisUrl });
      await scenario(
        'Scenario 3: the journal, scenario 1\'s hub pipe with journal none / failures / all',
        [
          `each pipe is scenario 1's hub pipe (load, flow and output as there), its flow with \`journal: <pipe>\`; nothing fails, so \`failures\` writes nothing`,
          `(its success path is \`none\`'s: both note the message's events in memory and drop them when it is delivered)`,
          `journal: embedded (append-only log, group-committed fdatasync) in a temp folder on ${tmpdir()}; all-redis: ${SETTINGS.redisUrl ? `Redis at ${SETTINGS.redisUrl.replace(/\/\/[^@]*@/, '//')}, a fresh key prefix per round, deleted after` : 'not run (set REDIS_URL to add it)'}`,
          `each round starts one pipe further on; a ratio to \`none\` is the median over the rounds of the ratio to \`none\` in the same round`,
          `CPU µs/msg: this whole process (hub, load generator, reader) per message; a difference between pipes is the hub's, and its ratio understates it`,
        ],
        [...variants.keys()],
        async (pipe, n) => roundAmqpToKafka('hub', n, admin, await load(), variants.get(pipe)!),
        { baseline: 'none', rotate: true, target: { pipe: 'failures', ratio: FAILURES_TARGET } },
      );
    }
  } finally {
    await admin.disconnect().catch(() => {});
    await amqpConn.close().catch(() => {});
  }
}

interface ScenarioOptions {
  /** Print every pipe's figures as ratios to this pipe's. */
  baseline?: string;
  /** Start each measured round one pipe further on. */
  rotate?: boolean;
  /** The throughput ratio to the baseline this pipe must reach. */
  target?: { pipe: string; ratio: number };
}

async function scenario(title: string, notes: string[], allPipes: string[], round: (pipe: string, n: number) => Promise<RoundResult>, options: ScenarioOptions = {}): Promise<void> {
  const pipes = allPipes.filter((p) => SETTINGS.pipes?.includes(p) ?? true);
  const width = Math.max(8, ...pipes.map((p) => p.length));
  out(`== ${title}`);
  for (const note of notes) out(`   ${note}`);
  /** Each pipe's measured rounds by round number. */
  const results = new Map<string, Map<number, RoundResult>>(pipes.map((p) => [p, new Map()]));
  const plan: { pipe: string; n: number; warmup: boolean; index: number }[] = [];
  for (const pipe of pipes) plan.push({ pipe, n: SETTINGS.warmupN, warmup: true, index: 0 });
  for (let r = 1; r <= SETTINGS.rounds; r++) {
    const shift = options.rotate ? (r - 1) % pipes.length : 0;
    for (const pipe of [...pipes.slice(shift), ...pipes.slice(0, shift)]) plan.push({ pipe, n: SETTINGS.n, warmup: false, index: r });
  }
  for (const step of plan) {
    const label = step.warmup ? `warm-up ${step.pipe}` : `round ${step.index} ${step.pipe}`;
    if (Date.now() - began > BUDGET_MS) {
      out(`   ${label}: skipped, the bench's time budget is used up`);
      problems++;
      continue;
    }
    let r: RoundResult;
    try {
      r = await round(step.pipe, step.n);
    } catch (err) {
      problems++;
      out(`   ${label}: FAILED: ${(err as Error).message}`);
      continue;
    }
    if (!r.complete) problems++;
    out(
      `   ${label.padEnd(width + 8)} ${fmt(r.throughput).padStart(7)} msgs/s  p50 ${fmt(r.p50, 1).padStart(7)} ms  p99 ${fmt(r.p99, 1).padStart(7)} ms  ` +
        `(node CPU ${fmt(r.cpuUsPerMsg)} µs/msg, event loop ${fmt(r.elu * 100)}% busy; load sent at ${fmt(r.sendRate)}/s; ${fmt(r.received)}/${fmt(r.n)} received${r.duplicates ? `, ${r.duplicates} duplicates` : ''}${r.complete ? '' : ', TIMED OUT'}; send time from ${r.fromHeader === r.received ? 'header' : r.fromHeader === 0 ? 'load table (header not carried)' : 'header and load table'})`,
    );
    if (r.trace) out(`   ${''.padEnd(width + 8)} trace: ${r.trace}`);
    if (!step.warmup) results.get(step.pipe)!.set(step.index, r);
  }
  out();
  const base = options.baseline;
  const baseRounds = base ? results.get(base) : undefined;
  /** The median over rounds of `figure` of this pipe divided by the baseline's in the same round. */
  const paired = (pipe: string, figure: (r: RoundResult) => number): number =>
    median([...results.get(pipe)!].flatMap(([index, r]) => {
      const b = baseRounds?.get(index);
      return b ? [figure(r) / figure(b)] : [];
    }));
  const heads = base ? ` ${'CPU µs/msg'.padStart(11)}   ÷ ${base}: ${'msgs/s'.padStart(6)} ${'p50'.padStart(5)} ${'p99'.padStart(5)} ${'CPU'.padStart(5)}` : '';
  out(`   ${'pipe'.padEnd(width)} ${'msgs/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}${heads}   rounds (msgs/s${base ? `; ÷ ${base} in the same round` : ''})`);
  const summary = new Map<string, { tput: number; p50: number; p99: number }>();
  for (const pipe of pipes) {
    const rs = [...results.get(pipe)!.values()];
    const s = { tput: median(rs.map((r) => r.throughput)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)) };
    summary.set(pipe, s);
    let extra = '';
    if (base) {
      const ratios = [(r: RoundResult) => r.throughput, (r: RoundResult) => r.p50, (r: RoundResult) => r.p99, (r: RoundResult) => r.cpuUsPerMsg].map((f) => ratio(paired(pipe, f)).padStart(5));
      extra = ` ${fmt(median(rs.map((r) => r.cpuUsPerMsg))).padStart(11)}   ${''.padEnd(base.length + 3)}${ratios[0]!.padStart(6)} ${ratios.slice(1).join(' ')}`;
    }
    const rounds = [...results.get(pipe)!].map(([index, r]) => {
      const same = baseRounds?.get(index);
      return `${fmt(r.throughput)}${same && pipe !== base ? ` (${ratio(r.throughput / same.throughput)})` : ''}`;
    });
    out(`   ${pipe.padEnd(width)} ${fmt(s.tput).padStart(8)} ${fmt(s.p50, 1).padStart(8)} ${fmt(s.p99, 1).padStart(8)}${extra}   ${rounds.join(' / ') || 'none'}`);
  }
  const raw = summary.get('raw');
  const hub = summary.get('hub');
  if (raw && hub) {
    const r = hub.tput / raw.tput;
    out(`   hub/raw throughput: ${ratio(r)}  ${Number.isFinite(r) && r >= TARGET ? 'PASS' : 'BELOW TARGET'} (target >= ${TARGET.toFixed(2)})`);
  }
  const strict = summary.get('strict');
  if (strict && hub) out(`   hub/strict throughput: ${(hub.tput / strict.tput).toFixed(2)} (for reference: one record in flight per partition, by hand: the hub's discipline before pipelining)`);
  const target = options.target;
  if (target && base && results.has(target.pipe) && baseRounds) {
    const r = paired(target.pipe, (x) => x.throughput);
    out(`   ${target.pipe}/${base} throughput: ${ratio(r)}  ${Number.isFinite(r) && r >= target.ratio ? 'PASS' : 'BELOW TARGET'} (target >= ${target.ratio.toFixed(2)}; the median of the rounds' own ratios)`);
  }
  out();
}

function ratio(r: number): string {
  return Number.isFinite(r) ? r.toFixed(2) : 'n/a';
}

main().then(
  () => process.exit(problems > 0 ? 1 : 0),
  (err: unknown) => {
    out(`bench: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
