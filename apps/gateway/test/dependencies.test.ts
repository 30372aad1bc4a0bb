/**
 * Every dependency the gateway declares is imported by its code (runtime dependencies by src/, dev
 * dependencies by src/ or test/), so the README's list of what the stack uses, and does not, stays true.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const APP = fileURLToPath(new URL('..', import.meta.url));
const manifest = JSON.parse(readFileSync(join(APP, 'package.json'), 'utf8')) as {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
};

function sources(dir: string): string[] {
  return readdirSync(join(APP, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => /\.(ts|mts|js|mjs)$/.test(file))
    .map((file) => readFileSync(join(APP, dir, file), 'utf8'));
}

/** Package names imported (statically, dynamically, re-exported, or resolved by path) in these sources. */
function imported(files: string[]): Set<string> {
  const names = new Set<string>();
  for (const text of files) {
    for (const match of text.matchAll(
      /(?:from\s+|import\s*\(\s*|import\s+|resolve\(\s*)['"]([^'"./][^'"]*)['"]/g,
    )) {
      const spec = match[1] ?? '';
      const parts = spec.split('/');
      names.add(spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? spec));
    }
  }
  return names;
}

// Used without an import: the test runner, its config, and the compiler (tsconfig, `tsc`).
const USED_BY_TOOLS = new Set(['vitest', 'typescript', '@types/node']);

describe('gateway dependencies', () => {
  it('imports every runtime dependency from src/', () => {
    const used = imported(sources('src'));
    const unused = Object.keys(manifest.dependencies ?? {}).filter((name) => !used.has(name));
    expect(unused).toEqual([]);
  });

  it('imports every dev dependency from src/ or test/', () => {
    const used = imported([...sources('src'), ...sources('test')]);
    const unused = Object.keys(manifest.devDependencies ?? {}).filter(
      (name) => !used.has(name) && !USED_BY_TOOLS.has(name),
    );
    expect(unused).toEqual([]);
  });
});
