// The floors the gateway's hot paths are measured against (issue 15): the least correct work a
// session read and a mint need, in a plain Fastify route, with nothing of the gateway's own code.
//
// - session read: parse the Cookie header, check the signed cookie's HMAC-SHA256 (as @fastify/cookie
//   signs it: `<value>.<base64 HMAC without padding>`), SHA-256 the secret (the store's key), one Redis
//   GET and a JSON.parse of what it holds. Nothing cached between requests.
// - mint: that session read, a JSON body, the contract's claims, and one node:crypto Ed25519 signature
//   of the compact JWS.
import {
  createHash,
  createHmac,
  generateKeyPairSync,
  randomBytes,
  randomUUID,
  sign,
  timingSafeEqual,
} from 'node:crypto';
import Fastify from 'fastify';
import { Redis } from 'ioredis';

const b64url = (text) => Buffer.from(text).toString('base64url');

function signCookie(value, secret) {
  return `${value}.${createHmac('sha256', secret).update(value).digest('base64').replace(/=+$/, '')}`;
}

function unsignCookie(signed, secret) {
  const dot = signed.lastIndexOf('.');
  if (dot < 1) return null;
  const value = signed.slice(0, dot);
  const expected = Buffer.from(signCookie(value, secret));
  const given = Buffer.from(signed);
  return expected.length === given.length && timingSafeEqual(expected, given) ? value : null;
}

function cookieValue(header, name) {
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

/** A Fastify app with `GET /me` (the session-read floor) and `POST /mint` (the mint floor). */
export async function startFloorServer({ redisUrl, prefix, secret, autoPipelining = false }) {
  // `autoPipelining`: the same floor with ioredis batching the commands issued in one tick into one write,
  // as the gateway's client does (bench/sessions compares the gateway with both).
  const redis = new Redis(redisUrl, { enableAutoPipelining: autoPipelining });
  const sessionSecret = randomBytes(32).toString('base64url');
  const hash = createHash('sha256').update(sessionSecret).digest('base64url');
  const user = { id: 'usr_bench', email: 'bench@example.com', name: 'Bench', role: 'user' };
  await redis.set(`${prefix}floor:${hash}`, JSON.stringify({ id: 'ses_floor', user }));
  const cookie = `sid=${encodeURIComponent(signCookie(sessionSecret, secret))}`;
  const { privateKey } = generateKeyPairSync('ed25519');
  const header = b64url(JSON.stringify({ alg: 'EdDSA', kid: 'floor', typ: 'media+jwt' }));

  const lookup = async (request) => {
    const raw = cookieValue(request.headers.cookie, 'sid');
    const value = raw === undefined ? null : unsignCookie(raw, secret);
    if (value === null) return null;
    const key = `${prefix}floor:${createHash('sha256').update(value).digest('base64url')}`;
    const stored = await redis.get(key);
    return stored === null ? null : JSON.parse(stored);
  };

  const app = Fastify({ logger: false });
  app.get('/me', async (request, reply) => {
    const session = await lookup(request);
    if (session === null) return reply.code(401).send({ error: 'unauthenticated' });
    return { user: session.user, session: { id: session.id } };
  });
  app.post('/mint', async (request, reply) => {
    const session = await lookup(request);
    if (session === null) return reply.code(401).send({ error: 'unauthenticated' });
    const key = request.body?.key;
    if (typeof key !== 'string') return reply.code(400).send({ error: 'invalid_key' });
    const iat = Math.floor(Date.now() / 1000);
    const claims = {
      sid: session.id,
      key,
      iss: 'http://localhost:8080',
      aud: 'stagedoor-media',
      sub: session.user.id,
      iat,
      exp: iat + 300,
      jti: randomUUID(),
    };
    const input = `${header}.${b64url(JSON.stringify(claims))}`;
    const token = `${input}.${sign(null, Buffer.from(input), privateKey).toString('base64url')}`;
    reply.code(201);
    return {
      token,
      url: `http://localhost:8081/v1/objects/${key}?token=${token}`,
      expiresAt: new Date((iat + 300) * 1000).toISOString(),
    };
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { port: app.server.address().port, cookie };
}
