import { describe, expect, it } from 'vitest';
import type { VerifiedToken } from '../src/plugins/token-verifier.js';
import { VerifiedTokenCache } from '../src/verified-token-cache.js';

function verified(expiresAt: number): VerifiedToken {
  return {
    profile: 'media',
    claims: {} as never,
    grant: { kind: 'key', key: 'a/b.wav' },
    expiresAt,
  };
}

describe('VerifiedTokenCache', () => {
  it('answers for the same token and key set until exp, then forgets it', () => {
    let now = 1000;
    const cache = new VerifiedTokenCache(10, () => now);
    const keys = {};
    cache.set('t1', keys, verified(1010));
    expect(cache.get('t1', keys)?.expiresAt).toBe(1010);
    expect(cache.get('t2', keys)).toBeUndefined();
    now = 1009.9;
    expect(cache.get('t1', keys)).toBeDefined();
    now = 1010;
    expect(cache.get('t1', keys)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('forgets an entry once another key set is current', () => {
    const cache = new VerifiedTokenCache(10, () => 0);
    const before = {};
    cache.set('t1', before, verified(100));
    expect(cache.get('t1', {})).toBeUndefined();
    expect(cache.get('t1', before)).toBeUndefined(); // gone, not merely hidden
  });

  it('holds at most maxEntries, dropping the oldest; 0 keeps nothing', () => {
    const cache = new VerifiedTokenCache(2, () => 0);
    const keys = {};
    cache.set('a', keys, verified(100));
    cache.set('b', keys, verified(100));
    cache.set('c', keys, verified(100));
    expect(cache.size).toBe(2);
    expect(cache.get('a', keys)).toBeUndefined();
    expect(cache.get('c', keys)).toBeDefined();
    const off = new VerifiedTokenCache(0, () => 0);
    off.set('a', keys, verified(100));
    expect(off.get('a', keys)).toBeUndefined();
  });
});
