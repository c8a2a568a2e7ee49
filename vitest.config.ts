import { defineConfig } from 'vitest/config';

const everywhere = ['src/**/*.test.ts', 'adapters/**/*.test.ts', 'test/**/*.test.ts'];
const faults = everywhere.map((p) => p.replace('*.test.ts', '*.fault.test.ts'));
/** Fault tests that stop and restart the Kafka broker, and only that. */
const kafkaFaults = ['adapters/kafka/**/*.fault.test.ts', 'test/conformance/conformance-kafka.fault.test.ts'];
/** Fault tests that kill only hubs (and a Redis) of their own: they disturb no other test. */
const ownFaults = ['test/journal-crash.fault.test.ts', 'test/journal-redis-away.fault.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    // The built CLI that end-to-end tests run (rebuilt when stale), and a real Kafka broker for the whole run
    // (scripts/kafka.sh), shared by every project.
    globalSetup: ['test/support/build-global-setup.ts', 'test/support/kafka-global-setup.ts'],
    // Projects of one groupOrder run side by side, groups one after the other. Vitest's default is one worker less
    // than the cores (one, on the two-core CI machine), so each project says how many it runs.
    projects: [
      {
        extends: true,
        // Unit, adapter and end-to-end tests, two files at a time, each isolated by its own names, ports and folders.
        test: { name: 'main', include: everywhere, exclude: [...faults, 'node_modules/**'], maxWorkers: 2, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        // The hub killed with -9 under load, and a Redis of the test's own stopped: beside the main tests, one file
        // at a time (each is heavy).
        test: { name: 'faults-own', include: ownFaults, maxWorkers: 1, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        // Stop and restart RabbitMQ (or the hub under it): after everything else, one file at a time.
        test: { name: 'faults-rabbitmq', include: faults, exclude: [...kafkaFaults, ...ownFaults, 'node_modules/**'], maxWorkers: 1, sequence: { groupOrder: 1 } },
      },
      {
        extends: true,
        // Stop and restart the Kafka broker: after everything else, one file at a time, beside the RabbitMQ lane.
        test: { name: 'faults-kafka', include: kafkaFaults, maxWorkers: 1, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
