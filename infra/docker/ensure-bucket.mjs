// @ts-check
/**
 * The production bootstrap (docker-compose.prod.yml): make sure the media bucket exists, and nothing
 * else — demo media never reaches a production store. Same settings and the same `minio` client code as
 * `stagedoor-seed` (packages/fixtures), which refuses to run when NODE_ENV=production.
 * In the bootstrap image this file sits next to the deployed fixtures package, which it imports by its
 * own name. Exit codes: 0 the bucket exists (created now or before), 1 the store failed, 78 bad settings.
 */
import { createS3Client, ensureBucket } from '@stagedoor/fixtures/seed';
import { ConfigError, EnvReader } from '@stagedoor/shared/env';

const CONNECTION_ERRORS = [
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
];

/** @param {NodeJS.ProcessEnv} vars */
function readSettings(vars) {
  const env = new EnvReader(vars);
  const s3 = {
    endpoint: env.url('S3_ENDPOINT')?.toString(),
    region: env.string('S3_REGION', 'us-east-1'),
    accessKeyId: env.required('S3_ACCESS_KEY_ID'),
    secretAccessKey: env.required('S3_SECRET_ACCESS_KEY'),
    forcePathStyle: env.bool('S3_FORCE_PATH_STYLE', true),
  };
  const bucket = env.string('S3_BUCKET', 'media');
  const waitSeconds = env.int('SEED_WAIT_SECONDS', 30, { min: 0, max: 600 });
  env.finish();
  return { s3, bucket, waitSeconds };
}

async function main() {
  let settings;
  try {
    settings = readSettings(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`ensure-bucket: ${error.problems.join('; ')}\n`);
      return 78;
    }
    throw error;
  }
  const where = `${settings.s3.endpoint ?? `AWS S3 (${settings.s3.region})`} bucket ${settings.bucket}`;
  const client = createS3Client(settings.s3);
  const deadline = Date.now() + settings.waitSeconds * 1000;
  for (;;) {
    try {
      const created = await ensureBucket(client, settings.bucket, settings.s3.region);
      process.stdout.write(`ensure-bucket: ${where}: ${created ? 'created' : 'already present'}\n`);
      return 0;
    } catch (error) {
      const code = /** @type {{ code?: string }} */ (error).code ?? '';
      if (CONNECTION_ERRORS.includes(code) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        continue;
      }
      const reason = error instanceof Error ? error.message : String(error);
      process.stderr.write(`ensure-bucket: ${where} failed: ${reason}\n`);
      return 1;
    }
  }
}

process.exitCode = await main();
