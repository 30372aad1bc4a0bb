#!/usr/bin/env node
// What the compose stack must do, checked from the host against the running containers (run-stack.sh calls
// this; it needs a built workspace for the demo media's expected bytes):
//   node prove.mjs demo <gatewayUrl> <mediaUrl>         the demo listener signs in through the gateway
//        container, mints a token, streams a range byte-exact through media from the store; /metrics is not
//        served on either published port
//   node prove.mjs production <gatewayUrl> <mediaUrl> <email> <password>
//        no demo users (their sign-in is refused), no demo media (a real user's library is empty)
// Exits non-zero with the reason on the first failed check.
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const [mode, gateway, media, email, password] = process.argv.slice(2);

function check(ok, what) {
  if (!ok) {
    console.error(`FAILED: ${what}`);
    process.exit(1);
  }
  console.log(`ok: ${what}`);
}

async function waitReady(url, ms = 90_000) {
  const until = Date.now() + ms;
  let last = '';
  while (Date.now() < until) {
    try {
      const res = await fetch(url);
      last = `${res.status} ${await res.text()}`;
      if (res.ok) return;
    } catch (error) {
      last = error.cause?.code ?? error.message;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  check(false, `${url} answers 200 (last: ${last})`);
}

async function signIn(user, pass) {
  const res = await fetch(`${gateway}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: user, password: pass }),
  });
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0];
  return { status: res.status, cookie, body: await res.json() };
}

await waitReady(`${gateway}/readyz`);
await waitReady(`${media}/readyz`);

if (mode === 'demo') {
  const { DEMO_LISTENER } = await import(pathToFileURL(join(root, 'packages/shared/dist/demo.js')).href);
  const { DEMO_OBJECTS } = await import(pathToFileURL(join(root, 'packages/fixtures/dist/seed.js')).href);
  const session = await signIn(DEMO_LISTENER.email, DEMO_LISTENER.password);
  check(
    session.status === 200 && /^sid=/.test(session.cookie),
    'the demo listener signs in through the gateway container',
  );
  const library = await (
    await fetch(`${gateway}/media/library`, { headers: { cookie: session.cookie } })
  ).json();
  const key = 'catalog/evening-tones.wav';
  check(
    library.items?.some((item) => item.key === key),
    'the library (gateway → media → store) lists the seeded demo media',
  );
  const minted = await fetch(`${gateway}/media/tokens`, {
    method: 'POST',
    headers: {
      cookie: session.cookie,
      'x-csrf-token': session.body.csrfToken,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ key }),
  });
  const { url } = await minted.json();
  check(
    minted.status === 201 && new URL(url).port === new URL(media).port,
    `a media token is minted for ${key}, its URL on media's published port (${new URL(url).origin})`,
  );
  const expected = DEMO_OBJECTS.find((o) => o.key === key).body();
  const [start, end] = [123_457, 123_457 + 65_535];
  const range = await fetch(url, { headers: { range: `bytes=${start}-${end}` } });
  const got = Buffer.from(await range.arrayBuffer());
  check(
    range.status === 206 &&
      range.headers.get('content-range') === `bytes ${start}-${end}/${expected.length}` &&
      got.equals(expected.subarray(start, end + 1)),
    `a 64 KiB range streams through the media container from the store, byte-exact (${got.length} bytes)`,
  );
  const forged = await fetch(url.replace(/token=[^&]+/, 'token=forged.forged.forged'));
  check(forged.status === 401, 'media refuses a forged token');
  for (const base of [gateway, media]) {
    const res = await fetch(`${base}/metrics`);
    check(res.status === 404, `${base}/metrics is not served on the published port (${res.status})`);
  }
} else if (mode === 'production') {
  const { DEMO_LISTENER, DEMO_ADMIN } = await import(
    pathToFileURL(join(root, 'packages/shared/dist/demo.js')).href
  );
  for (const demo of [DEMO_LISTENER, DEMO_ADMIN]) {
    check(
      (await signIn(demo.email, demo.password)).status === 401,
      `no demo user: ${demo.email} cannot sign in`,
    );
  }
  const session = await signIn(email, password);
  check(
    session.status === 200 && /^__Host-sid=/.test(session.cookie),
    'a user made with the users CLI signs in (secure cookie)',
  );
  const library = await fetch(`${gateway}/media/library`, { headers: { cookie: session.cookie } });
  const body = await library.json();
  check(
    library.status === 200 && Array.isArray(body.items) && body.items.length === 0,
    'no demo media: the library is empty',
  );
} else {
  console.error('usage: prove.mjs demo|production <gatewayUrl> <mediaUrl> [email password]');
  process.exit(64);
}
