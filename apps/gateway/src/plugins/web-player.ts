/**
 * The web player (CONTRACT.md, The web player): the static page in `apps/gateway/public` at `/`, and the
 * security headers of every gateway response (helmet). The page is plain files with no inline script or
 * style, so the Content-Security-Policy can forbid both; `media-src` names the media origin (tokenized URLs
 * point there) and `connect-src` limits fetch() to the gateway and media. HLS plays through hls.js, served
 * from the `hls.js` package at `/vendor/` (no CDN); the CSP allows what it needs and no more (README, "The
 * web player": `blob:` media for Media Source Extensions, XHR to the media origin, a same-origin worker).
 *
 * The headers are computed once, by helmet itself, at start-up: @fastify/helmet runs helmet (and re-parses
 * the CSP) on every request, which measured 40-60 µs of CPU per request, more than half of what a
 * signed-in `GET /auth/me` costs. Nothing in them depends on the request.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import helmet, { type HelmetOptions } from 'helmet';
import type { GatewayConfig } from '../config.js';

export const PUBLIC_DIR = fileURLToPath(new URL('../../public/', import.meta.url));

/**
 * hls.js as the page loads it: the light ES module build (playback without subtitles, alternate audio
 * or DRM, which the catalog does not use) and its transmuxing worker, straight from the npm package.
 */
export const HLS_DIST_DIR = dirname(createRequire(import.meta.url).resolve('hls.js/dist/hls.light.min.mjs'));
export const HLS_FILES = ['hls.light.min.mjs', 'hls.worker.js'] as const;

export interface WebPlayerOptions {
  config: Pick<GatewayConfig, 'mediaPublicUrl' | 'session' | 'production'>;
  /** Where the page's files are (tests may point elsewhere). */
  root?: string;
}

export function contentSecurityPolicy(config: WebPlayerOptions['config']) {
  const secure = config.session.cookieSecure;
  return {
    useDefaults: false,
    directives: {
      'default-src': ["'self'"],
      'script-src': ["'self'"],
      'style-src': ["'self'"],
      'img-src': ["'self'", 'data:'],
      'font-src': ["'self'"],
      // blob: is the MediaSource object URL hls.js gives the <video> element; it names no outside origin.
      'media-src': ["'self'", 'blob:', config.mediaPublicUrl.origin],
      // hls.js fetches playlists and segments from media with XHR (CORS, no credentials).
      'connect-src': ["'self'", config.mediaPublicUrl.origin],
      // hls.js transmuxes in /vendor/hls.worker.js (same origin; never a blob: worker).
      'worker-src': ["'self'"],
      'object-src': ["'none'"],
      'base-uri': ["'none'"],
      'form-action': ["'self'"],
      'frame-ancestors': ["'none'"],
      // Over plain http (pnpm start on localhost) an upgrade would send media requests to https.
      ...(secure ? { 'upgrade-insecure-requests': [] } : {}),
    },
  };
}

export function securityHeaderOptions(config: WebPlayerOptions['config']): HelmetOptions {
  return {
    contentSecurityPolicy: contentSecurityPolicy(config),
    // Media is another origin (port); the <audio> element loads it without CORS, so no COEP here,
    // and CORP is left to media's own responses.
    crossOriginEmbedderPolicy: false,
    crossOriginResourcePolicy: { policy: 'same-origin' },
    referrerPolicy: { policy: 'no-referrer' },
    frameguard: { action: 'deny' },
    strictTransportSecurity: config.session.cookieSecure
      ? { maxAge: 180 * 24 * 3600, includeSubDomains: true }
      : false,
  };
}

/** Runs helmet once against a recording response and returns the headers it would set. */
export function computeSecurityHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  let failure: unknown;
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, (error?: unknown) => {
    failure = error;
  });
  if (failure) throw failure;
  return headers;
}

async function webPlayer(app: FastifyInstance, options: WebPlayerOptions): Promise<void> {
  const headers = computeSecurityHeaders(securityHeaderOptions(options.config));
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers);
    done();
  });
  await app.register(fastifyStatic, {
    root: options.root ?? PUBLIC_DIR,
    prefix: '/',
    index: 'index.html',
    // Only the files present at start-up get routes; any other path is the API's JSON 404.
    wildcard: false,
    serveDotFiles: false,
    cacheControl: true,
    maxAge: 0,
  });
  for (const file of HLS_FILES) {
    app.get(`/vendor/${file}`, { schema: { hide: true } }, (_request, reply) =>
      reply.sendFile(file, HLS_DIST_DIR),
    );
  }
}

export default fp(webPlayer, { name: 'web-player', fastify: '5.x' });
