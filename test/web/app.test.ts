/**
 * The phone app in Debian's Chromium against a real controller and simulated receivers: served over
 * plain HTTP on the LAN and over HTTPS behind a proxy, log in, live village states, language.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fleet } from '../../firmware-sim/index.js';
import { hasChromium, logIn, screenshot } from '../helpers/browser.js';
import { ADMIN_PASSWORD, startTestController, type TestController } from '../helpers/controller.js';
import { waitFor } from '../helpers/wait.js';
import { startWebRig, type WebRig } from '../helpers/web-rig.js';

describe.skipIf(!hasChromium)('the phone app', () => {
  let rig: WebRig;
  let tc: TestController;
  let fleet: Fleet;
  let page: Page;

  beforeAll(async () => {
    rig = await startWebRig({
      villages: ['Thôn Đồng Bùa', 'Thôn Gò Dẫu'],
      receivers: [
        { id: 'app-01', village: 0, name: 'Loa cổng làng' },
        { id: 'app-02', village: 1, name: 'Loa nhà văn hoá' },
      ],
      timeFactor: 0.05,
      login: false,
    });
    ({ tc, fleet, page } = rig);
  });

  afterAll(() => rig?.stop());

  it('serves the app over plain HTTP without upgrade-insecure-requests, and deep links open it', async () => {
    const res = await fetch(`${tc.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).not.toMatch(/upgrade-insecure-requests/);
    expect(csp).toMatch(/script-src 'self'/);
    const deep = await fetch(`${tc.url}/announce`);
    expect(deep.status).toBe(200);
    expect(await deep.text()).toBe(await res.text());
    // the API keeps its JSON 404 and its 401
    expect((await fetch(`${tc.url}/api/nope`)).status).toBe(404);
    expect((await fetch(`${tc.url}/api/zones`)).status).toBe(401);
    const manifest = await fetch(`${tc.url}/manifest.webmanifest`);
    expect(manifest.status).toBe(200);
    expect(await manifest.json()).toMatchObject({ lang: 'vi', display: 'standalone' });
  });

  it('behind an HTTPS proxy: the same headers, and the session cookie is Secure', async () => {
    const proxied = await startTestController({ TRUSTED_PROXIES: '127.0.0.1' });
    try {
      const res = await fetch(`${proxied.url}/`, { headers: { 'x-forwarded-proto': 'https' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-security-policy') ?? '').not.toMatch(/upgrade-insecure-requests/);
      const login = await fetch(`${proxied.url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-proto': 'https' },
        body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD, session: 'cookie' }),
      });
      expect(login.status).toBe(200);
      expect(login.headers.get('set-cookie') ?? '').toMatch(/;\s*Secure/i);
      const plain = await fetch(`${proxied.url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD, session: 'cookie' }),
      });
      expect(plain.headers.get('set-cookie') ?? '').not.toMatch(/;\s*Secure/i);
    } finally {
      await proxied.stop();
    }
  });

  it('refuses a wrong password in plain Vietnamese, then logs in and shows the villages live', async () => {
    await page.goto(`${tc.url}/`);
    await expect.poll(() => page.locator('html').getAttribute('lang')).toBe('vi');
    await page.getByLabel('Tên đăng nhập').fill('admin');
    await page.getByLabel('Mật khẩu').fill('wrong-password');
    await page.getByRole('button', { name: 'Đăng nhập' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('Sai tên đăng nhập hoặc mật khẩu.');
    await logIn(page, tc.url, 'admin', ADMIN_PASSWORD);
    await page.getByRole('heading', { name: 'Thôn Đồng Bùa' }).waitFor();
    const state = (id: string) => page.locator(`[data-receiver="${id}"]`).getAttribute('data-state');
    await expect.poll(() => state('app-01'), { timeout: 10_000 }).toBe('idle');
    await screenshot(page, 'today');
    // A receiver goes offline: the page says so without a reload.
    await fleet.receivers[1]!.goOffline();
    await expect.poll(() => state('app-02'), { timeout: 15_000 }).toBe('offline');
    await expect.poll(() => page.getByRole('status').textContent()).toContain('1 cụm loa mất kết nối');
    await fleet.receivers[1]!.goOnline();
    await waitFor('app-02 online', () => tc.isOnline('app-02'));
  });

  it('switches to English and back, and remembers it', async () => {
    await page.getByRole('button', { name: 'English' }).click();
    await page.getByRole('link', { name: 'Today' }).waitFor();
    expect(await page.locator('html').getAttribute('lang')).toBe('en');
    await page.reload();
    await page.getByRole('link', { name: 'Today' }).waitFor();
    await page.getByRole('button', { name: 'Tiếng Việt' }).click();
    await page.getByRole('link', { name: 'Hôm nay' }).waitFor();
  });
});
