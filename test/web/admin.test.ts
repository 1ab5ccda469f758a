/**
 * Admin screens in Debian's Chromium against a real controller: the More menu, officers (create an
 * editor limited to one village, see it listed), the audit log with the login lines; and the
 * OpenAPI texts read as plain text (no HTML-like placeholders the docs UI would swallow).
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, screenshot } from '../helpers/browser.js';
import { startTestController, type TestController } from '../helpers/controller.js';
import { startWebRig, type WebRig } from '../helpers/web-rig.js';

describe('the OpenAPI document', () => {
  let tc: TestController;
  beforeAll(async () => {
    tc = await startTestController();
  });
  afterAll(() => tc?.stop());

  it('has no <word> placeholders in its texts, and error answers in words', async () => {
    const doc = (await (await fetch(`${tc.url}/docs/json`)).json()) as {
      info: { description: string };
      paths: Record<string, Record<string, { responses: Record<string, { description: string }> }>>;
    };
    const texts: string[] = [];
    const walk = (v: unknown, key = ''): void => {
      if (typeof v === 'string' && ['description', 'summary', 'title'].includes(key)) texts.push(v);
      else if (Array.isArray(v)) for (const x of v) walk(x);
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
    };
    walk(doc);
    expect(texts.length).toBeGreaterThan(100);
    expect(texts.filter((t) => /<\/?[A-Za-z!][^>]*>/.test(t))).toEqual([]);
    expect(doc.info.description).toContain('Authorization: Bearer TOKEN');
    const pin = doc.paths['/api/auth/pin']!.post!.responses;
    expect(Object.keys(pin)).toEqual(expect.arrayContaining(['400', '401', '403', '429']));
    for (const ops of Object.values(doc.paths))
      for (const op of Object.values(ops))
        for (const [code, r] of Object.entries(op.responses))
          if (/^[45]/.test(code)) expect(r.description).not.toBe('Default Response');
  });
});

describe.skipIf(!hasChromium)('admin screens in the phone app', () => {
  let rig: WebRig;
  let tc: TestController;
  let page: Page;
  let zoneA: string;

  beforeAll(async () => {
    rig = await startWebRig({ villages: ['Thôn Đồng Bùa', 'Thôn Gò Dẫu'], timeoutMs: 10_000 });
    ({ tc, page } = rig);
    zoneA = rig.zoneIds[0]!;
  });
  afterAll(() => rig?.stop());

  it('More lists the screens and switches the language', async () => {
    await page.getByRole('link', { name: 'Thêm' }).click();
    for (const name of ['Cụm loa', 'Nhật ký phát', 'Cán bộ', 'Nhật ký hệ thống', 'Tài khoản của tôi'])
      await page.getByRole('link', { name: new RegExp(`^${name}`) }).waitFor();
    await screenshot(page, 'more');
    await page.getByRole('button', { name: 'English' }).last().click();
    await page.getByRole('link', { name: /^Officers/ }).waitFor();
    await page.getByRole('button', { name: 'Tiếng Việt' }).last().click();
    await page.getByRole('link', { name: /^Cán bộ/ }).waitFor();
  });

  it('creates an editor limited to one village and lists it', async () => {
    await page.getByRole('link', { name: /^Cán bộ/ }).click();
    await page.getByRole('link', { name: '+ Thêm cán bộ' }).click();
    await page.getByLabel('Tên đăng nhập').fill('bien.tap');
    await page.getByLabel('Họ tên').fill('Nguyễn Thị Lan');
    await page.getByLabel('Mật khẩu ban đầu').fill('editor-password-12');
    await page.getByLabel('Biên tập').check();
    // every village is the default; limiting to none is refused before asking the server
    await page.getByLabel('Mọi thôn').uncheck();
    await page.getByRole('button', { name: 'Tạo tài khoản' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('Chọn ít nhất một thôn');
    await page.getByLabel('Thôn Đồng Bùa').check();
    await page.getByRole('button', { name: 'Tạo tài khoản' }).click();
    const card = page.locator('[data-officer="bien.tap"]');
    await card.waitFor();
    expect(await card.textContent()).toContain('Biên tập');
    expect(await card.textContent()).toContain('Thôn Đồng Bùa');
    expect(await card.textContent()).not.toContain('Gò Dẫu');
    await screenshot(page, 'officers');
    const users = await tc.api<{ items: { username: string; roles: string[]; zones: string[] | null }[] }>(
      'GET',
      '/api/users',
    );
    expect(users.body.items.find((u) => u.username === 'bien.tap')).toMatchObject({
      roles: ['editor'],
      zones: [zoneA],
    });
    // the same name again: said in words
    await page.getByRole('link', { name: '+ Thêm cán bộ' }).click();
    await page.getByLabel('Tên đăng nhập').fill('bien.tap');
    await page.getByLabel('Mật khẩu ban đầu').fill('editor-password-12');
    await page.getByLabel('Chỉ xem').check();
    await page.getByRole('button', { name: 'Tạo tài khoản' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('đã có người dùng');
  });

  it('unlocks a locked officer, resets a password, disables the account', async () => {
    // wrong passwords from this address pause this name here; the account-wide lock (ten times as
    // many, from everywhere) is set directly rather than by 50 slow scrypt logins
    for (let i = 0; i < 5; i++)
      await tc.api('POST', '/api/auth/login', { username: 'bien.tap', password: 'wrong-password' }, null);
    const lockedUntil = new Date(Date.now() + 15 * 60_000).toISOString();
    tc.controller.db
      .prepare('UPDATE users SET locked_until = ? WHERE username = ?')
      .run(lockedUntil, 'bien.tap');
    await page.goto(`${tc.url}/more/officers`);
    await page.locator('[data-officer="bien.tap"]').getByText('Tạm khoá đến').waitFor();
    await page.locator('[data-officer="bien.tap"] a').click();
    await page.getByRole('heading', { name: 'Nguyễn Thị Lan' }).waitFor();
    await page.getByRole('button', { name: 'Mở khoá đăng nhập' }).click();
    await page.getByText('Đã mở khoá.').waitFor();
    const users = await tc.api<{ items: { username: string; lockedUntil: string | null }[] }>(
      'GET',
      '/api/users',
    );
    expect(users.body.items.find((u) => u.username === 'bien.tap')?.lockedUntil).toBeNull();
    // unlocked: the right password works again from the address that was paused
    const back = await tc.api(
      'POST',
      '/api/auth/login',
      { username: 'bien.tap', password: 'editor-password-12' },
      null,
    );
    expect(back.status).toBe(200);
    await page.getByLabel('Mật khẩu mới').fill('reset-password-123');
    await page.getByRole('button', { name: 'Đặt lại mật khẩu' }).click();
    await page.getByText('Đã đặt lại mật khẩu').waitFor();
    const login = await tc.api(
      'POST',
      '/api/auth/login',
      { username: 'bien.tap', password: 'reset-password-123' },
      null,
    );
    expect(login.status).toBe(200);
    await page.getByRole('button', { name: 'Khoá tài khoản' }).click();
    await page.getByRole('button', { name: 'Mở lại tài khoản' }).waitFor();
    const refused = await tc.api(
      'POST',
      '/api/auth/login',
      { username: 'bien.tap', password: 'reset-password-123' },
      null,
    );
    expect(refused).toMatchObject({ status: 403, body: { error: 'account_disabled' } });
  });

  it('the audit page shows the login lines, filters them and links the CSV export', async () => {
    await page.goto(`${tc.url}/more/audit`);
    await page.getByRole('heading', { name: 'Nhật ký hệ thống' }).waitFor();
    await page.getByLabel('Việc').fill('login');
    await page.getByRole('button', { name: 'Lọc' }).click();
    await page.locator('[data-action="login (cookie)"]').first().waitFor();
    await expect
      .poll(() => page.locator('[data-action="login refused: bad_credentials"]').count())
      .toBeGreaterThan(0);
    expect(await page.locator('.audit-list li:not([data-action^="login"])').count()).toBe(0);
    // in words, not the recorded codes
    expect(await page.locator('[data-action="login (cookie)"]').first().textContent()).toContain(
      'Đăng nhập (ứng dụng)',
    );
    expect(
      await page.locator('[data-action="login refused: bad_credentials"]').first().textContent(),
    ).toContain('Đăng nhập bị từ chối: sai mật khẩu');
    await screenshot(page, 'audit');
    const href = await page.getByRole('link', { name: 'Xuất CSV' }).getAttribute('href');
    expect(href).toMatch(/^\/api\/audit\/export\?action=login&format=csv$/);
    const csv = await page.evaluate(async (h) => (await fetch(h!)).text(), href);
    expect(csv.split('\r\n')[0]).toBe('id,at,userId,username,action,subject,ip,detail');
    expect(csv).toContain('"login (cookie)"');
  });
});
