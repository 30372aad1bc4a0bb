/**
 * Video in the web player, in real Chromium against the stack as `pnpm start` runs it (demo video and
 * HLS rendition seeded from packages/fixtures/media), with MEDIA_TOKEN_TTL_SECONDS=5 so that HLS plays
 * across several token expiries: the MP4 in a <video> element, the HLS rendition through hls.js from one
 * prefix token's `/v1/t/<token>/` base, its variants on request, and seeking.
 */
import { DEMO_LISTENER } from '@stagedoor/shared/demo';
import type { Browser, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  launchChromium,
  openPage,
  playerState,
  screenshot,
  signIn,
  type WatchedPage,
  waitForPlayer,
} from './support/browser.js';
import { type Stack, startStack } from './support/stack.js';

const TTL_SECONDS = 5;
const RENDITION = 'catalog/hls/test-pattern-adaptive/';
const DURATION = 24; // packages/fixtures/media/video-manifest.json

let stack: Stack;
let browser: Browser;
let watched: WatchedPage;
/** Every request to media's `/v1/t/<token>/…` carrier: when, which token, which path, and its status. */
const carrier: Array<{ at: number; token: string; path: string; status?: number }> = [];

const video = (page: Page) => playerState(page, 'video');
const waitForVideo = (page: Page, predicate: Parameters<typeof waitForPlayer>[1], timeoutMs = 20_000) =>
  waitForPlayer(page, predicate, timeoutMs, 'video');

function recordCarrier(request: Request): void {
  const match = /\/v1\/t\/([^/]+)\/(.*)$/.exec(new URL(request.url()).pathname);
  if (!match) return;
  const entry: (typeof carrier)[number] = {
    at: Date.now(),
    token: match[1] as string,
    path: match[2] as string,
  };
  carrier.push(entry);
  void request.response().then((response) => {
    entry.status = response?.status();
  });
}

/** A JWT's `exp` in ms (the page's tokens are compact JWS; the payload is not secret to its holder). */
function expiresAtMs(token: string): number {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8'));
  return payload.exp * 1000;
}

async function chooseQuality(page: Page, label: RegExp): Promise<void> {
  const select = page.getByLabel('Quality');
  const options = await select.locator('option').allTextContents();
  const wanted = options.find((option) => label.test(option));
  if (!wanted) throw new Error(`no quality matching ${label} in ${JSON.stringify(options)}`);
  await select.selectOption({ label: wanted });
}

const videoHeight = (page: Page) => page.locator('video').evaluate((e: HTMLVideoElement) => e.videoHeight);

beforeAll(async () => {
  [stack, browser] = await Promise.all([
    startStack({ env: { MEDIA_TOKEN_TTL_SECONDS: String(TTL_SECONDS) } }),
    launchChromium(),
  ]);
  watched = await openPage(browser, `${stack.gatewayUrl}/`);
  watched.page.on('request', recordCarrier);
  await signIn(watched.page, DEMO_LISTENER.email, DEMO_LISTENER.password);
  await watched.page.getByRole('heading', { name: 'Library' }).waitFor();
});

afterAll(async () => {
  await watched?.context.close().catch(() => {});
  await browser?.close();
  await stack?.stop();
});

