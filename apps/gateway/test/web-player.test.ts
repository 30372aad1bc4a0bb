/** The web player's files and the security headers it relies on (plugins/web-player.ts). */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HLS_DIST_DIR, HLS_FILES, PUBLIC_DIR } from '../src/plugins/web-player.js';
import { buildTestApp, login, testConfig } from './support/gateway.js';

const html = readFileSync(join(PUBLIC_DIR, 'index.html'), 'utf8');
const script = readFileSync(join(PUBLIC_DIR, 'app.js'), 'utf8');

function directives(csp: string): Map<string, string[]> {
  return new Map(
    csp
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((parts) => parts[0])
      .map(([name, ...values]) => [name as string, values]),
  );
}

describe('web player', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildTestApp(
      testConfig('memory', { MEDIA_PUBLIC_URL: 'https://media.example.com:8443/base/' }),
    );
  });
  afterAll(async () => app.close());

  it('serves the page at / and its script and styles', async () => {
    const page = await app.inject({ method: 'GET', url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('<audio');
    for (const file of readdirSync(PUBLIC_DIR)) {
      const res = await app.inject({ method: 'GET', url: `/${file}` });
      expect(res.statusCode, file).toBe(200);
    }
    const js = await app.inject({ method: 'GET', url: '/app.js' });
    expect(js.headers['content-type']).toMatch(/javascript/);
  });

  it('sends a CSP that forbids inline script and style and names the media origin', async () => {
    const res = await app.inject({ method: 'GET', url: '/' });
    const csp = directives(String(res.headers['content-security-policy']));
    expect(csp.get('script-src')).toEqual(["'self'"]);
    expect(csp.get('style-src')).toEqual(["'self'"]);
    // hls.js: XHR to media for playlists and segments, MSE blob: URLs for the <video>, its own worker
    expect(csp.get('connect-src')).toEqual(["'self'", 'https://media.example.com:8443']);
    expect(csp.get('media-src')).toEqual(["'self'", 'blob:', 'https://media.example.com:8443']);
    expect(csp.get('worker-src')).toEqual(["'self'"]);
    expect(csp.get('object-src')).toEqual(["'none'"]);
    expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
    // Over plain http (pnpm start) an upgrade would break media requests; this config is not secure.
    expect(csp.has('upgrade-insecure-requests')).toBe(false);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    // Media is another origin: COEP would make the <audio> element need CORP/CORS from media.
    expect(res.headers['cross-origin-embedder-policy']).toBeUndefined();
  });

  it('upgrades insecure requests and sends HSTS only when cookies are secure', async () => {
    const secure = await buildTestApp(testConfig('memory', { COOKIE_SECURE: 'true' }));
    try {
      const res = await secure.inject({ method: 'GET', url: '/' });
      expect(
        directives(String(res.headers['content-security-policy'])).has('upgrade-insecure-requests'),
      ).toBe(true);
      expect(res.headers['strict-transport-security']).toMatch(/max-age=\d+/);
    } finally {
      await secure.close();
    }
    const plain = await app.inject({ method: 'GET', url: '/' });
    expect(plain.headers['strict-transport-security']).toBeUndefined();
  });

  it('the page satisfies that CSP: no inline script, style or event handler', () => {
    for (const tag of html.match(/<script\b[^>]*>[\s\S]*?<\/script>/g) ?? []) {
      expect(tag).toMatch(/\ssrc="\/[^"]+"/);
      expect(tag).toMatch(/>\s*<\/script>$/);
    }
    expect(html).not.toMatch(/<style\b/i);
    expect(html).not.toMatch(/\sstyle=/i);
    expect(html).not.toMatch(/\son[a-z]+=/i);
    expect(script).not.toMatch(/\.innerHTML\s*=|insertAdjacentHTML|eval\(|new Function/);
  });

  it('has the accessible names the contract fixes, and every element the script looks up', () => {
    expect(html).toMatch(/<label for="email">Email<\/label>/);
    expect(html).toMatch(/<label for="password">Password<\/label>/);
    expect(html).toMatch(/<button type="submit"[^>]*>Sign in<\/button>/);
    expect(html).toMatch(/>Sign out<\/button>/);
    expect(html).toMatch(/>Sign out everywhere<\/button>/);
    expect(script).toContain("'This device'");
    expect(script).toContain("'Revoke'");
    expect(html).toMatch(/<label for="current-password">Current password<\/label>/);
    expect(html).toMatch(/<label for="new-password">New password<\/label>/);
    expect(html).toMatch(/<button type="submit"[^>]*>Change password<\/button>/);
    for (const [, id] of script.matchAll(/\$\('([a-z-]+)'\)/g)) expect(html, id).toContain(`id="${id}"`);
  });

  it('applies the security headers to the API too, and leaves unknown paths to the JSON 404', async () => {
    const session = await login(app);
    const me = await app.inject({ method: 'GET', url: '/auth/me', headers: { cookie: session.cookie } });
    expect(me.statusCode).toBe(200);
    expect(me.headers['x-content-type-options']).toBe('nosniff');
    const missing = await app.inject({ method: 'GET', url: '/no-such-file.js' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: 'not_found' });
    const dotfile = await app.inject({ method: 'GET', url: '/../package.json' });
    expect(dotfile.statusCode).toBe(404);
  });
});

describe('hls.js for the page', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildTestApp(testConfig('memory'));
  });
  afterAll(async () => app.close());

  it('serves the hls.js module and its worker from the npm package, under the page headers', async () => {
    for (const file of HLS_FILES) {
      const res = await app.inject({ method: 'GET', url: `/vendor/${file}` });
      expect(res.statusCode, file).toBe(200);
      expect(res.headers['content-type'], file).toMatch(/javascript/);
      expect(res.rawPayload.equals(readFileSync(join(HLS_DIST_DIR, file))), file).toBe(true);
      expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    }
    expect(script).toContain("'/vendor/hls.light.min.mjs'");
    expect(script).toContain("'/vendor/hls.worker.js'");
  });

  it('serves nothing else from the package', async () => {
    for (const url of ['/vendor/hls.js', '/vendor/hls.min.mjs', '/vendor/../package.json', '/vendor/']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
    }
  });
});
