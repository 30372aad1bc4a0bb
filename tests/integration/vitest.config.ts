import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    setupFiles: ['../../scripts/require-node-24.mjs'],
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // One gateway, one media and one S3 per file; 2-core machines run them one file at a time.
    fileParallelism: false,
  },
});
