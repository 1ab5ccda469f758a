/**
 * Debian's Chromium driven by playwright-core (never a downloaded browser), as an officer's phone:
 * 360×640, touch, vi-VN. Missing Chromium skips the browser tests, unless LOALANG_REQUIRE_CHROMIUM=1
 * (set by .ci/run), which makes it a failure.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, devices, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && process.env.LOALANG_REQUIRE_CHROMIUM === '1')
  throw new Error(`${CHROMIUM} not found but LOALANG_REQUIRE_CHROMIUM=1: apt-get install -y chromium`);

/** Where screenshots go (a CI artifact folder; not committed). */
export const SHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url));

export async function launchBrowser(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      '--autoplay-policy=no-user-gesture-required',
      ...extraArgs,
    ],
  });
}

/** A phone: 360×640 at 2×, touch, Vietnamese locale and time zone. */
export async function phone(browser: Browser, opts: { locale?: string } = {}): Promise<BrowserContext> {
  const { defaultBrowserType: _b, ...pixel } = devices['Pixel 5']!;
  return browser.newContext({
    ...pixel,
    viewport: { width: 360, height: 640 },
    screen: { width: 360, height: 640 },
    locale: opts.locale ?? 'vi-VN',
    timezoneId: 'Asia/Ho_Chi_Minh',
    permissions: ['microphone'],
  });
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: false });
}

/** Logs in through the form, as an officer does. */
export async function logIn(page: Page, baseUrl: string, username: string, password: string): Promise<void> {
  await page.goto(baseUrl + '/');
  await page.getByLabel('Tên đăng nhập').fill(username);
  await page.getByLabel('Mật khẩu').fill(password);
  await page.getByRole('button', { name: 'Đăng nhập' }).click();
  await page.getByRole('navigation').waitFor();
}
