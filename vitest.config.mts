import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/globalSetup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Activity and host logs are useful when a test fails and noise when it passes.
    silent: "passed-only",
    // The machine has 2 cores; integration tests start peers of their own.
    maxWorkers: 2,
  },
});
