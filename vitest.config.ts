import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // builds the phone app for the browser tests when its sources changed
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // MQTT suites start brokers and fleets; two cores, so keep workers few.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
