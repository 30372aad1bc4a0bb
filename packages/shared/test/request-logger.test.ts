import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { REDACT_PATHS } from '../src/redact.js';
import { LazyRequestLogger, lazyRequestLoggers } from '../src/request-logger.js';
import { captureLogLines } from './support/log-capture.js';

describe('lazyRequestLoggers (a request logger made on its first line)', () => {
  let app: FastifyInstance;
  afterEach(async () => app?.close());

  async function build(level: string) {
    const { lines, stream } = captureLogLines();
    app = Fastify({
      logger: { level, stream, redact: { paths: REDACT_PATHS, censor: '[REDACTED]' } },
      childLoggerFactory: lazyRequestLoggers,
    });
    const seen: { lazy: boolean; materialized: boolean }[] = [];
    app.get('/quiet', async (request) => {
      request.log.info({ password: 'hunter2' }, 'below the level');
      const log = request.log as unknown as LazyRequestLogger;
      seen.push({ lazy: log instanceof LazyRequestLogger, materialized: log.materialized });
      return { ok: true };
    });
    app.get('/loud', async (request) => {
      request.log.warn({ password: 'hunter2', token: 'abc', user: { password: 'x' } }, 'written');
      return { ok: true };
    });
    app.get('/audit', async (request) => {
      request.log.child({}, { level: 'info' }).info({ event: 'audit' }, 'audited');
      return { ok: true };
    });
    app.get('/own-level', { logLevel: 'debug' }, async (request) => {
      request.log.debug('route level');
      return { ok: true };
    });
    await app.ready();
    return { lines, seen };
  }

  it('makes no child for a request that writes nothing at an enabled level', async () => {
    const { lines, seen } = await build('warn');
    const res = await app.inject({ method: 'GET', url: '/quiet' });
    expect(res.statusCode).toBe(200);
    expect(seen).toEqual([{ lazy: true, materialized: false }]);
    expect(lines).toEqual([]);
  });

  it('a line that is written carries reqId and passes the same redaction', async () => {
    const { lines } = await build('warn');
    await app.inject({ method: 'GET', url: '/loud' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, msg: 'written', reqId: 'req-1' });
    expect(lines[0]?.password).toBe('[REDACTED]');
    expect(lines[0]?.token).toBe('[REDACTED]');
    expect(lines[0]?.user).toEqual({ password: '[REDACTED]' });
    expect(JSON.stringify(lines)).not.toContain('hunter2');
  });

  it("at info, Fastify's own request lines carry reqId as before", async () => {
    const { lines } = await build('info');
    await app.inject({ method: 'GET', url: '/quiet', headers: { cookie: 'sid=secret' } });
    const messages = lines.map((l) => [l.msg, l.reqId]);
    expect(messages).toEqual([
      ['incoming request', 'req-1'],
      ['below the level', 'req-1'],
      ['request completed', 'req-1'],
    ]);
    expect(lines[1]?.password).toBe('[REDACTED]');
  });

  it('a child with its own level writes even when the app is quieter (the audit lines)', async () => {
    const { lines } = await build('warn');
    await app.inject({ method: 'GET', url: '/audit' });
    expect(lines).toEqual([
      expect.objectContaining({ level: 30, msg: 'audited', event: 'audit', reqId: 'req-1' }),
    ]);
  });

  it("a route's own logLevel gets a real child at once, as without the factory", async () => {
    const { lines } = await build('warn');
    await app.inject({ method: 'GET', url: '/own-level' });
    expect(lines.map((l) => [l.msg, l.reqId])).toEqual([
      ['incoming request', 'req-1'],
      ['route level', 'req-1'],
      ['request completed', 'req-1'],
    ]);
  });
});
