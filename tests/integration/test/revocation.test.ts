/**
 * Revocation across instances (CONTRACT.md, Revocation): two gateways on one Redis, media replicas each
 * following the feed of one of them. A session ended through gateway A is refused by every replica with
 * 401 `token_revoked` and its in-flight downloads are cut, within 1 s of A's answer; the user's other
 * sessions keep working; a replica started later refuses it from its first request; and a replica whose
 * gateway is away keeps serving, says so in /readyz, and catches up within 1 s of the gateway's return.
 * The 1 s bounds are the contract's own; on loopback the measured times are a few milliseconds.
 */
import { randomBytes } from 'node:crypto';
import { DEMO_ADMIN, DEMO_LISTENER } from '@stagedoor/shared/demo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MediaReplica, type Replicas, slowDownload, startReplicas } from '../src/replicas.js';
import { type BrowserSession, mintToken, signIn } from '../src/stack.js';

const SMALL_KEY = 'catalog/short.wav';
const LARGE_KEY = 'catalog/long.wav';
const SMALL = randomBytes(4096);
const LARGE = randomBytes(24 * 1024 * 1024);
const BOUND_MS = 1000;

let replicas: Replicas;
let gatewayA: string;
let gatewayB: string;

beforeAll(async () => {
  replicas = await startReplicas({ gateways: 2, medias: 2 });
  gatewayA = replicas.gateways[0]?.url as string;
  gatewayB = replicas.gateways[1]?.url as string;
  await replicas.putObject(SMALL_KEY, SMALL, 'audio/wav');
  await replicas.putObject(LARGE_KEY, LARGE, 'audio/wav');
}, 120_000);
afterAll(async () => replicas?.close());

const media = (i: number) => replicas.medias[i] as MediaReplica;

async function tokenFor(gateway: string, session: BrowserSession, key = SMALL_KEY): Promise<string> {
  const res = await mintToken(gateway, session, { key });
  expect(res.status).toBe(201);
  return ((await res.json()) as { token: string }).token;
}

function objectUrl(replica: MediaReplica, token: string, key = SMALL_KEY): string {
  return `${replica.url}/v1/objects/${key.split('/').map(encodeURIComponent).join('/')}?token=${token}`;
}

/** Status and error code of one GET; status 0 when the response was cut (reset) midway. */
async function fetchStatus(
  replica: MediaReplica,
  token: string,
): Promise<{ status: number; error?: string }> {
  try {
    const res = await fetch(objectUrl(replica, token));
    if (res.status === 200) {
      await res.arrayBuffer();
      return { status: 200 };
    }
    return { status: res.status, error: ((await res.json()) as { error: string }).error };
  } catch {
    return { status: 0 };
  }
}

/** Polls until the replica refuses the token as revoked; returns the ms from `since`. */
async function refusedWithin(replica: MediaReplica, token: string, since: number): Promise<number> {
  for (;;) {
    const { status, error } = await fetchStatus(replica, token);
    const elapsed = performance.now() - since;
    if (status === 401 && error === 'token_revoked') return elapsed;
    if (elapsed > 5000) throw new Error(`still ${status} after ${Math.round(elapsed)} ms`);
  }
}

function unsafe(gateway: string, session: BrowserSession, method: string, path: string) {
  return fetch(`${gateway}${path}`, {
    method,
    headers: { cookie: session.cookie, 'x-csrf-token': session.csrfToken },
  });
}

describe('a device revoked through gateway A', () => {
  it('is refused by both replicas (401 token_revoked) and its downloads on both are cut, within 1 s', async () => {
    const lost = await signIn(gatewayA);
    const kept = await signIn(gatewayB);
    const lostToken = await tokenFor(gatewayA, lost);
    const lostLarge = await tokenFor(gatewayA, lost, LARGE_KEY);
    const keptToken = await tokenFor(gatewayB, kept);
    for (const i of [0, 1]) {
      expect((await fetchStatus(media(i), lostToken)).status).toBe(200);
      expect((await fetchStatus(media(i), keptToken)).status).toBe(200);
    }
    const downloads = await Promise.all(
      [0, 1].map((i) => slowDownload(objectUrl(media(i), lostLarge, LARGE_KEY))),
    );
    await new Promise((r) => setTimeout(r, 200));
    for (const d of downloads) expect(d.received).toBeGreaterThan(0);

    const res = await unsafe(gatewayA, kept, 'DELETE', `/auth/sessions/${lost.sessionId}`);
    expect(res.status).toBe(204);
    const answeredAt = performance.now();

    const latencies = await Promise.all([0, 1].map((i) => refusedWithin(media(i), lostToken, answeredAt)));
    for (const ms of latencies) expect(ms).toBeLessThan(BOUND_MS);
    const cuts = await Promise.all(downloads.map((d) => d.ended));
    for (const [i, cut] of cuts.entries()) {
      expect(cut.complete).toBe(false);
      expect(cut.at - answeredAt).toBeLessThan(BOUND_MS);
      expect(downloads[i]?.received).toBeLessThan(LARGE.length);
    }
    // The same token that streamed a moment ago, and the cached verification of it, are refused too.
    const again = await fetch(objectUrl(media(0), lostLarge, LARGE_KEY), { headers: { range: 'bytes=0-9' } });
    expect(again.status).toBe(401);
    expect(((await again.json()) as { error: string }).error).toBe('token_revoked');
    // The user's other session keeps working on both replicas.
    for (const i of [0, 1]) expect((await fetchStatus(media(i), keptToken)).status).toBe(200);
  });
});

