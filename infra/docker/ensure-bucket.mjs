// @ts-check
/**
 * The production bootstrap (docker-compose.prod.yml): make sure the media bucket exists, and nothing
 * else — demo media never reaches a production store. Same settings, retries and exit codes as
 * `stagedoor-seed` (packages/fixtures, `store-command.ts`), which refuses to run when NODE_ENV=production;
 * here credentials are required and have no defaults.
 * In the bootstrap image this file sits next to the deployed fixtures package, which it imports by its
 * own name. Exit codes: 0 the bucket exists (created now or before), 1 the store failed, 78 bad settings.
 */
import { createS3Client, ensureBucket } from '@stagedoor/fixtures/seed';
import { runStoreCommand } from '@stagedoor/fixtures/store-command';

process.exitCode = await runStoreCommand({
  name: 'ensure-bucket',
  demo: false,
  task: async (settings, where) => {
    const created = await ensureBucket(createS3Client(settings.s3), settings.bucket, settings.s3.region);
    return `${where}: ${created ? 'created' : 'already present'}`;
  },
});
