/**
 * An audio object opened directly in a browser tab, by its tokenized URL: Chromium shows it in its own
 * media document and plays it. Media's CSP for audio/video (`default-src 'none'; media-src 'self'`, no
 * `sandbox`) must allow exactly that; `sandbox` on every object stopped it.
 */
import { DEMO_LISTENER } from '@stagedoor/shared/demo';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './support/browser.js';
import { type Stack, startStack } from './support/stack.js';

const KEY = 'catalog/evening-tones.wav';

let stack: Stack;
let browser: Browser;
let context: BrowserContext | undefined;

beforeAll(async () => {
  [stack, browser] = await Promise.all([startStack(), launchChromium()]);
});

afterAll(async () => {
  await context?.close().catch(() => {});
  await browser?.close();
  await stack?.stop();
});

/** A media URL minted the way the web player gets one: a session, then POST /media/tokens with CSRF. */
async function tokenizedUrl(ctx: BrowserContext): Promise<string> {
  const login = await ctx.request.post(`${stack.gatewayUrl}/auth/login`, {
    data: { email: DEMO_LISTENER.email, password: DEMO_LISTENER.password },
  });
  expect(login.status()).toBe(200);
  const minted = await ctx.request.post(`${stack.gatewayUrl}/media/tokens`, {
    headers: { 'x-csrf-token': (await login.json()).csrfToken },
    data: { key: KEY },
  });
  expect(minted.status()).toBe(201);
  return (await minted.json()).url;
}

describe('an audio object opened in a tab', () => {
  it("plays in the browser's own media document: currentTime advances", async () => {
    context = await browser.newContext();
    const url = await tokenizedUrl(context);
    expect(url).toContain(`${stack.mediaUrl}/v1/objects/${KEY}?token=`);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    const response = await page.goto(url);
    expect(response?.status()).toBe(200);
    const headers = response?.headers() ?? {};
    expect(headers['content-type']).toBe('audio/wav');
    expect(headers['x-content-type-options']).toBe('nosniff');
    expect(headers['content-security-policy']).toBe("default-src 'none'; media-src 'self'");

    // Chromium's media document is one <video> element (for audio too) playing the document's URL.
    const element = page.locator('video, audio').first();
    await element.waitFor({ state: 'attached', timeout: 10_000 });
    const state = () =>
      element.evaluate((media: HTMLMediaElement) => ({
        currentTime: media.currentTime,
        paused: media.paused,
        error: media.error?.code ?? null,
        src: media.currentSrc,
      }));
    await expect
      .poll(async () => (await state()).currentTime, { timeout: 15_000, interval: 200 })
      .toBeGreaterThan(0.5);
    const first = await state();
    await expect
      .poll(async () => (await state()).currentTime, { timeout: 15_000, interval: 200 })
      .toBeGreaterThan(first.currentTime + 1);
    const playing = await state();
    expect(playing).toMatchObject({ paused: false, error: null });
    expect(playing.src).toBe(url);
    expect(errors).toEqual([]);
  });
});
