/**
 * Object key rules shared by the gateway (what it mints tokens for) and media (what it serves), so the two
 * can never disagree about which key a URL names. See CONTRACT.md, Media: keys with empty, `.` or `..`
 * segments, a leading `/`, a backslash, control characters, or over 1024 bytes are refused.
 */
export const MAX_KEY_BYTES = 1024;

export type KeyCheck = { ok: true; key: string } | { ok: false; reason: string };

// C0 controls, DEL and C1 controls: none has a place in a key, and several confuse logs and proxies.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

function checkSegments(segments: readonly string[]): string | null {
  for (const segment of segments) {
    if (segment === '') return 'a key may not have empty segments (a leading, doubled or trailing "/")';
    if (segment === '.' || segment === '..') return 'a key may not have "." or ".." segments';
  }
  return null;
}

function checkCharacters(value: string): string | null {
  if (value.includes('\\')) return 'a key may not contain a backslash';
  if (CONTROL_CHARACTERS.test(value)) return 'a key may not contain control characters';
  if (Buffer.byteLength(value, 'utf8') > MAX_KEY_BYTES) return `a key may be at most ${MAX_KEY_BYTES} bytes`;
  return null;
}

/** Checks an object key as stored in the bucket (already decoded). */
export function validateObjectKey(key: unknown): KeyCheck {
  if (typeof key !== 'string' || key.length === 0)
    return { ok: false, reason: 'the key must be a non-empty string' };
  if (!key.isWellFormed()) return { ok: false, reason: 'the key must be valid Unicode' };
  const bad = checkCharacters(key) ?? checkSegments(key.split('/'));
  return bad === null ? { ok: true, key } : { ok: false, reason: bad };
}

/**
 * Checks a key prefix (`catalog/`, `users/u1/`): the same rules as a key, and it must end with `/` so that
 * a prefix token for `users/u1/` can never cover `users/u10/…`.
 */
export function validateKeyPrefix(prefix: unknown): KeyCheck {
  if (typeof prefix !== 'string' || prefix.length === 0) {
    return { ok: false, reason: 'the prefix must be a non-empty string' };
  }
  if (!prefix.endsWith('/')) return { ok: false, reason: 'a prefix must end with "/"' };
  const check = validateObjectKey(prefix.slice(0, -1));
  return check.ok ? { ok: true, key: prefix } : check;
}

/**
 * Decodes the `<key>` part of a media URL, where each `/`-separated segment is percent-encoded, and checks
 * the result. An encoded `/` (`%2F`) inside a segment would make two URLs name one key, so it is refused.
 */
export function decodeKeyPath(path: string): KeyCheck {
  if (path.startsWith('/')) return { ok: false, reason: 'a key may not start with "/"' };
  const decoded: string[] = [];
  for (const segment of path.split('/')) {
    let value: string;
    try {
      value = decodeURIComponent(segment);
    } catch {
      return { ok: false, reason: 'the key is not correctly percent-encoded' };
    }
    if (value.includes('/')) return { ok: false, reason: 'a key segment may not contain an encoded "/"' };
    decoded.push(value);
  }
  return validateObjectKey(decoded.join('/'));
}

/** Percent-encodes each segment of a key for use in a URL path (the inverse of `decodeKeyPath`). */
export function encodeKeyPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

/** True when `key` lies under `prefix` (which ends with `/`). */
export function keyIsUnderPrefix(key: string, prefix: string): boolean {
  return prefix.endsWith('/') && key.startsWith(prefix) && key.length > prefix.length;
}
