import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    setupFiles: ['../../scripts/require-node-24.mjs'],
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Files share one Redis and one S3 server; each uses its own DB index / key prefix, but 2-core
    // machines run them more reliably one file at a time.
    fileParallelism: false,
  },
});
