/**
 * Debian's Chromium driven by playwright-core (never a downloaded browser), and pages that record what
 * would show up as console errors.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { ROOT } from './stack.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTEFACTS = join(ROOT, 'e2e/test-results');

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** Console errors, uncaught exceptions and unhandled rejections, in order. */
  errors: string[];
  /** `METHOD url → status` of every response the page saw (tokens redacted). */
  responses: string[];
  /** `METHOD url range` of every request the page made, when it made it (tokens redacted). */
  requests: string[];
}

function redact(url: string): string {
  return url.replace(/token=[^&#]+/, 'token=…').replace(/\/v1\/t\/[^/]+\//, '/v1/t/…/');
}

export async function openPage(browser: Browser, url: string): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const errors: string[] = [];
  const responses: string[] = [];
  const requests: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()} (${message.location().url})`);
  });
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('request', (request) => {
    requests.push(`${request.method()} ${redact(request.url())} ${request.headers().range ?? ''}`.trim());
  });
  page.on('response', (response) => {
    const request = response.request();
    responses.push(`${request.method()} ${redact(request.url())} → ${response.status()}`);
  });
  await page.goto(url);
  return { page, context, errors, responses, requests };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTEFACTS, { recursive: true });
  const path = join(ARTEFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

export async function signIn(page: Page, email: string, password: string): Promise<void> {
  await page.getByLabel('Email', { exact: true }).fill(email);
  // Exact: `Current password` and `New password` (the change-password form) contain the word too.
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

export interface PlayerState {
  currentTime: number;
  paused: boolean;
  src: string;
  error: number | null;
  readyState: number;
}

/** The state of the page's `<audio>` element, or of another media element (`video`). */
export async function playerState(page: Page, selector = 'audio'): Promise<PlayerState> {
  return page.locator(selector).evaluate((element: HTMLMediaElement) => ({
    currentTime: element.currentTime,
    paused: element.paused,
    src: element.currentSrc,
    error: element.error?.code ?? null,
    readyState: element.readyState,
  }));
}

/** Waits until `predicate` holds for the player, polling; returns the state that satisfied it. */
export async function waitForPlayer(
  page: Page,
  predicate: (state: PlayerState) => boolean,
  timeoutMs = 15_000,
  selector = 'audio',
): Promise<PlayerState> {
  const deadline = Date.now() + timeoutMs;
  let last = await playerState(page, selector);
  while (!predicate(last)) {
    if (Date.now() > deadline)
      throw new Error(`player never reached the expected state: ${JSON.stringify(last)}`);
    await page.waitForTimeout(200);
    last = await playerState(page, selector);
  }
  return last;
}
