import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real server processes; two cores cannot run many at once.
    maxWorkers: 2,
    // Each run's temporary files under one directory, removed at the end (test/support/global-setup.ts).
    globalSetup: ["test/support/global-setup.ts"],
  },
});
