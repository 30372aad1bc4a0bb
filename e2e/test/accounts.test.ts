/**
 * Changing the password in the web player (CONTRACT.md, The web player and Accounts), in real Chromium
 * against the stack as `pnpm start` runs it: the form with its fixed labels, the answer it shows, another
 * session of the same person signed out (at its next request at the latest), the new password signing in
 * and the old one refused.
 */
import { randomBytes } from 'node:crypto';
import { DEMO_LISTENER } from '@stagedoor/shared/demo';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, openPage, screenshot, signIn, type WatchedPage } from './support/browser.js';
import { type Stack, startStack } from './support/stack.js';

let stack: Stack;
let browser: Browser;
const opened: WatchedPage[] = [];

async function signedIn(password: string): Promise<WatchedPage> {
  const watched = await openPage(browser, `${stack.gatewayUrl}/`);
  opened.push(watched);
  await signIn(watched.page, DEMO_LISTENER.email, password);
  await watched.page.getByRole('heading', { name: 'Library' }).waitFor();
  return watched;
}

const signInForm = (page: Page) => page.getByRole('button', { name: 'Sign in', exact: true });

beforeAll(async () => {
  [stack, browser] = await Promise.all([startStack(), launchChromium()]);
});

afterAll(async () => {
  for (const { context } of opened) await context.close().catch(() => {});
  await browser?.close();
  await stack?.stop();
});

describe('change password', () => {
  it('refuses a short new password and a wrong current one, saying so, and changes nothing', async () => {
    const { page, responses } = await signedIn(DEMO_LISTENER.password);
    const message = page.locator('#password-message');
    await page.getByLabel('Current password').fill(DEMO_LISTENER.password);
    await page.getByLabel('New password').fill('too-short');
    await page.getByRole('button', { name: 'Change password' }).click();
    await expect.poll(() => message.textContent()).toMatch(/12 to 128 characters/);
    // Checked in the page: no request was sent.
    expect(responses.filter((r) => r.includes('/auth/password'))).toEqual([]);

    await page.getByLabel('Current password').fill('not-my-password');
    await page.getByLabel('New password').fill('a-long-enough-password');
    await page.getByRole('button', { name: 'Change password' }).click();
    await expect.poll(() => message.textContent()).toMatch(/current password is wrong/);
    expect(responses.filter((r) => r.includes('/auth/password'))).toEqual([
      `POST ${stack.gatewayUrl}/auth/password → 401`,
    ]);
    // Still signed in.
    expect(await page.getByRole('heading', { name: 'Library' }).isVisible()).toBe(true);
    await screenshot(page, 'change-password-wrong');
  });

  it('changes it through the form: the other session is signed out, this one keeps working, the new password signs in', async () => {
    const newPassword = `changed-${randomBytes(6).toString('hex')}`;
    const here = await signedIn(DEMO_LISTENER.password);
    const elsewhere = await signedIn(DEMO_LISTENER.password);

    await here.page.getByLabel('Current password').fill(DEMO_LISTENER.password);
    await here.page.getByLabel('New password').fill(newPassword);
    await here.page.getByRole('button', { name: 'Change password' }).click();
    const message = here.page.locator('#password-message');
    await expect.poll(() => message.textContent()).toMatch(/Password changed/);
    expect(await here.page.getByLabel('New password').inputValue()).toBe('');
    await screenshot(here.page, 'change-password-done');

    // The other session: back at the sign-in form by its next request at the latest.
    const refresh = elsewhere.page.getByRole('button', { name: 'Refresh devices' });
    if (await refresh.isVisible()) await refresh.click().catch(() => {});
    await signInForm(elsewhere.page).waitFor({ timeout: 10_000 });
    expect(await elsewhere.page.locator('#sign-in-reason').textContent()).toMatch(/signed out|revoked/);

    // This page kept its (rotated) session and its new CSRF token works: the devices list shows only it,
    // and an unsafe request (a media token for a Play) succeeds.
    await here.page.getByRole('button', { name: 'Refresh devices' }).click();
    await expect.poll(() => here.page.locator('#devices li').count()).toBe(1);
    expect(await here.page.getByText('This device').count()).toBe(1);
    await here.page
      .getByRole('button', { name: /^Play / })
      .first()
      .click();
    await expect
      .poll(() => here.responses.filter((r) => r.startsWith(`POST ${stack.gatewayUrl}/media/tokens`)).at(-1))
      .toMatch(/→ 201$/);

    // The old password is refused, the new one signs in.
    await signIn(elsewhere.page, DEMO_LISTENER.email, DEMO_LISTENER.password);
    await expect
      .poll(() => elsewhere.page.getByRole('alert').filter({ hasText: 'Wrong email or password' }).count())
      .toBe(1);
    await signIn(elsewhere.page, DEMO_LISTENER.email, newPassword);
    await elsewhere.page.getByRole('heading', { name: 'Library' }).waitFor();
    expect(here.errors.filter((e) => !/Failed to load resource/.test(e))).toEqual([]);
  });
});
