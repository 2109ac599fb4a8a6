import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // End-to-end suites each own a database schema and ports; run files in parallel, tests within a file in order.
    fileParallelism: true,
    pool: 'forks',
  },
});
