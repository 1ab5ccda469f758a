/**
 * The Receivers screen in Debian's Chromium against a real controller: adopt a simulated receiver
 * that connected in discovery mode, register one by id and see its provisioning bundle once,
 * rename / move, re-issue and revoke — checked against what the API then holds. The bundle's QR code
 * is read back from a screenshot of it (jsQR), as an installer's phone would.
 */
import jsqr from 'jsqr';
import type { Browser, Locator, Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchTrustedKeys, SimReceiver } from '../../firmware-sim/index.js';
import { hasChromium, launchBrowser, logIn, phone, screenshot } from '../helpers/browser.js';
import { ADMIN_PASSWORD, startTestController, type TestController } from '../helpers/controller.js';
import { waitFor } from '../helpers/wait.js';

interface Rx {
  id: string;
  name: string;
  zoneId: string | null;
  adoption: string;
}
interface Bundle {
  receiverId: string;
  mqtt: { username: string; password: string };
}

describe.skipIf(!hasChromium)('the receivers screen', () => {
  let tc: TestController;
  let browser: Browser;
  let page: Page;
  let stray: SimReceiver;
  const zones: string[] = [];
  const rx = async (id: string) => (await tc.api<Rx>('GET', `/api/receivers/${id}`)).body;
  /** The bundle the page shows, parsed from its text. */
  const shownBundle = async (): Promise<Bundle> =>
    JSON.parse(await page.getByLabel('Nội dung cài đặt (JSON)').inputValue()) as Bundle;
  /** A QR code on the page, decoded from a screenshot of it as the phone draws it. */
  const qrText = async (qr: Locator): Promise<string | undefined> => {
    // in the middle of the screen, as an installer would hold it: not under the bottom navigation
    await qr.evaluate((el) => el.scrollIntoView({ block: 'center' }));
    const png = PNG.sync.read(await qr.screenshot());
    // jsqr is CommonJS: its function is module.exports, and module.exports.default as typed
    return jsqr.default(new Uint8ClampedArray(png.data), png.width, png.height)?.data;
  };
  /** Everything the page keeps in the browser's storage. */
  const storage = () =>
    page.evaluate(() => {
      const w = globalThis as unknown as {
        localStorage: { length: number; key(i: number): string | null; getItem(k: string): string | null };
        sessionStorage: { length: number; key(i: number): string | null; getItem(k: string): string | null };
      };
      const dump = (st: typeof w.localStorage) =>
        Array.from({ length: st.length }, (_, i) => `${st.key(i)}=${st.getItem(st.key(i) ?? '')}`).join('\n');
      return dump(w.localStorage) + dump(w.sessionStorage);
    });

  beforeAll(async () => {
    // Discovery lets a receiver without credentials in, as pending.
    tc = await startTestController({ MQTT_DISCOVERY: 'true' });
    for (const name of ['Thôn Đông', 'Thôn Tây']) {
      zones.push((await tc.api<{ id: string }>('POST', '/api/zones', { name })).body.id);
    }
    stray = new SimReceiver({
      id: 'rx-stray',
      brokerUrl: tc.mqttUrl,
      trustedKeys: await fetchTrustedKeys(`${tc.url}/api/system/signing-key`),
    });
    await stray.start();
    await waitFor('pending receiver', async () => (await rx('rx-stray'))?.adoption === 'pending');
    browser = await launchBrowser();
    page = await (await phone(browser)).newPage();
    page.setDefaultTimeout(10_000);
    await logIn(page, tc.url, 'admin', ADMIN_PASSWORD);
  });

  afterAll(async () => {
    await browser?.close();
    await stray?.stop();
    await tc?.stop();
  });

  it('is reached from "More" and adopts a pending receiver into a village, showing its bundle', async () => {
    await page.getByRole('link', { name: 'Thêm' }).click();
    await page.getByRole('link', { name: 'Cụm loa' }).click();
    await page.getByRole('heading', { name: 'Cụm loa', exact: true }).waitFor();
    const pending = page.locator('[data-pending="rx-stray"]');
    await pending.waitFor();
    await pending.getByLabel('Nhận rx-stray vào thôn').selectOption({ label: 'Thôn Tây' });
    await pending.getByRole('button', { name: 'Nhận vào thôn' }).click();
    await page.locator('[data-bundle="rx-stray"]').waitFor();
    const bundle = await shownBundle();
    expect(bundle.receiverId).toBe('rx-stray');
    expect(bundle.mqtt.password.length).toBeGreaterThan(10);
    expect(await rx('rx-stray')).toMatchObject({ adoption: 'adopted', zoneId: zones[1] });
    await page.getByRole('button', { name: 'Tôi đã lưu, đóng lại' }).click();
    await page.locator('[data-pending]').first().waitFor({ state: 'detached' });
  });

  it('registers a receiver by id and shows its bundle once, kept nowhere', async () => {
    await page.getByRole('button', { name: 'Đăng ký cụm loa mới' }).click();
    await page.getByLabel('Mã cụm loa').fill('rx-cong-lang');
    await page.getByLabel('Tên (không bắt buộc)').fill('Loa cổng làng');
    await page.getByLabel('Đặt ở thôn').selectOption({ label: 'Thôn Đông' });
    const answer = page.waitForResponse(
      (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/receivers',
    );
    await page.getByRole('button', { name: 'Đăng ký' }).click();
    const { provisioning } = (await (await answer).json()) as { provisioning: Bundle };
    await page.locator('[data-bundle="rx-cong-lang"]').waitFor();
    await page.getByText('Chỉ hiện MỘT lần').waitFor();
    const bundle = await shownBundle();
    expect(bundle).toEqual(provisioning);
    expect(bundle.receiverId).toBe('rx-cong-lang');
    // The QR code holds exactly that bundle, the password included.
    const qr = page.getByRole('img', { name: 'Mã QR chứa thông tin cài đặt cho rx-cong-lang' });
    const scanned = await qrText(qr);
    expect(scanned).toBeDefined();
    expect(JSON.parse(scanned!)).toEqual(provisioning);
    expect(scanned).toContain(provisioning.mqtt.password);
    // at the robust level: a typical bundle fits in a code with 15 % error correction
    expect(await qr.getAttribute('data-ecc')).toBe('M');
    // Printed: the code, without the rest of the page.
    await page.emulateMedia({ media: 'print' });
    expect(await qr.isVisible()).toBe(true);
    expect(await page.getByRole('navigation', { name: 'Loa làng' }).isVisible()).toBe(false);
    expect(await page.getByLabel('Nội dung cài đặt (JSON)').isVisible()).toBe(false);
    await page.emulateMedia({ media: 'screen' });
    expect(await rx('rx-cong-lang')).toMatchObject({
      adoption: 'adopted',
      zoneId: zones[0],
      name: 'Loa cổng làng',
    });
    await screenshot(page, 'receivers-bundle');
    await page.getByRole('button', { name: 'Tôi đã lưu, đóng lại' }).click();
    await page.locator('[data-receiver="rx-cong-lang"]').waitFor();
    // Gone from the page and never stored in the browser: a reload cannot show it again.
    expect(await page.content()).not.toContain(bundle.mqtt.password);
    expect(await storage()).not.toContain(bundle.mqtt.password);
    await page.reload();
    await page.locator('[data-receiver="rx-cong-lang"]').waitFor();
    expect(await page.content()).not.toContain(bundle.mqtt.password);
    await screenshot(page, 'receivers');
    // The same id again is explained in plain words.
    await page.getByRole('button', { name: 'Đăng ký cụm loa mới' }).click();
    await page.getByLabel('Mã cụm loa').fill('rx-cong-lang');
    await page.getByRole('button', { name: 'Đăng ký' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/đã được đăng ký rồi/);
  });

  it('renames and moves a receiver, re-issues its credentials, then revokes them', async () => {
    const item = page.locator('[data-receiver="rx-cong-lang"]');
    await item.getByRole('button', { name: 'Sửa Loa cổng làng' }).click();
    await item.getByLabel('Tên cụm loa').fill('Loa chợ');
    await item.getByLabel('Thôn').selectOption({ label: 'Thôn Tây' });
    await item.getByRole('button', { name: 'Lưu' }).click();
    await item.getByText('Đã lưu.').waitFor();
    expect(await rx('rx-cong-lang')).toMatchObject({ name: 'Loa chợ', zoneId: zones[1] });
    await item.getByRole('button', { name: 'Sửa Loa chợ' }).waitFor();

    // Re-issue: a new bundle, another password.
    await item.getByRole('button', { name: 'Cấp lại mật khẩu' }).click();
    await page.locator('[data-bundle="rx-cong-lang"]').waitFor();
    const reissued = await shownBundle();
    expect(reissued.mqtt.username).toBe('rx-cong-lang');
    await page.getByRole('button', { name: 'Tôi đã lưu, đóng lại' }).click();

    // Revoke, after a confirmation: the re-issued password no longer logs in to the broker.
    const again = page.locator('[data-receiver="rx-cong-lang"]');
    // the receiver's settings stay open behind the bundle
    await again.getByLabel('Tên cụm loa').waitFor();
    await again.getByRole('button', { name: 'Thu hồi quyền kết nối' }).click();
    await again.getByRole('button', { name: 'Thu hồi', exact: true }).click();
    await again.getByText('Đã thu hồi.').waitFor();
    const verified = await tc.controller.fleet.verifyDevice('rx-cong-lang', reissued.mqtt.password);
    expect(verified).toBeNull();
  });
});
