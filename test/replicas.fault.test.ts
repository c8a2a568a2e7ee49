/**
 * Scale-out (issue 17, item 4): three hub replicas, each a process of its own, running the flows of
 * test/fixtures/replicas/ on one Redis journal, one Kafka consumer group (6 partitions) and one RabbitMQ queue, under
 * load; one replica killed with -9, then another, then a new one joining. Checked: nothing lost on either broker;
 * each durable retry runs once (the retry poller of exactly one replica claims it); one order id sent to two
 * replicas at the same moment reaches the peer once (dedupe reserves the key in the journal as the order arrives).
 * Duplicates are allowed (at least once) and reported with the other figures.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { Peer } from './support/journal-faults.js';
import { kill9, untilReady } from './support/processes.js';
import { ids, listeningAfter, ReplicaRig, until } from './support/replicas.js';

/** Published on each broker all along the kills: a batch every 50 ms for LOAD_MS. */
const BATCH = 5;
const LOAD_MS = 7_000;

describe('three replicas on one journal, one consumer group, one queue', () => {
  it('lose nothing when two are killed with -9 and a new one joins under load; a durable retry runs once; dedupe holds across replicas', async () => {
    // r-: the first two tries fail (503), so each waits for one durable retry; everything else is accepted.
    const peer = new Peer((id, tryNo) => (id.startsWith('r-') && tryNo <= 2 ? 503 : 200), 20);
    const rig = new ReplicaRig('replicas', peer);
    const started = Date.now();
    const phases: Record<string, number> = {};
    let mark = started;
    const phase = (name: string): void => {
      phases[name] = Date.now() - mark;
      mark = Date.now();
    };
    try {
      await rig.open(6);
      const [a, b, c] = await Promise.all([rig.start(), rig.start(), rig.start()]);
      const listening = [a!, b!, c!].map((hub) => listeningAfter(hub, mark));
      phase('start');

      // Dedupe: each order id posted to two replicas at the same moment.
      const orders = ids('d', rig.run, 20);
      const answers = await Promise.all(
        orders.flatMap((id) =>
          [a!, b!].map((hub) => request(`${hub.url}/replicas/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id }) }).then(async (r) => (await r.body.text(), r.statusCode))),
        ),
      );
      expect(answers.every((s) => s >= 200 && s < 300)).toBe(true);
      await sleep(300);
      expect(rig.tally(orders)).toEqual({ sent: 20, delivered: 20, duplicated: 0, lost: 0 });
      for (const id of orders) expect(peer.tries.get(id)).toBe(1);
      phase('dedupe');

      // Durable retries, three replicas polling one journal: each message's retry runs once (three tries in all).
      const retried = ids('r', rig.run, 20);
      await rig.publish(retried);
      await until('every r- message is accepted after its durable retry', () => retried.every((id) => peer.accepted.has(id)), 20_000);
      await sleep(500);
      expect(retried.map((id) => peer.tries.get(id))).toEqual(retried.map(() => 3));
      expect(rig.tally(retried).duplicated).toBe(0);
      phase('retries');

      // Load on both brokers, with two kills and a new replica.
      const kafkaIds: string[] = [];
      const amqpIds: string[] = [];
      let publishing = true;
      const publisher = (async () => {
        for (let n = 0; publishing; n += BATCH) {
          const k = ids('k', rig.run, BATCH, n);
          const q = ids('a', rig.run, BATCH, n);
          await Promise.all([rig.produce(k), rig.publish(q)]);
          kafkaIds.push(...k);
          amqpIds.push(...q);
          await sleep(50);
        }
      })();
      const loadStart = Date.now();
      await sleep(1_500);
      const inFlightAtFirstKill = peer.open;
      await kill9(a!);
      await sleep(2_000);
      const inFlightAtSecondKill = peer.open;
      await kill9(b!);
      await sleep(1_000);
      // It joins while the load goes on; whether it became ready is checked at the end.
      const d = await rig.start({ waitReady: false });
      await sleep(Math.max(0, LOAD_MS - (Date.now() - loadStart)));
      publishing = false;
      await publisher;
      phase('load');
      await until('every message of the load is accepted', () => [...kafkaIds, ...amqpIds].every((id) => peer.accepted.has(id)), 30_000);
      phase('drain');

      const kafka = rig.tally(kafkaIds);
      const amqp = rig.tally(amqpIds);
      console.log(
        `replicas: ${JSON.stringify({ kafka, amqp, dedupe: rig.tally(orders), durableRetries: { messages: retried.length, triesEach: 3 }, inFlightAtKills: [inFlightAtFirstKill, inFlightAtSecondKill], phases, listening, seconds: Math.round((Date.now() - started) / 1000) })}`,
      );
      expect(kafka.lost).toBe(0);
      expect(amqp.lost).toBe(0);
      // The survivors keep serving: both the old and the new replica are ready at the end.
      await Promise.all([c!, d].map((hub) => untilReady(hub, 15_000)));
    } finally {
      await rig.close();
    }
  }, 100_000);
});
