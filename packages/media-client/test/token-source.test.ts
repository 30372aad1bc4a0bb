import { describe, expect, it } from 'vitest';
import { cachedTokenSource, type FetchedToken } from '../src/token-source.js';

function counter(lifetimeSeconds: number, clock: { now: number }) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    fetch: async (): Promise<FetchedToken> => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 5));
      return { token: `t${calls}`, expiresAt: clock.now + lifetimeSeconds };
    },
  };
}

describe('cachedTokenSource', () => {
  it('reuses a token until the refresh margin before its expiry, then fetches a new one', async () => {
    const clock = { now: 1_000 };
    const source = counter(300, clock);
    const tokens = cachedTokenSource(source.fetch, { refreshMarginSeconds: 30, now: () => clock.now });
    expect(await tokens.getToken()).toBe('t1');
    clock.now += 269;
    expect(await tokens.getToken()).toBe('t1');
    clock.now += 1; // 30 s left: inside the margin
    expect(await tokens.getToken()).toBe('t2');
    expect(source.calls).toBe(2);
  });

  it('shares one fetch between concurrent callers', async () => {
    const clock = { now: 1_000 };
    const source = counter(300, clock);
    const tokens = cachedTokenSource(source.fetch, { now: () => clock.now });
    const all = await Promise.all(Array.from({ length: 10 }, () => tokens.getToken()));
    expect(new Set(all)).toEqual(new Set(['t1']));
    expect(source.calls).toBe(1);
  });

  it('fetches anew after invalidate()', async () => {
    const clock = { now: 1_000 };
    const source = counter(300, clock);
    const tokens = cachedTokenSource(source.fetch, { now: () => clock.now });
    await tokens.getToken();
    tokens.invalidate();
    expect(await tokens.getToken()).toBe('t2');
  });

  it('does not cache a failure', async () => {
    let calls = 0;
    const tokens = cachedTokenSource(async () => {
      calls++;
      if (calls === 1) throw new Error('down');
      return { token: 'ok', expiresAt: Date.now() / 1000 + 300 };
    });
    await expect(tokens.getToken()).rejects.toThrow('down');
    expect(await tokens.getToken()).toBe('ok');
  });

  it('bounds a fetch that never ends, and lets a caller give up earlier', async () => {
    const tokens = cachedTokenSource(
      (signal) =>
        new Promise<FetchedToken>((_, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason)),
        ),
      { timeoutMs: 200 },
    );
    const started = Date.now();
    await expect(tokens.getToken(AbortSignal.timeout(50))).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(Date.now() - started).toBeLessThan(150);
    await expect(tokens.getToken()).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
