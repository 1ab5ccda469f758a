/**
 * The officer's own account in Debian's Chromium against a real controller: first-run set-up with
 * the one-time code of a controller started without ADMIN_PASSWORD, change password, set PIN.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, logIn, screenshot } from '../helpers/browser.js';
import type { TestController } from '../helpers/controller.js';
import { startWebRig, type WebRig } from '../helpers/web-rig.js';

describe.skipIf(!hasChromium)('my account in the phone app', () => {
  let rig: WebRig;
  let tc: TestController;
  let page: Page;
  const first = 'first-admin-password-1';
  const second = 'second-admin-password-2';

  beforeAll(async () => {
    rig = await startWebRig({ firstRun: true, timeoutMs: 10_000 });
    ({ tc, page } = rig);
  });
  afterAll(() => rig?.stop());

  it('first-run set-up: the code from the controller makes the admin, once', async () => {
    const code = tc.controller.setupCode;
    expect(code).toMatch(/^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/);
    // nobody can log in yet: there is no default password
    expect(
      (await tc.api('POST', '/api/auth/login', { username: 'admin', password: 'admin' }, null)).status,
    ).toBe(401);
    await page.goto(`${tc.url}/`);
    await page.getByRole('heading', { name: 'Thiết lập lần đầu' }).waitFor();
    await page.getByLabel('Mã thiết lập').fill('AAAA-BBBB-CCCC');
    await page.getByLabel('Mật khẩu quản trị viên').fill(first);
    await page.getByLabel('Nhập lại mật khẩu').fill(first);
    await screenshot(page, 'setup');
    await page.getByRole('button', { name: 'Tạo quản trị viên và đăng nhập' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('Mã thiết lập không đúng');
    // typed in lower case with spaces, as from a phone keyboard: still the code
    await page.getByLabel('Mã thiết lập').fill(code!.toLowerCase().replaceAll('-', ' '));
    await page.getByRole('button', { name: 'Tạo quản trị viên và đăng nhập' }).click();
    await page.getByRole('navigation').waitFor();
    // works once
    const again = await tc.api('POST', '/api/auth/setup', { code, password: 'another-password-3' }, null);
    expect(again).toMatchObject({ status: 409, body: { error: 'already_set_up' } });
    expect((await tc.api<{ needed: boolean }>('GET', '/api/auth/setup', undefined, null)).body.needed).toBe(
      false,
    );
    // log in with the new password through the form
    await page.getByRole('button', { name: 'Đăng xuất' }).click();
    await logIn(page, tc.url, 'admin', first);
    // audited
    const login = await tc.api<{ token: string }>(
      'POST',
      '/api/auth/login',
      { username: 'admin', password: first },
      null,
    );
    tc.token = login.body.token;
    const audit = await tc.api<{ items: { action: string }[] }>('GET', '/api/audit?action=first-run');
    expect(audit.body.items.map((i) => i.action)).toEqual([
      'first-run set-up refused: already_set_up',
      'first-run set-up: admin created',
      'first-run set-up refused: bad_setup_code',
    ]);
  });

  it('changes my password: the old one stops working, the app stays logged in', async () => {
    await page.goto(`${tc.url}/more`);
    await page.getByRole('link', { name: /Tài khoản của tôi/ }).click();
    await page.getByRole('heading', { name: 'Tài khoản của tôi' }).waitFor();
    await screenshot(page, 'account');
    await page.getByLabel('Mật khẩu hiện tại').first().fill('not-my-password');
    await page.getByLabel('Mật khẩu mới (ít nhất 10 ký tự)').fill(second);
    await page.getByLabel('Nhập lại mật khẩu mới').fill(second);
    await page.getByRole('button', { name: 'Đổi mật khẩu' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('Mật khẩu hiện tại không đúng.');
    await page.getByLabel('Mật khẩu hiện tại').first().fill(first);
    await page.getByRole('button', { name: 'Đổi mật khẩu' }).click();
    await page.getByText('Đã đổi mật khẩu').waitFor();
    const old = await tc.api('POST', '/api/auth/login', { username: 'admin', password: first }, null);
    expect(old.status).toBe(401);
    const now = await tc.api<{ token: string }>(
      'POST',
      '/api/auth/login',
      { username: 'admin', password: second },
      null,
    );
    expect(now.status).toBe(200);
    tc.token = now.body.token;
    // the page's own session was renewed: it still reads the API
    await page.reload();
    await page.getByRole('heading', { name: 'Tài khoản của tôi' }).waitFor();
  });

  it('sets my PIN, which then confirms', async () => {
    await page.getByLabel('Mật khẩu hiện tại').nth(1).fill(second);
    await page.getByLabel('Mã PIN mới').fill('12ab');
    await page.getByRole('button', { name: 'Đặt mã PIN' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('Mã PIN gồm 6 đến 12 chữ số.');
    await page.getByLabel('Mã PIN mới').fill('246810');
    await page.getByRole('button', { name: 'Đặt mã PIN' }).click();
    await page.getByText('Đã đặt mã PIN.').waitFor();
    expect((await tc.api<{ hasPin: boolean }>('GET', '/api/auth/me')).body.hasPin).toBe(true);
    // the page knows it from who I am (GET /api/auth/me), after a reload too
    await page.reload();
    await page.getByText('Bạn đã có mã PIN; đặt mã mới sẽ thay mã cũ.').waitFor();
    const ok = await tc.api('POST', '/api/auth/confirm', { pin: '246810' });
    expect(ok.status).toBe(200);
  });
});
