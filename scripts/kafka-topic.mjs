#!/usr/bin/env node
// Creates a Kafka topic if it does not exist yet:  node scripts/kafka-topic.mjs NAME [PARTITIONS]
// (scripts/kafka.sh's broker does not create topics on first use.) KAFKA_BROKERS defaults to 127.0.0.1:19092.
import kafkajs from 'kafkajs';

const [name, partitions = '3'] = process.argv.slice(2);
if (!name) {
  console.error('usage: node scripts/kafka-topic.mjs NAME [PARTITIONS]');
  process.exit(2);
}
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const admin = new kafkajs.Kafka({ brokers, clientId: 'kafka-topic', logLevel: kafkajs.logLevel.NOTHING }).admin();
await admin.connect();
try {
  const created = await admin.createTopics({ topics: [{ topic: name, numPartitions: Number(partitions) }], waitForLeaders: true });
  console.log(created ? `created ${name} with ${partitions} partition(s)` : `${name} exists already`);
} finally {
  await admin.disconnect();
}
