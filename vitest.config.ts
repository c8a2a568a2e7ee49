import { defineConfig } from 'vitest/config';

const everywhere = ['src/**/*.test.ts', 'adapters/**/*.test.ts', 'test/**/*.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    // The built CLI that end-to-end tests run (rebuilt when stale), and a real Kafka broker for the whole run
    // (scripts/kafka.sh), shared by both projects.
    globalSetup: ['test/support/build-global-setup.ts', 'test/support/kafka-global-setup.ts'],
    projects: [
      {
        extends: true,
        // Unit, adapter and end-to-end tests: in parallel, each isolated by its own names, ports and folders.
        test: { name: 'main', include: everywhere, exclude: ['**/*.fault.test.ts', 'node_modules/**'], sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        // Fault tests stop and restart shared brokers (RabbitMQ, Redis, Kafka) or kill the hub: one file at a time,
        // after everything else, so they never disturb another test.
        test: { name: 'faults', include: everywhere.map((p) => p.replace('*.test.ts', '*.fault.test.ts')), fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
