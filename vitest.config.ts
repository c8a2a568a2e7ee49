import { defineConfig } from 'vitest/config';

const everywhere = ['src/**/*.test.ts', 'adapters/**/*.test.ts', 'test/**/*.test.ts'];
/**
 * Fault tests that stop and restart a shared broker (RabbitMQ, Kafka) or kill a hub under it. The journal's crash
 * and Redis-away tests kill only hubs (and a Redis) of their own, so they run with the rest.
 */
const brokerFaults = ['adapters/**/*.fault.test.ts', 'test/conformance/*.fault.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    // The built CLI that end-to-end tests run (rebuilt when stale), and a real Kafka broker for the whole run
    // (scripts/kafka.sh), shared by both projects.
    globalSetup: ['test/support/build-global-setup.ts', 'test/support/kafka-global-setup.ts'],
    // Vitest's worker count is per groupOrder (one less than the cores unless set: one, on the two-core CI machine).
    projects: [
      {
        extends: true,
        // Unit, adapter and end-to-end tests, two files at a time, each isolated by its own names, ports and folders.
        test: { name: 'main', include: everywhere, exclude: [...brokerFaults, 'node_modules/**'], maxWorkers: 2, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        // Broker faults, after everything else, so they never disturb another test: two files at a time, each holding
        // the lock of the broker it stops (test/support/broker-lock.ts), so a RabbitMQ and a Kafka fault go side by side.
        test: { name: 'faults', include: brokerFaults, maxWorkers: 2, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
