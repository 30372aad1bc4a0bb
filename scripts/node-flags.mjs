// The node flags an app's `start` script passes (`node <flags> <entry>`): the one place that says how the app
// must be run. `pnpm start` (scripts/start.mjs) and the benchmarks start the app with them; the Dockerfile's CMD
// is checked against them (infra/test/dockerfiles.test.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** @param {string} packageDir @returns {string[]} */
export function startNodeFlags(packageDir) {
  const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
  const words = String(pkg.scripts?.start ?? '')
    .trim()
    .split(/\s+/);
  if (words[0] !== 'node') return [];
  return words.slice(1, -1).filter((word) => word.startsWith('--'));
}
