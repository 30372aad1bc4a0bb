/**
 * `.dockerignore` matching as Docker does it: patterns relative to the context root, `*` and `?` within
 * one path segment, `**` across any number of segments, a matched directory excludes everything under
 * it, `!` re-includes, and the last matching pattern wins.
 */
function toRegExp(pattern: string): RegExp {
  let source = '';
  const p = pattern.replace(/^\/+/, '').replace(/\/+$/, '');
  for (let i = 0; i < p.length; i++) {
    const ch = p[i] as string;
    if (ch === '*' && p[i + 1] === '*') {
      // `**/` matches zero or more directories; a trailing `**` matches anything.
      if (p[i + 2] === '/') {
        source += '(?:.*/)?';
        i += 2;
      } else {
        source += '.*';
        i += 1;
      }
    } else if (ch === '*') source += '[^/]*';
    else if (ch === '?') source += '[^/]';
    else source += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  // A pattern that names a directory excludes what is under it.
  return new RegExp(`^${source}(?:/.*)?$`);
}

export function parseDockerignore(text: string): { pattern: string; negated: boolean; re: RegExp }[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negated = l.startsWith('!');
      const pattern = negated ? l.slice(1).trim() : l;
      return { pattern, negated, re: toRegExp(pattern) };
    });
}

/** Whether `path` (relative to the context root, `/`-separated) is left out of the build context. */
export function isIgnored(dockerignore: string, path: string): boolean {
  let ignored = false;
  for (const rule of parseDockerignore(dockerignore)) {
    if (rule.re.test(path)) ignored = !rule.negated;
  }
  return ignored;
}
