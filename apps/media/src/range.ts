/**
 * The `Range` header per RFC 9110 §14, parsed by media itself (the conditionals are in preconditions.ts):
 * S3-compatible stores disagree on ranges (s3rver answers `bytes=-N` with the first N+1 bytes and
 * `bytes=0-0` with the whole object), so storage only ever sees absolute ranges that media computed.
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
