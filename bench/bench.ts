/**
 * `npm run bench` (scripts/bench.sh): the hub against hand-written pipes, in one process, on loopback.
 *
 *   1. AMQP -> transform -> Kafka   (bench/amqp-to-kafka.ts)
 *   2. Kafka -> AMQP                (bench/kafka-to-amqp.ts)
 *
 * Each pipe gets a warm-up round, then the pipes take turns for BENCH_ROUNDS measured rounds; every round uses fresh
 * queues, topics and groups and deletes them afterwards. Throughput is messages per second from the first send to
 * the last receive; latency is receive time minus send time, p50 and p99; the table shows the median of the rounds.
 */
import { cpus, freemem, totalmem } from 'node:os';
import amqp from 'amqplib';
import { roundAmqpToKafka, RAW_DESCRIPTION as RAW1 } from './amqp-to-kafka.js';
import { fmt, kafkaClient, median, SETTINGS, type RoundResult } from './common.js';
import { installAmqpTrace, installTrace } from './trace.js';
import { installWhatIf } from './whatif.js';
import { roundKafkaToAmqp, RAW_DESCRIPTION as RAW2, STRICT_DESCRIPTION } from './kafka-to-amqp.js';

const TARGET = 0.8;
/** Rounds that would start after this are skipped (and said so): the bench stays within about five minutes. */
const BUDGET_MS = Number(process.env.BENCH_BUDGET_MS ?? 270_000);
const began = Date.now();
let problems = 0;

function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

async function main(): Promise<void> {
  installTrace();
  const whatIf = installWhatIf();
  const hardStop = setTimeout(() => {
    out('bench: hard time limit (330 s) reached; exiting');
    process.exit(2);
  }, 330_000);

  const admin = kafkaClient('bench-admin').admin();
  await admin.connect();
  const amqpConn = await amqp.connect(SETTINGS.amqpUrl);
  amqpConn.on('error', () => {});
  await installAmqpTrace(amqpConn);

  const cluster = await admin.describeCluster();
  const server = (amqpConn.connection as unknown as { serverProperties?: { product?: string; version?: string } }).serverProperties;
  const cpu = cpus();
  out('integration-hub benchmark: the hub against hand-written pipes');
  out(`machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM (${(freemem() / 2 ** 30).toFixed(1)} free), ${process.platform} ${process.arch}`);
  out(`node ${process.version}; RabbitMQ ${server?.version ?? '?'} at ${SETTINGS.amqpUrl.replace(/\/\/[^@]*@/, '//')}; Kafka at ${SETTINGS.kafkaBrokers.join(',')} (${cluster.brokers.length} broker)`);
  out(`brokers, load generators, readers and pipes all on this machine (loopback); pipes and load share one Node process`);
  if (whatIf.length) out(`EXPERIMENT (BENCH_WHATIF): ${whatIf.join('; ')}: these figures are NOT the hub as shipped`);
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
        (pipe, n) => roundAmqpToKafka(pipe as 'raw' | 'hub', n, admin, amqpConn),
      );
    }
    if (SETTINGS.scenarios.includes('2')) {
      await scenario(
        'Scenario 2: Kafka -> AMQP',
        [
          `load: kafkajs producer, acks=-1, requests of 500 records, fresh topic with ${SETTINGS.partitions} partitions`,
          `hub:  kafka source (ordered per partition, max_in_flight 16) -> amqp sink (confirms, persistent, mandatory)`,
          RAW2.replaceAll('P', String(SETTINGS.partitions)),
          STRICT_DESCRIPTION.replaceAll('P', String(SETTINGS.partitions)),
          'output: amqplib consumer (no-ack) on a fresh queue bound to a fresh topic exchange',
        ],
        ['raw', 'hub', 'strict'],
        (pipe, n) => roundKafkaToAmqp(pipe as 'raw' | 'hub' | 'strict', n, admin, amqpConn),
      );
    }
  } finally {
    clearTimeout(hardStop);
    await admin.disconnect().catch(() => {});
    await amqpConn.close().catch(() => {});
  }
  out(`total time ${((Date.now() - began) / 1000).toFixed(0)} s`);
}

async function scenario(title: string, notes: string[], allPipes: string[], round: (pipe: string, n: number) => Promise<RoundResult>): Promise<void> {
  const pipes = allPipes.filter((p) => SETTINGS.pipes.includes(p));
  out(`== ${title}`);
  for (const note of notes) out(`   ${note}`);
  const results = new Map<string, RoundResult[]>(pipes.map((p) => [p, []]));
  const plan: { pipe: string; n: number; warmup: boolean; index: number }[] = [];
  for (const pipe of pipes) plan.push({ pipe, n: SETTINGS.warmupN, warmup: true, index: 0 });
  for (let r = 1; r <= SETTINGS.rounds; r++) for (const pipe of pipes) plan.push({ pipe, n: SETTINGS.n, warmup: false, index: r });
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
      `   ${label.padEnd(16)} ${fmt(r.throughput).padStart(7)} msgs/s  p50 ${fmt(r.p50, 1).padStart(7)} ms  p99 ${fmt(r.p99, 1).padStart(7)} ms  ` +
        `(node CPU ${fmt(r.cpuUsPerMsg)} µs/msg, event loop ${fmt(r.elu * 100)}% busy; load sent at ${fmt(r.sendRate)}/s; ${fmt(r.received)}/${fmt(r.n)} received${r.duplicates ? `, ${r.duplicates} duplicates` : ''}${r.complete ? '' : ', TIMED OUT'}; send time from ${r.fromHeader === r.received ? 'header' : r.fromHeader === 0 ? 'load table (header not carried)' : 'header and load table'})`,
    );
    if (r.trace) out(`   ${''.padEnd(16)} trace: ${r.trace}`);
    if (!step.warmup) results.get(step.pipe)!.push(r);
  }
  out();
  out(`   ${'pipe'.padEnd(8)} ${'msgs/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}   rounds (msgs/s)`);
  const summary = new Map<string, { tput: number; p50: number; p99: number }>();
  for (const pipe of pipes) {
    const rs = results.get(pipe)!;
    const s = { tput: median(rs.map((r) => r.throughput)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)) };
    summary.set(pipe, s);
    out(`   ${pipe.padEnd(8)} ${fmt(s.tput).padStart(8)} ${fmt(s.p50, 1).padStart(8)} ${fmt(s.p99, 1).padStart(8)}   ${rs.map((r) => fmt(r.throughput)).join(' / ') || 'none'}`);
  }
  const raw = summary.get('raw');
  const hub = summary.get('hub');
  if (raw && hub) {
    const ratio = hub.tput / raw.tput;
    out(`   hub/raw throughput: ${Number.isFinite(ratio) ? ratio.toFixed(2) : 'n/a'}  ${Number.isFinite(ratio) && ratio >= TARGET ? 'PASS' : 'BELOW TARGET'} (target >= ${TARGET.toFixed(2)})`);
  }
  const strict = summary.get('strict');
  if (strict && hub) out(`   hub/strict throughput: ${(hub.tput / strict.tput).toFixed(2)} (for reference: the same one-in-flight-per-partition discipline, by hand)`);
  out();
}

main().then(
  () => process.exit(problems > 0 ? 1 : 0),
  (err: unknown) => {
    out(`bench: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
