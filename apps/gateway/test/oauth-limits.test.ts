/**
 * Issue 11: failed client authentications at `POST /oauth/token` are limited like sign-ins, and the
 * limits hold against concurrent requests: each attempt is counted before its secret's hash is computed.
 * The proof is the number of secrets checked (`app.serviceClients.secretChecks()`), not only the answers.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash } from '@node-rs/argon2';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LimitTestApp, limitTestApp, statusCounts, until } from './support/attempt-limits.js';

const dir = mkdtempSync(join(tmpdir(), 'sd-gw-oauth-limits-'));
const clientsFile = join(dir, 'clients.json');
/**
 * Secrets checked with Argon2id (each check takes tens of milliseconds off the event loop), so parallel
 * requests really overlap: a check that does not yield cannot race, whatever the order of counting.
 */
const SLOW = { id: 'slow-ingest', secret: 'a person chose this one' };
const OWNER = { id: 'owner-ingest', secret: 'another chosen secret' };

const LIMITS = {
  LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_IP: '3',
  LOGIN_MAX_FAILURES_PER_IP: '6',
  LOGIN_MAX_FAILURES_PER_ACCOUNT: '9',
  LOGIN_FAILURE_WINDOW_SECONDS: '120',
};

beforeAll(async () => {
  writeFileSync(
    clientsFile,
    JSON.stringify({
      clients: [
        { id: SLOW.id, secretHash: await hash(SLOW.secret), scopes: ['media:read'] },
        { id: OWNER.id, secretHash: await hash(OWNER.secret), scopes: ['media:write'] },
      ],
    }),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each(['memory', 'redis'] as const)('POST /oauth/token limits under concurrency (%s)', (kind) => {
  let fixture: LimitTestApp;
  let app: FastifyInstance;
  beforeAll(async () => {
    fixture = await limitTestApp(kind, { ...LIMITS, SERVICE_CLIENTS_FILE: clientsFile });
    app = fixture.app;
  });
  afterAll(async () => {
    await fixture?.close();
  });

  const token = (clientId: string, secret: string, ip: string) =>
    app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: clientId,
        client_secret: secret,
      }).toString(),
      remoteAddress: ip,
    });

  async function checksDuring(fire: () => Promise<LightMyRequestResponse[]>) {
    const before = app.serviceClients.secretChecks();
    const responses = await fire();
    return { responses, checks: app.serviceClients.secretChecks() - before, counts: statusCounts(responses) };
  }

  function expectRefusals(responses: LightMyRequestResponse[]): void {
    for (const res of responses.filter((r) => r.statusCode === 429)) {
      expect(res.json()).toEqual({ error: 'too_many_attempts', error_description: expect.any(String) });
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(100);
      expect(res.headers['cache-control']).toBe('no-store');
    }
  }

  it('60 parallel wrong secrets for one client from one source check 3 secrets', async () => {
    const run = await checksDuring(() =>
      Promise.all(Array.from({ length: 60 }, () => token(SLOW.id, 'guess', '10.30.0.1'))),
    );
    expect(run.checks).toBe(3);
    expect(run.counts).toEqual({ 401: 3, 429: 57 });
    expectRefusals(run.responses);
  });

  it('60 parallel wrong secrets for one (unknown) client id from 20 sources check 9 (the ceiling)', async () => {
    const run = await checksDuring(() =>
      Promise.all(Array.from({ length: 60 }, (_, i) => token('ghost-client', 'guess', `10.31.0.${i % 20}`))),
    );
    expect(run.checks).toBe(9);
    expect(run.counts).toEqual({ 401: 9, 429: 51 });
    expectRefusals(run.responses);
  });

  it('300 parallel guesses from one source over 300 client ids check 6 (its allowance)', async () => {
    const run = await checksDuring(() =>
      Promise.all(Array.from({ length: 300 }, (_, i) => token(`client-${i}`, 'guess', '10.32.0.1'))),
    );
    expect(run.checks).toBe(6);
    expect(run.counts).toEqual({ 401: 6, 429: 294 });
    expectRefusals(run.responses);
  });

  it('the client gets its token from its own source while 60 parallel guesses from elsewhere are limited', async () => {
    const attack = Promise.all(Array.from({ length: 60 }, () => token(OWNER.id, 'guess', '203.0.113.9')));
    const owner = await token(OWNER.id, OWNER.secret, '198.51.100.30');
    expect(owner.statusCode).toBe(200);
    expect(statusCounts(await attack)).toEqual({ 401: 3, 429: 57 });
    expect((await token(OWNER.id, OWNER.secret, '198.51.100.30')).statusCode).toBe(200);
    expectRefusals([await token(OWNER.id, OWNER.secret, '203.0.113.9')]);
  });

  it('the right secret sent while the allowance is taken by guesses still being hashed is refused', async () => {
    const source = '10.33.0.1';
    const before = app.serviceClients.secretChecks();
    // SLOW's secret is checked with Argon2id: the three guesses are still computing when the rest arrive.
    const guesses = Array.from({ length: 3 }, () => token(SLOW.id, 'guess', source));
    await until(() => app.serviceClients.secretChecks() - before >= 3);
    const late = await Promise.all([
      ...Array.from({ length: 20 }, () => token(SLOW.id, 'guess', source)),
      token(SLOW.id, SLOW.secret, source),
    ]);
    expect(statusCounts(await Promise.all(guesses))).toEqual({ 401: 3 });
    expect(statusCounts(late)).toEqual({ 429: 21 });
    expect(app.serviceClients.secretChecks() - before).toBe(3);
  });
});
