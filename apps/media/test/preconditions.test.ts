import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import {
  conditionalsForStorage,
  evaluatePreconditions,
  type PreconditionOutcome,
  parseEntityTagList,
  readPreconditions,
  type Validators,
} from '../src/preconditions.js';

const NOW = new Date('2026-06-01T12:00:00Z');
const MODIFIED = new Date('2026-05-01T08:30:15.250Z'); // storage may carry milliseconds
const AT_MODIFIED = 'Fri, 01 May 2026 08:30:15 GMT';
const BEFORE = 'Fri, 01 May 2026 08:30:14 GMT';
const AFTER = 'Sat, 02 May 2026 00:00:00 GMT';
const FUTURE = 'Mon, 01 Jun 2026 12:00:01 GMT'; // one second past the server's clock
const OBJECT: Validators = { etag: '"v1"', lastModified: MODIFIED };

interface Row {
  name: string;
  headers: IncomingHttpHeaders;
  range?: boolean;
  current?: Validators;
  expected: PreconditionOutcome;
}

// RFC 9110 §13.2.2: each step's rows, then rows where two steps disagree and the earlier one must win.
const rows: Row[] = [
  { name: 'no preconditions', headers: {}, expected: 'send-whole' },
  { name: 'no preconditions, a Range', headers: {}, range: true, expected: 'send-range' },

  // 1. If-Match, strong comparison
  { name: 'If-Match with the current tag', headers: { 'if-match': '"v1"' }, expected: 'send-whole' },
  { name: 'If-Match listing it', headers: { 'if-match': '"v0", "v1"' }, expected: 'send-whole' },
  { name: 'If-Match: * on an object', headers: { 'if-match': '*' }, expected: 'send-whole' },
  { name: 'If-Match with another tag', headers: { 'if-match': '"v0"' }, expected: 'precondition-failed' },
  { name: 'If-Match with the weak tag', headers: { 'if-match': 'W/"v1"' }, expected: 'precondition-failed' },
  {
    name: 'If-Match against a weak current tag',
    headers: { 'if-match': '"v1"' },
    current: { etag: 'W/"v1"', lastModified: MODIFIED },
    expected: 'precondition-failed',
  },
  {
    name: 'If-Match when storage gave no tag',
    headers: { 'if-match': '"v1"' },
    current: { etag: undefined, lastModified: MODIFIED },
    expected: 'precondition-failed',
  },
  {
    name: 'If-Match failing, with a Range',
    headers: { 'if-match': '"v0"' },
    range: true,
    expected: 'precondition-failed',
  },

  // 2. If-Unmodified-Since
  {
    name: 'If-Unmodified-Since at the modification',
    headers: { 'if-unmodified-since': AT_MODIFIED },
    expected: 'send-whole',
  },
  { name: 'If-Unmodified-Since later', headers: { 'if-unmodified-since': AFTER }, expected: 'send-whole' },
  {
    name: 'If-Unmodified-Since earlier',
    headers: { 'if-unmodified-since': BEFORE },
    expected: 'precondition-failed',
  },
  {
    name: 'If-Unmodified-Since with no Last-Modified',
    headers: { 'if-unmodified-since': AFTER },
    current: { etag: '"v1"', lastModified: undefined },
    expected: 'precondition-failed',
  },
  {
    name: 'If-Unmodified-Since not a date (ignored)',
    headers: { 'if-unmodified-since': 'yesterday' },
    expected: 'send-whole',
  },
  {
    name: 'If-Unmodified-Since failing is ignored beside a matching If-Match',
    headers: { 'if-match': '"v1"', 'if-unmodified-since': BEFORE },
    expected: 'send-whole',
  },
  {
    name: 'If-Unmodified-Since holding does not rescue a failing If-Match',
    headers: { 'if-match': '"v0"', 'if-unmodified-since': AFTER },
    expected: 'precondition-failed',
  },

  // 3. If-None-Match, weak comparison
  {
    name: 'If-None-Match with the current tag',
    headers: { 'if-none-match': '"v1"' },
    expected: 'not-modified',
  },
  {
    name: 'If-None-Match with its weak form',
    headers: { 'if-none-match': 'W/"v1"' },
    expected: 'not-modified',
  },
  { name: 'If-None-Match: *', headers: { 'if-none-match': '*' }, expected: 'not-modified' },
  { name: 'If-None-Match with another tag', headers: { 'if-none-match': '"v0"' }, expected: 'send-whole' },
  {
    name: 'a failing If-Match wins over a matching If-None-Match (412, not 304)',
    headers: { 'if-match': '"v0"', 'if-none-match': '"v1"' },
    expected: 'precondition-failed',
  },
  {
    name: 'a failing If-Unmodified-Since wins over a matching If-None-Match',
    headers: { 'if-unmodified-since': BEFORE, 'if-none-match': '"v1"' },
    expected: 'precondition-failed',
  },
  {
    name: 'a matching If-Match, then a matching If-None-Match',
    headers: { 'if-match': '"v1"', 'if-none-match': '"v1"' },
    expected: 'not-modified',
  },

  // 4. If-Modified-Since
  {
    name: 'If-Modified-Since at the modification',
    headers: { 'if-modified-since': AT_MODIFIED },
    expected: 'not-modified',
  },
  { name: 'If-Modified-Since later', headers: { 'if-modified-since': AFTER }, expected: 'not-modified' },
  { name: 'If-Modified-Since earlier', headers: { 'if-modified-since': BEFORE }, expected: 'send-whole' },
  {
    name: 'If-Modified-Since in the future (ignored)',
    headers: { 'if-modified-since': FUTURE },
    expected: 'send-whole',
  },
  {
    name: 'If-Modified-Since equal to the clock',
    headers: { 'if-modified-since': NOW.toUTCString() },
    expected: 'not-modified',
  },
  {
    name: 'If-Modified-Since not a date (ignored)',
    headers: { 'if-modified-since': 'soon' },
    expected: 'send-whole',
  },
  {
    name: 'If-Modified-Since with no Last-Modified',
    headers: { 'if-modified-since': AFTER },
    current: { etag: '"v1"', lastModified: undefined },
    expected: 'send-whole',
  },
  {
    name: 'If-Modified-Since is ignored beside If-None-Match',
    headers: { 'if-none-match': '"v0"', 'if-modified-since': AFTER },
    expected: 'send-whole',
  },
  {
    name: 'a failing If-Match wins over If-Modified-Since',
    headers: { 'if-match': '"v0"', 'if-modified-since': AFTER },
    expected: 'precondition-failed',
  },

  // 5. If-Range
  {
    name: 'If-Range with the current tag',
    headers: { 'if-range': '"v1"' },
    range: true,
    expected: 'send-range',
  },
  { name: 'If-Range with an old tag', headers: { 'if-range': '"v0"' }, range: true, expected: 'send-whole' },
  {
    name: 'If-Range with the weak tag',
    headers: { 'if-range': 'W/"v1"' },
    range: true,
    expected: 'send-whole',
  },
  {
    name: 'If-Range with the exact date',
    headers: { 'if-range': AT_MODIFIED },
    range: true,
    expected: 'send-range',
  },
  { name: 'If-Range with a later date', headers: { 'if-range': AFTER }, range: true, expected: 'send-whole' },
  {
    name: 'If-Range not a validator',
    headers: { 'if-range': 'garbage' },
    range: true,
    expected: 'send-whole',
  },
  { name: 'If-Range without a Range', headers: { 'if-range': '"v1"' }, expected: 'send-whole' },
  {
    name: 'a matching If-None-Match wins over If-Range',
    headers: { 'if-none-match': '"v1"', 'if-range': '"v1"' },
    range: true,
    expected: 'not-modified',
  },
  {
    name: 'a failing If-Match wins over If-Range',
    headers: { 'if-match': '"v0"', 'if-range': '"v1"' },
    range: true,
    expected: 'precondition-failed',
  },
  {
    name: 'every precondition holding, then If-Range',
    headers: {
      'if-match': '"v1"',
      'if-none-match': '"v0"',
      'if-range': '"v1"',
    },
    range: true,
    expected: 'send-range',
  },
];

