/**
 * Criterion 5, "the key layout works on Redis Cluster": the whole sign-in surface against a real
 * 3-master Cluster. A multi-key command or script over keys of different slots fails there with
 * CROSSSLOT, so any layout mistake fails these requests.
 */
import type { FastifyInstance } from 'fastify';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildTestApp,
  DEMO_ADMIN,
  DEMO_LISTENER,
  login,
  me,
  randomPrefix,
  testConfig,
} from './support/gateway.js';
import { startCluster } from './support/redis-servers.js';
import { openSse, type SseReader } from './support/sse.js';

describe('gateway on a Redis Cluster', () => {
  let cluster: { ports: number[]; stop: () => Promise<void> };
  let app: FastifyInstance;
  let client: Cluster;
  const prefix = randomPrefix();
  beforeAll(async () => {
    cluster = await startCluster();
    app = await buildTestApp(
      testConfig(
        'redis',
        {
          REDIS_URL: `redis://127.0.0.1:${cluster.ports[0]}`,
          REDIS_CLUSTER: 'true',
          LOGIN_MAX_FAILURES_PER_ACCOUNT: '2',
        },
        prefix,
      ),
    );
    client = new Cluster([{ host: '127.0.0.1', port: cluster.ports[0] ?? 0 }]);
  });
  afterAll(async () => {
    await app?.close();
    client?.disconnect();
    await cluster?.stop();
  });

  it('spreads keys over the masters, with each user’s keys in one slot', async () => {
    const s1 = await login(app);
    await login(app, DEMO_ADMIN.email, DEMO_ADMIN.password);
    expect((await me(app, s1.cookie)).statusCode).toBe(200);
    const keys: string[] = [];
    for (const node of client.nodes('master')) keys.push(...(await node.keys(`${prefix}*`)));
    const slotOf = async (key: string) => Number(await client.cluster('KEYSLOT', key));
    const listenerKeys = keys.filter((k) => k.includes(`{u:${DEMO_LISTENER.id}}`));
    expect(listenerKeys.length).toBeGreaterThanOrEqual(3); // user, session, index
    const slots = new Set(await Promise.all(listenerKeys.map(slotOf)));
    expect(slots.size).toBe(1);
    const allSlots = new Set(await Promise.all(keys.map(slotOf)));
    expect(allSlots.size).toBeGreaterThan(2);
  });

  it('runs every session operation without CROSSSLOT errors', async () => {
    const a = await login(app);
    const b = await login(app, DEMO_LISTENER.email, DEMO_LISTENER.password, { cookie: a.cookie });
    expect((await me(app, a.cookie)).statusCode).toBe(401);
    const c = await login(app);
    const list = await app.inject({ method: 'GET', url: '/auth/sessions', headers: { cookie: b.cookie } });
    expect(list.statusCode).toBe(200);
    const other = (list.json().sessions as Array<{ id: string; current: boolean }>).find((s) => !s.current);
    expect(other).toBeDefined();
    const revoke = await app.inject({
      method: 'DELETE',
      url: `/auth/sessions/${other?.id}`,
      headers: { cookie: b.cookie, 'x-csrf-token': b.csrfToken },
    });
    expect(revoke.statusCode).toBe(204);
    expect(await app.sessionStore.isAlive(other?.id ?? '')).toBe(false);
    const d = await login(app);
    const all = await app.inject({
      method: 'POST',
      url: '/auth/logout-all',
      headers: { cookie: b.cookie, 'x-csrf-token': b.csrfToken },
    });
    expect(all.statusCode).toBe(204);
    for (const s of [b, c, d]) expect((await me(app, s.cookie)).statusCode).toBe(401);
    // Users: create, role change, rehash path; attempt counters.
    const user = await app.users.create({
      email: 'c@example.com',
      name: 'C',
      role: 'user',
      password: 'cluster-pass-1',
    });
    expect(await app.users.setRole(user.id, 'admin')).toBe(true);
    for (let i = 0; i < 2; i++) {
      const res = await app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: user.email, password: 'x' },
      });
      expect(res.statusCode).toBe(401);
    }
    const blocked = await app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: user.email, password: 'cluster-pass-1' },
    });
    expect(blocked.statusCode).toBe(429);
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });

  it('account actions: lists users from every master, changes a password, disables and enables', async () => {
    const admin = await login(app, DEMO_ADMIN.email, DEMO_ADMIN.password);
    const as = { cookie: admin.cookie, 'x-csrf-token': admin.csrfToken };
    const created = [];
    for (let i = 0; i < 12; i++) {
      created.push(
        await app.users.create({
          email: `spread${i}@example.com`,
          name: 'S',
          role: 'user',
          password: 'spread-pass-1',
        }),
      );
    }
    const list = await app.inject({ method: 'GET', url: '/admin/users', headers: { cookie: admin.cookie } });
    expect(list.statusCode).toBe(200);
    const ids = (list.json().users as Array<{ id: string }>).map((u) => u.id);
    expect(ids).toEqual(
      expect.arrayContaining([DEMO_ADMIN.id, DEMO_LISTENER.id, ...created.map((u) => u.id)]),
    );
    const target = created[0];
    const s = await login(app, target?.email, 'spread-pass-1');
    const other = await login(app, target?.email, 'spread-pass-1');
    const changed = await app.inject({
      method: 'POST',
      url: '/auth/password',
      payload: { currentPassword: 'spread-pass-1', newPassword: 'spread-pass-2-longer' },
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrfToken },
    });
    expect(changed.statusCode).toBe(204);
    expect((await me(app, other.cookie)).statusCode).toBe(401);
    const disabled = await app.inject({
      method: 'POST',
      url: `/admin/users/${target?.id}/disable`,
      headers: as,
    });
    expect(disabled.statusCode).toBe(204);
    const refused = await app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: target?.email, password: 'spread-pass-2-longer' },
    });
    expect(refused.statusCode).toBe(401);
    const enabled = await app.inject({
      method: 'POST',
      url: `/admin/users/${target?.id}/enable`,
      headers: as,
    });
    expect(enabled.statusCode).toBe(204);
    await login(app, target?.email, 'spread-pass-2-longer');
  });

  it('a session ended through one instance reaches the page stream held by another (pub/sub on a Cluster)', async () => {
    const other = await buildTestApp(
      testConfig(
        'redis',
        { REDIS_URL: `redis://127.0.0.1:${cluster.ports[0]}`, REDIS_CLUSTER: 'true' },
        prefix,
      ),
    );
    try {
      const url = await other.listen({ host: '127.0.0.1', port: 0 });
      const victim = await login(app);
      // The other instance subscribes once its Cluster client is ready; until then a push could be missed.
      await expect.poll(() => (other.stores.revocations as { subscribed?: boolean }).subscribed).toBe(true);
      const events = (await openSse(`${url}/auth/events`, { cookie: victim.cookie })).reader as SseReader;
      const out = await app.inject({
        method: 'POST',
        url: '/auth/logout',
        headers: { cookie: victim.cookie, 'x-csrf-token': victim.csrfToken },
      });
      expect(out.statusCode).toBe(204);
      expect(await events.next()).toEqual({ event: 'session-ended', data: { reason: 'logout' } });
      const snapshot = await other.stores.revocations.snapshot();
      expect(snapshot.length).toBeGreaterThan(0);
    } finally {
      await other.close();
    }
  });
});
