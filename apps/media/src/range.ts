/**
 * `Range` and conditional request headers per RFC 9110 (§14, §13), parsed by media itself: S3-compatible
 * stores disagree on ranges (s3rver answers `bytes=-N` with the first N+1 bytes and `bytes=0-0` with the
 * whole object), so storage only ever sees absolute ranges that media computed.
 */

/** One byte range as the client asked for it. `end` is inclusive and may lie past the object's end. */
export type ByteRange =
  | { kind: 'from'; start: number; end: number | undefined }
  | { kind: 'suffix'; length: number };

const RANGE_HEADER = /^bytes[ \t]*=[ \t]*(.*)$/i;
const ONE_RANGE = /^(\d*)-(\d*)$/;

function toNumber(digits: string): number {
  // Past 2^53 precision is lost; such offsets are beyond any object, which is what they mean anyway.
  const value = Number(digits);
  return Number.isSafeInteger(value) ? value : Number.MAX_SAFE_INTEGER;
}

/**
 * Parses a `Range` header. Returns `undefined` when it must be ignored (absent, another unit, does not
 * parse: RFC 9110 §14.2) and also for several ranges, which media answers with the whole object (§14.2
 * allows it, and it spares multipart/byteranges bodies).
 */
export function parseRangeHeader(value: string | string[] | undefined): ByteRange | undefined {
  if (typeof value !== 'string') return undefined;
  const match = RANGE_HEADER.exec(value.trim());
  if (!match) return undefined;
  const specs = (match[1] ?? '').split(',').map((s) => s.trim());
  const ranges: ByteRange[] = [];
  for (const spec of specs) {
    if (spec === '') continue; // RFC 9110 list syntax allows empty elements
    const parts = ONE_RANGE.exec(spec);
    if (!parts) return undefined;
    const [, first = '', last = ''] = parts;
    if (first === '' && last === '') return undefined;
    if (first === '') {
      ranges.push({ kind: 'suffix', length: toNumber(last) });
      continue;
    }
    const start = toNumber(first);
    const end = last === '' ? undefined : toNumber(last);
    if (end !== undefined && end < start) return undefined;
    ranges.push({ kind: 'from', start, end });
  }
  return ranges.length === 1 ? ranges[0] : undefined;
}

/** The absolute, inclusive byte positions a range selects in an object of `size` bytes, or null if none. */
export function resolveRange(range: ByteRange, size: number): { start: number; end: number } | null {
  if (range.kind === 'suffix') {
    if (range.length === 0 || size === 0) return null;
    return { start: Math.max(0, size - range.length), end: size - 1 };
  }
  if (range.start >= size) return null;
  return { start: range.start, end: Math.min(range.end ?? size - 1, size - 1) };
}

/** An entity tag list from If-None-Match / If-Match, or `*`. */
export type EntityTagList = '*' | string[];

export function parseEntityTagList(value: string | string[] | undefined): EntityTagList | undefined {
  const joined = Array.isArray(value) ? value.join(',') : value;
  if (joined === undefined || joined.trim() === '') return undefined;
  if (joined.trim() === '*') return '*';
  const tags = joined.match(/(?:W\/)?"[^"]*"/g);
  return tags ?? undefined;
}

function opaque(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

/** Quotes an ETag from storage if the store left the quotes off. */
export function normalizeEtag(etag: string | undefined): string | undefined {
  if (etag === undefined || etag === '') return undefined;
  return /^(W\/)?".*"$/.test(etag) ? etag : `"${etag}"`;
}

/** If-None-Match uses the weak comparison (RFC 9110 §13.1.2). */
export function noneMatchHits(list: EntityTagList, etag: string | undefined): boolean {
  if (list === '*') return true;
  if (etag === undefined) return false;
  return list.some((tag) => opaque(tag) === opaque(etag));
}

/** An HTTP date, or undefined if the value is not one. */
export function parseHttpDate(value: string | string[] | undefined): Date | undefined {
  if (typeof value !== 'string') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/** If-Modified-Since: true when the object has not changed since the date (second precision). */
export function notModifiedSince(lastModified: Date | undefined, since: Date): boolean {
  if (!lastModified) return false;
  return Math.floor(lastModified.getTime() / 1000) <= Math.floor(since.getTime() / 1000);
}

/**
 * If-Range (RFC 9110 §13.1.5): the range applies only when the validator still matches, by the strong
 * comparison for an entity tag (a weak tag never matches) or an exact Last-Modified for a date.
 */
export function ifRangeMatches(
  value: string,
  current: { etag: string | undefined; lastModified: Date | undefined },
): boolean {
  const trimmed = value.trim();
  if (trimmed.startsWith('"') || trimmed.startsWith('W/')) {
    return !trimmed.startsWith('W/') && current.etag !== undefined && !current.etag.startsWith('W/')
      ? trimmed === current.etag
      : false;
  }
  const date = parseHttpDate(trimmed);
  if (!date || !current.lastModified) return false;
  return Math.floor(current.lastModified.getTime() / 1000) === Math.floor(date.getTime() / 1000);
}