describe('video in the web player', () => {
  it('lists the MP4 and the HLS rendition as one playable item each, never its playlists or segments', async () => {
    const { page } = watched;
    const items = page.locator('#library > li');
    await expect
      .poll(() => items.filter({ hasText: 'test pattern adaptive' }).count(), { timeout: 10_000 })
      .toBe(1);
    const keys = await items.evaluateAll((rows) => rows.map((row) => (row as HTMLElement).dataset.key));
    expect(keys).toContain('catalog/test-pattern.mp4');
    expect(keys).toContain(`${RENDITION}master.m3u8`);
    expect(keys.filter((key) => key?.startsWith(RENDITION))).toEqual([`${RENDITION}master.m3u8`]);
    expect(await items.filter({ hasText: 'HLS' }).count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Play test pattern', exact: true }).count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Play test pattern adaptive', exact: true }).count()).toBe(
      1,
    );
  });

  it('plays the MP4 in the <video> element (the <audio> one hidden) and seeks near the end', async () => {
    const { page } = watched;
    await page.getByRole('button', { name: 'Play test pattern', exact: true }).click();
    const started = await waitForVideo(page, (s) => s.currentTime > 1 && !s.paused);
    expect(started.src).toContain(`${stack.mediaUrl}/v1/objects/catalog/test-pattern.mp4?token=`);
    expect(await page.locator('video').isVisible()).toBe(true);
    expect(await page.locator('audio').isVisible()).toBe(false);
    expect(await videoHeight(page)).toBe(240);
    await page.waitForTimeout(1000);
    expect((await video(page)).currentTime).toBeGreaterThan(started.currentTime + 0.5);

    await page.locator('video').evaluate((e: HTMLVideoElement) => {
      e.currentTime = 21;
    });
    const near = await waitForVideo(page, (s) => s.currentTime > 22);
    expect(near.error).toBeNull();
    await screenshot(page, 'video-mp4');
  });

  it('plays the HLS rendition through hls.js from the prefix token base; both variants load when chosen', async () => {
    const { page } = watched;
    const before = carrier.length;
    await page.getByRole('button', { name: 'Play test pattern adaptive', exact: true }).click();
    // Media Source Extensions: the element plays a blob: URL that hls.js feeds.
    const started = await waitForVideo(
      page,
      (s) => s.src.startsWith('blob:') && s.currentTime > 1 && !s.paused,
    );
    expect(started.error).toBeNull();
    const requests = carrier.slice(before);
    expect(requests[0]?.path).toBe(`${RENDITION}master.m3u8`);
    // One token for the master, the variant playlist and its segments.
    expect(new Set(requests.map((r) => r.token)).size).toBe(1);
    expect(requests.some((r) => /\/seg-\d+\.m4s$/.test(r.path))).toBe(true);

    await page.getByLabel('Quality').waitFor();
    await chooseQuality(page, /^144p/);
    await expect.poll(() => videoHeight(page), { timeout: 20_000 }).toBe(144);
    await chooseQuality(page, /^240p/);
    await expect.poll(() => videoHeight(page), { timeout: 20_000 }).toBe(240);
    const paths = carrier.slice(before).map((r) => r.path);
    for (const variant of ['v240p', 'v144p']) {
      expect(paths).toContain(`${RENDITION}${variant}/index.m3u8`);
      expect(paths.some((path) => path.startsWith(`${RENDITION}${variant}/seg-`))).toBe(true);
    }
    expect((await video(page)).paused).toBe(false);
    await screenshot(page, 'video-hls');
  });

  it('seeks the HLS rendition to 80 % and plays on from there', async () => {
    const { page } = watched;
    await page.locator('video').evaluate((e: HTMLVideoElement, to: number) => {
      e.currentTime = to;
    }, DURATION * 0.8);
    const resumed = await waitForVideo(page, (s) => s.currentTime > DURATION * 0.8 + 1 && !s.paused);
    expect(resumed.error).toBeNull();
  });

  it('plays HLS across token expiry: later requests carry a fresh token, no media error, no 401', async () => {
    const { page } = watched;
    const before = carrier.length;
    await page.getByRole('button', { name: 'Play test pattern adaptive', exact: true }).click();
    await waitForVideo(
      page,
      (s) => s.src.startsWith('blob:') && s.currentTime > 0.5 && s.currentTime < 10 && !s.paused,
    );
    const first = carrier[before];
    if (!first) throw new Error('no request under a prefix token');
    const expiry = expiresAtMs(first.token);
    // Playing on past the first token's expiry, then making the player fetch again: the other variant
    // from the current position (its playlist and segments), and a seek back through what was dropped.
    await page.waitForTimeout(Math.max(0, expiry - Date.now()) + 1500);
    const playing = await video(page);
    expect(playing.paused).toBe(false);
    expect(playing.error).toBeNull();
    await chooseQuality(page, /^144p/);
    await expect.poll(() => videoHeight(page), { timeout: 20_000 }).toBe(144);
    await page.locator('video').evaluate((e: HTMLVideoElement) => {
      e.currentTime = 1;
    });
    const after = await waitForVideo(page, (s) => s.currentTime > 2 && s.currentTime < 12 && !s.paused);
    expect(after.error).toBeNull();

    const late = carrier.slice(before).filter((r) => r.at > expiry);
    expect(late.length).toBeGreaterThan(0);
    for (const request of late) {
      expect(request.token).not.toBe(first.token);
      expect(expiresAtMs(request.token)).toBeGreaterThan(request.at);
    }
    await expect.poll(() => carrier.slice(before).every((r) => r.status !== undefined)).toBe(true);
    expect(carrier.slice(before).filter((r) => r.status !== 200)).toEqual([]);
    expect(await page.locator('#status').textContent()).not.toMatch(/cannot|could not/i);
  });

  it('after a long pause (token expired, none renewed while paused), a far seek renews first and plays', async () => {
    const { page } = watched;
    await page.locator('video').evaluate((e: HTMLVideoElement) => e.pause());
    const pausedAt = Date.now();
    const lastToken = carrier.at(-1)?.token as string;
    await page.waitForTimeout(Math.max(0, expiresAtMs(lastToken) - Date.now()) + 1500);
    const minted = watched.responses.length;
    // The other variant, so that nothing of the target is buffered and the seek must fetch.
    await chooseQuality(page, /^240p/);
    await page.locator('video').evaluate((e: HTMLVideoElement, to: number) => {
      e.currentTime = to;
      void e.play();
    }, DURATION * 0.8);
    const resumed = await waitForVideo(page, (s) => s.currentTime > DURATION * 0.8 + 1 && !s.paused);
    expect(resumed.error).toBeNull();
    const afterPause = carrier.filter((r) => r.at > pausedAt);
    expect(afterPause.length).toBeGreaterThan(0);
    for (const request of afterPause) expect(request.token).not.toBe(lastToken);
    expect(watched.responses.slice(minted)).toContainEqual(
      expect.stringMatching(/^POST .*\/media\/tokens → 201$/),
    );
  });

  it('a segment refused with 401 gets one renewal and the same segment again, and playback goes on', async () => {
    const { page } = watched;
    let refused = '';
    // Media itself would only refuse a live token if it were revoked; stand in for a clock-skew refusal.
    await page.route(/\/v1\/t\/[^/]+\/catalog\/hls\/.*\/seg-\d+\.m4s$/, async (route) => {
      if (refused) return route.continue();
      refused = new URL(route.request().url()).pathname.replace(/^.*\/v1\/t\/[^/]+\//, '');
      await route.fulfill({
        status: 401,
        contentType: 'application/json',
        headers: { 'access-control-allow-origin': stack.gatewayUrl, 'cache-control': 'no-store' },
        body: JSON.stringify({ error: 'invalid_token', message: 'The token has expired.' }),
      });
    });
    try {
      const minted = watched.responses.length;
      const before = carrier.length;
      await chooseQuality(page, /^144p/);
      await expect.poll(() => refused, { timeout: 20_000 }).not.toBe('');
      await expect.poll(() => videoHeight(page), { timeout: 20_000 }).toBe(144);
      const again = carrier.slice(before).filter((r) => r.path === refused);
      expect(again.length).toBe(2);
      expect(again[1]?.token).not.toBe(again[0]?.token);
      await expect.poll(() => again[1]?.status).toBe(200);
      expect(watched.responses.slice(minted)).toContainEqual(
        expect.stringMatching(/^POST .*\/media\/tokens → 201$/),
      );
      const state = await waitForVideo(page, (s) => !s.paused && s.currentTime > 0);
      expect(state.error).toBeNull();
    } finally {
      await page.unroute(/\/v1\/t\//);
    }
  });

  it('a session ended elsewhere stops HLS playback and returns the page to sign-in within a token lifetime', async () => {
    const { page, context } = watched;
    await page.getByRole('button', { name: 'Play test pattern adaptive', exact: true }).click();
    await waitForVideo(page, (s) => s.src.startsWith('blob:') && s.currentTime > 0.5 && !s.paused);
    const me = await context.request.get(`${stack.gatewayUrl}/auth/me`);
    // The same user signing out everywhere from another client: the page is not told by its own hand.
    const out = await context.request.post(`${stack.gatewayUrl}/auth/logout-all`, {
      headers: { 'x-csrf-token': (await me.json()).csrfToken },
    });
    expect(out.status()).toBe(204);
    await page.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: TTL_SECONDS * 1000 + 2000 });
    expect((await video(page)).paused).toBe(true);
  });

  it('no console errors besides the contract 401s', () => {
    expect(watched.errors.filter((error) => !/status of 401/.test(error))).toEqual([]);
  });
});
