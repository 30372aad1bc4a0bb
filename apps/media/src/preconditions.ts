/**
 * HTTP preconditions for reading an object (RFC 9110 §13), all in one place. `readPreconditions` only parses
 * the request's headers; `evaluatePreconditions` is a pure function of those, the object's validators and
 * the server's clock, and judges them in the order of RFC 9110 §13.2.2: If-Match, If-Unmodified-Since,
 * If-None-Match, If-Modified-Since, then If-Range. Media calls it only for an object that exists (a 404
 * wins over every precondition, §13.2.1), so `If-Match: *` and `If-None-Match: *` always match.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** An entity tag list from If-Match / If-None-Match, or `*`. */
export type EntityTagList = '*' | string[];

/** The conditional headers of a request, parsed; a header that is absent or does not parse is undefined. */
export interface RequestPreconditions {
  ifMatch: EntityTagList | undefined;
  ifUnmodifiedSince: Date | undefined;
  ifNoneMatch: EntityTagList | undefined;
  ifModifiedSince: Date | undefined;
  /** The raw If-Range value: an entity tag or an HTTP date. */
  ifRange: string | undefined;
}

/** What the object currently is, as storage described it. */
export interface Validators {
  etag: string | undefined;
  lastModified: Date | undefined;
}

/**
 * `precondition-failed` → 412, `not-modified` → 304, `send-range` → 206 for the requested range,
 * `send-whole` → 200 (no range asked for, or If-Range no longer matches).
 */
export type PreconditionOutcome = 'precondition-failed' | 'not-modified' | 'send-range' | 'send-whole';

export function parseEntityTagList(value: string | string[] | undefined): EntityTagList | undefined {
  const joined = Array.isArray(value) ? value.join(',') : value;
  if (joined === undefined || joined.trim() === '') return undefined;
  if (joined.trim() === '*') return '*';
  const tags = joined.match(/(?:W\/)?"[^"]*"/g);
  return tags ?? undefined;
}

/** An HTTP date, or undefined if the value is not one. */
export function parseHttpDate(value: string | string[] | undefined): Date | undefined {
  if (typeof value !== 'string') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/** Quotes an ETag from storage if the store left the quotes off. */
export function normalizeEtag(etag: string | undefined): string | undefined {
  if (etag === undefined || etag === '') return undefined;
  return /^(W\/)?".*"$/.test(etag) ? etag : `"${etag}"`;
}

export function readPreconditions(headers: IncomingHttpHeaders): RequestPreconditions {
  const ifRange = headers['if-range'];
  return {
    ifMatch: parseEntityTagList(headers['if-match']),
    ifUnmodifiedSince: parseHttpDate(headers['if-unmodified-since']),
    ifNoneMatch: parseEntityTagList(headers['if-none-match']),
    ifModifiedSince: parseHttpDate(headers['if-modified-since']),
    ifRange: typeof ifRange === 'string' ? ifRange : undefined,
  };
}

function isWeak(tag: string): boolean {
  return tag.startsWith('W/');
}

function opaque(tag: string): string {
  return isWeak(tag) ? tag.slice(2) : tag;
}

/** RFC 9110 §8.8.3.2: both strong and identical. */
function strongMatch(a: string, b: string): boolean {
  return !isWeak(a) && !isWeak(b) && a === b;
}

/** RFC 9110 §8.8.3.2: identical once any weakness indicator is set aside. */
function weakMatch(a: string, b: string): boolean {
  return opaque(a) === opaque(b);
}

function listMatches(
  list: EntityTagList,
  etag: string | undefined,
  compare: (a: string, b: string) => boolean,
): boolean {
  if (list === '*') return true; // the object exists
  return etag !== undefined && list.some((tag) => compare(tag, etag));
}

/** HTTP dates have one-second precision; storage's Last-Modified may carry milliseconds. */
function seconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

/**
 * If-Modified-Since as it applies to a request answered at `now`: absent when If-None-Match is present
 * (§13.1.3) or when it names a time later than the server's clock (§13.1.3: the date is judged by the
 * origin's clock, and a future one would let a client pin a 304 on every later change).
 */
function effectiveModifiedSince(pre: RequestPreconditions, now: Date): Date | undefined {
  if (pre.ifNoneMatch !== undefined || pre.ifModifiedSince === undefined) return undefined;
  return seconds(pre.ifModifiedSince) > seconds(now) ? undefined : pre.ifModifiedSince;
}

/**
 * If-Range (§13.1.5): the range applies only when the validator still matches, by the strong comparison
 * for an entity tag (a weak tag never matches) or an exact Last-Modified for a date.
 */
function ifRangeMatches(value: string, current: Validators): boolean {
  const trimmed = value.trim();
  if (trimmed.startsWith('"') || isWeak(trimmed)) {
    return current.etag !== undefined && strongMatch(trimmed, current.etag);
  }
  const date = parseHttpDate(trimmed);
  if (!date || !current.lastModified) return false;
  return seconds(current.lastModified) === seconds(date);
}

/** RFC 9110 §13.2.2, for GET and HEAD of an object that exists. */
export function evaluatePreconditions(
  pre: RequestPreconditions,
  current: Validators,
  options: { now: Date; rangeRequested: boolean },
): PreconditionOutcome {
  // 1. If-Match: strong comparison (§13.1.1).
  if (pre.ifMatch !== undefined) {
    if (!listMatches(pre.ifMatch, current.etag, strongMatch)) return 'precondition-failed';
  } else if (pre.ifUnmodifiedSince !== undefined) {
    // 2. If-Unmodified-Since, only without If-Match (§13.1.4). An object whose modification time is
    //    unknown cannot be shown to be unmodified, so the condition fails (as nginx does).
    if (!current.lastModified || seconds(current.lastModified) > seconds(pre.ifUnmodifiedSince))
      return 'precondition-failed';
  }
  // 3. If-None-Match: weak comparison (§13.1.2); for GET and HEAD a match is 304.
  if (pre.ifNoneMatch !== undefined) {
    if (listMatches(pre.ifNoneMatch, current.etag, weakMatch)) return 'not-modified';
  } else {
    // 4. If-Modified-Since, only without If-None-Match and never in the future.
    const since = effectiveModifiedSince(pre, options.now);
    if (since && current.lastModified && seconds(current.lastModified) <= seconds(since))
      return 'not-modified';
  }
  // 5. If-Range, only with a Range (§13.1.5).
  if (!options.rangeRequested) return 'send-whole';
  if (pre.ifRange !== undefined && !ifRangeMatches(pre.ifRange, current)) return 'send-whole';
  return 'send-range';
}

/**
 * The conditionals storage may judge for media, so that a 304 costs no body: If-None-Match and an
 * effective If-Modified-Since. Nothing is forwarded when If-Match or If-Unmodified-Since is present: those
 * come first (§13.2.2), and a store's 304 would hide a 412 (s3rver ignores both).
 */
export function conditionalsForStorage(
  pre: RequestPreconditions,
  now: Date,
): { ifNoneMatch: string | undefined; ifModifiedSince: Date | undefined } {
  if (pre.ifMatch !== undefined || pre.ifUnmodifiedSince !== undefined)
    return { ifNoneMatch: undefined, ifModifiedSince: undefined };
  return {
    ifNoneMatch:
      pre.ifNoneMatch === undefined ? undefined : pre.ifNoneMatch === '*' ? '*' : pre.ifNoneMatch.join(', '),
    ifModifiedSince: effectiveModifiedSince(pre, now),
  };
}
