import { describe, expect, it } from 'vitest';
import { EnvReader } from '../src/env.js';
import { readServerLimits, serverTimeoutOptions } from '../src/server-limits.js';

const DEFAULTS = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5000,
  maxConnections: 10_000,
};

function read(env: Record<string, string>) {
  const reader = new EnvReader(env);
  const limits = readServerLimits(reader, DEFAULTS);
  reader.finish();
  return limits;
}

describe('readServerLimits', () => {
  it('takes the defaults, or the environment', () => {
    expect(read({})).toEqual(DEFAULTS);
    expect(read({ HEADERS_TIMEOUT_MS: '500', REQUEST_TIMEOUT_MS: '0', MAX_CONNECTIONS: '7' })).toMatchObject({
      headersTimeoutMs: 500,
      requestTimeoutMs: 0,
      maxConnections: 7,
    });
  });

  it('lists every bad value at once, and a request bound shorter than the head bound', () => {
    const bad = { MAX_CONNECTIONS: '0', KEEP_ALIVE_TIMEOUT_MS: 'soon', REQUEST_TIMEOUT_MS: '5000' };
    let message = '';
    try {
      read(bad);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('MAX_CONNECTIONS must be an integer from 1');
    expect(message).toContain('KEEP_ALIVE_TIMEOUT_MS must be an integer');
    expect(message).toContain('REQUEST_TIMEOUT_MS must be 0 or at least HEADERS_TIMEOUT_MS');
  });
});

describe('serverTimeoutOptions', () => {
  it('checks deadlines often enough that the default head bound holds within 15 s', () => {
    const options = serverTimeoutOptions(DEFAULTS);
    expect(options.http.headersTimeout).toBe(10_000);
    expect(options.http.headersTimeout + options.http.connectionsCheckingInterval).toBeLessThanOrEqual(
      15_000,
    );
    expect(
      serverTimeoutOptions({ ...DEFAULTS, headersTimeoutMs: 600 }).http.connectionsCheckingInterval,
    ).toBe(150);
  });
});