describe('every kind of session end revokes', () => {
  const cases: Array<{
    name: string;
    act: (victim: BrowserSession, other: BrowserSession) => Promise<Response>;
    /** Whether `other` (another session of the same user) ends too. */
    otherEnds: boolean;
  }> = [
    { name: 'sign-out', act: (v) => unsafe(gatewayA, v, 'POST', '/auth/logout'), otherEnds: false },
    {
      name: 'sign out everywhere',
      act: (v) => unsafe(gatewayA, v, 'POST', '/auth/logout-all'),
      otherEnds: true,
    },
    {
      name: 'a device revoked',
      act: (v, o) => unsafe(gatewayA, o, 'DELETE', `/auth/sessions/${v.sessionId}`),
      otherEnds: false,
    },
    {
      name: 'an admin revoking the user',
      act: async () => {
        const admin = await signIn(gatewayA, DEMO_ADMIN.email, DEMO_ADMIN.password);
        return unsafe(gatewayA, admin, 'DELETE', `/admin/users/${DEMO_LISTENER.id}/sessions`);
      },
      otherEnds: true,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: the ended sessions' tokens are refused on both replicas; no other session's`, async () => {
      const victim = await signIn(gatewayB);
      const other = await signIn(gatewayB);
      const victimToken = await tokenFor(gatewayB, victim);
      const otherToken = await tokenFor(gatewayB, other);
      const res = await c.act(victim, other);
      expect(res.status).toBe(204);
      const answeredAt = performance.now();
      for (const i of [0, 1])
        expect(await refusedWithin(media(i), victimToken, answeredAt)).toBeLessThan(BOUND_MS);
      for (const i of [0, 1]) {
        const result = await fetchStatus(media(i), otherToken);
        if (c.otherEnds) expect(result).toEqual({ status: 401, error: 'token_revoked' });
        else expect(result.status).toBe(200);
      }
    });
  }
});

describe('a replica started after the revocation', () => {
  it('refuses the token from its first request', async () => {
    const session = await signIn(gatewayA);
    const token = await tokenFor(gatewayA, session);
    expect((await unsafe(gatewayA, session, 'POST', '/auth/logout')).status).toBe(204);
    const late = await replicas.startMedia(replicas.gateways[1] as never);
    expect(await fetchStatus(late, token)).toEqual({ status: 401, error: 'token_revoked' });
  });
});

describe('the feed down and back', () => {
  it('media keeps serving valid tokens and says degraded; revocations made meanwhile apply within 1 s of its return', async () => {
    const gatewayBInstance = replicas.gateways[1] as never as Parameters<Replicas['stopGateway']>[0];
    const follower = media(1); // follows gateway B
    const valid = await signIn(gatewayA);
    const doomed = await signIn(gatewayA);
    const validToken = await tokenFor(gatewayA, valid);
    const doomedToken = await tokenFor(gatewayA, doomed);
    const ready = await (await fetch(`${follower.url}/readyz`)).json();
    expect(ready).toMatchObject({ status: 'ready', details: { revocationFeed: { ok: true, state: 'up' } } });

    await replicas.stopGateway(gatewayBInstance);
    let readyz: Response | undefined;
    for (let i = 0; i < 100; i++) {
      readyz = await fetch(`${follower.url}/readyz`);
      const body = (await readyz.clone().json()) as { status: string };
      if (body.status === 'degraded') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(readyz?.status).toBe(200);
    expect(await readyz?.json()).toMatchObject({
      status: 'degraded',
      details: { revocationFeed: { ok: false, state: 'down' } },
    });
    // Revoked through gateway A while B is away: the follower has not heard and serves on (the TTL
    // bound), and valid tokens keep working.
    expect((await unsafe(gatewayA, doomed, 'POST', '/auth/logout')).status).toBe(204);
    expect((await fetchStatus(follower, doomedToken)).status).toBe(200);
    expect((await fetchStatus(follower, validToken)).status).toBe(200);
    expect((await fetchStatus(media(0), doomedToken)).error).toBe('token_revoked');

    await replicas.startGateway(gatewayBInstance);
    const backAt = performance.now();
    expect(await refusedWithin(follower, doomedToken, backAt)).toBeLessThan(BOUND_MS);
    expect((await fetchStatus(follower, validToken)).status).toBe(200);
    expect(await (await fetch(`${follower.url}/readyz`)).json()).toMatchObject({ status: 'ready' });
  });
});
