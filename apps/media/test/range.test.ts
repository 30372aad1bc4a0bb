import { describe, expect, it } from 'vitest';
import { ObjectMetadataCache } from '../src/object-metadata-cache.js';
import { parseRangeHeader, resolveRange } from '../src/range.js';

describe('parseRangeHeader (RFC 9110 §14)', () => {
  it('parses the three single-range forms', () => {
    expect(parseRangeHeader('bytes=0-99')).toEqual({ kind: 'from', start: 0, end: 99 });
    expect(parseRangeHeader('bytes=100-')).toEqual({ kind: 'from', start: 100, end: undefined });
    expect(parseRangeHeader('bytes=-5')).toEqual({ kind: 'suffix', length: 5 });
    expect(parseRangeHeader('Bytes = 1-2 ,')).toEqual({ kind: 'from', start: 1, end: 2 });
  });

  it('ignores what does not parse, and several ranges', () => {
    for (const value of [
      undefined,
      '',
      'bytes',
      'bytes=',
      'bytes=-',
      'bytes=a-b',
      'bytes=5-4',
      'lines=1-2',
      'bytes=1-2-3',
      'bytes=0-1,2-3',
    ]) {
      expect(parseRangeHeader(value)).toBeUndefined();
    }
  });

  it('resolves against the size: clamps the end, refuses what lies past it', () => {
    expect(resolveRange({ kind: 'from', start: 5, end: 1000 }, 10)).toEqual({ start: 5, end: 9 });
    expect(resolveRange({ kind: 'from', start: 10, end: undefined }, 10)).toBeNull();
    expect(resolveRange({ kind: 'suffix', length: 20 }, 10)).toEqual({ start: 0, end: 9 });
    expect(resolveRange({ kind: 'suffix', length: 0 }, 10)).toBeNull();
    expect(resolveRange({ kind: 'suffix', length: 1 }, 0)).toBeNull();
    expect(
      resolveRange(parseRangeHeader('bytes=99999999999999999999-') ?? { kind: 'suffix', length: 0 }, 10),
    ).toBeNull();
  });
});

describe('ObjectMetadataCache', () => {
  it('keeps at most maxEntries, dropping the least recently used', () => {
    const cache = new ObjectMetadataCache(2);
    cache.set('a', { etag: '"1"', size: 1 });
    cache.set('b', { etag: '"2"', size: 2 });
    cache.get('a');
    cache.set('c', { etag: '"3"', size: 3 });
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')?.size).toBe(1);
    expect(cache.size).toBe(2);
  });
});
