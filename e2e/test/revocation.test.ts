/**
 * The page learns of its own session's end by a push (CONTRACT.md, Revocation: an open page returns to
 * the sign-in form within 2 s of its session ending elsewhere). The tokens live the default 300 s here,
 * so nothing but the push (GET /auth/events) can bring the page back in time: a second browser context
 * revokes the first one's device while it plays, and while it is paused; the first page is on the
 * sign-in form, saying why, within 2 s, and its <audio> has stopped. The 2 s is the contract's bound
 * (the push itself takes milliseconds; the rest is the browser's work under a loaded machine).
 */
import { DEMO_LISTENER } from '@stagedoor/shared/demo';
import type { Browser, Page } from 'playwright-core';
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

const BOUND_MS = 2000;

let stack: Stack;
let browser: Browser;
const opened: WatchedPage[] = [];

async function signedIn(): Promise<WatchedPage> {
  const watched = await openPage(browser, `${stack.gatewayUrl}/`);
  opened.push(watched);
  await signIn(watched.page, DEMO_LISTENER.email, DEMO_LISTENER.password);
  await watched.page
    .getByRole('button', { name: /^Play / })
    .first()
    .waitFor();
  return watched;
}

beforeAll(async () => {
  [stack, browser] = await Promise.all([startStack(), launchChromium()]);
});

afterAll(async () => {
  for (const { context } of opened) await context.close().catch(() => {});
  await browser?.close();
  await stack?.stop();
});

/** From the second page, revokes the first one's device; the ms from the click to its sign-in form. */
async function revokeFrom(second: Page, first: Page): Promise<number> {
  await second.getByRole('button', { name: 'Refresh devices' }).click();
  const revoke = second.getByRole('button', { name: /^Revoke / });
  await expect.poll(() => revoke.count()).toBe(1);
  const clickedAt = Date.now();
  await revoke.click();
  await first.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: 10_000 });
  return Date.now() - clickedAt;
}

/** Ends every session of the listener from `page`, so the next test's device list holds only its own. */
async function signOutEverywhere(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Sign out everywhere' }).click();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
}

async function expectStopped(page: Page): Promise<void> {
  const before = await playerState(page);
  expect(before.paused).toBe(true);
  await page.waitForTimeout(500);
  expect((await playerState(page)).currentTime).toBe(before.currentTime);
}

describe('a device revoked from a second browser', () => {
  it('while it plays: back at the sign-in form within 2 s, saying why, its audio stopped', async () => {
    const first = await signedIn();
    await first.page.getByRole('button', { name: 'Play evening tones' }).click();
    await waitForPlayer(first.page, (s) => s.currentTime > 1 && !s.paused);
    const second = await signedIn();

    const ms = await revokeFrom(second.page, first.page);
    process.stdout.write(`playing page back at sign-in ${ms} ms after the revoke click\n`);
    expect(ms).toBeLessThan(BOUND_MS);
    expect(await first.page.locator('#sign-in-reason').textContent()).toMatch(/revoked from another device/);
    await expectStopped(first.page);
    await screenshot(first.page, 'revoked-while-playing');
    await signOutEverywhere(second.page);
  });

  it('while it is paused: the same', async () => {
    const first = await signedIn();
    await first.page.getByRole('button', { name: 'Play evening tones' }).click();
    await waitForPlayer(first.page, (s) => s.currentTime > 1 && !s.paused);
    await first.page.locator('audio').evaluate((audio: HTMLAudioElement) => audio.pause());
    await waitForPlayer(first.page, (s) => s.paused);
    const second = await signedIn();

    const ms = await revokeFrom(second.page, first.page);
    process.stdout.write(`paused page back at sign-in ${ms} ms after the revoke click\n`);
    expect(ms).toBeLessThan(BOUND_MS);
    expect(await first.page.locator('#sign-in-reason').textContent()).toMatch(/revoked from another device/);
    await expectStopped(first.page);
    await signOutEverywhere(second.page);
  });

  it('an idle page signed out everywhere from another browser says so', async () => {
    const first = await signedIn();
    const second = await signedIn();
    const clickedAt = Date.now();
    await second.page.getByRole('button', { name: 'Sign out everywhere' }).click();
    await first.page.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: 10_000 });
    expect(Date.now() - clickedAt).toBeLessThan(BOUND_MS);
    expect(await first.page.locator('#sign-in-reason').textContent()).toMatch(/signed out everywhere/);
  });
});