describe('evaluatePreconditions (RFC 9110 §13.2.2)', () => {
  it.each(rows)('$name → $expected', ({ headers, range, current, expected }) => {
    const outcome = evaluatePreconditions(readPreconditions(headers), current ?? OBJECT, {
      now: NOW,
      rangeRequested: range ?? false,
    });
    expect(outcome).toBe(expected);
  });

  it('judges If-Modified-Since by the clock it is given', () => {
    const pre = readPreconditions({ 'if-modified-since': FUTURE });
    const at = (now: Date) => evaluatePreconditions(pre, OBJECT, { now, rangeRequested: false });
    expect(at(NOW)).toBe('send-whole');
    expect(at(new Date(NOW.getTime() + 1000))).toBe('not-modified');
  });
});

describe('conditionalsForStorage', () => {
  it('forwards If-None-Match and a past If-Modified-Since, so a 304 costs no body', () => {
    expect(conditionalsForStorage(readPreconditions({ 'if-none-match': '"a", W/"b"' }), NOW)).toEqual({
      ifNoneMatch: '"a", W/"b"',
      ifModifiedSince: undefined,
    });
    expect(conditionalsForStorage(readPreconditions({ 'if-modified-since': AFTER }), NOW)).toEqual({
      ifNoneMatch: undefined,
      ifModifiedSince: new Date(AFTER),
    });
  });

  it('forwards nothing a store could answer 304 for when If-Match or If-Unmodified-Since must come first', () => {
    for (const first of [{ 'if-match': '"v0"' }, { 'if-unmodified-since': BEFORE }]) {
      expect(conditionalsForStorage(readPreconditions({ ...first, 'if-none-match': '"v1"' }), NOW)).toEqual({
        ifNoneMatch: undefined,
        ifModifiedSince: undefined,
      });
    }
  });

  it('never forwards an If-Modified-Since later than the clock', () => {
    expect(conditionalsForStorage(readPreconditions({ 'if-modified-since': FUTURE }), NOW)).toEqual({
      ifNoneMatch: undefined,
      ifModifiedSince: undefined,
    });
  });
});

describe('parseEntityTagList', () => {
  it('reads *, strong and weak tags, and nothing else', () => {
    expect(parseEntityTagList('*')).toBe('*');
    expect(parseEntityTagList('"a", W/"b"')).toEqual(['"a"', 'W/"b"']);
    expect(parseEntityTagList(['"a"', '"b"'])).toEqual(['"a"', '"b"']);
    expect(parseEntityTagList('garbage')).toBeUndefined();
  });
});
