/**
 * The audio library in Debian's Chromium against a real controller: upload with a progress bar
 * (the API then holds the audio), preview plays, metadata through Intl vi-VN, delete — refused
 * in plain Vietnamese while a bulletin uses the audio.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIO_FIXTURES } from '../helpers/audio-app.js';
import { hasChromium, screenshot } from '../helpers/browser.js';
import type { TestController } from '../helpers/controller.js';
import { startWebRig, type WebRig } from '../helpers/web-rig.js';

/** What the test reads of the page's audio element (the test's tsconfig has no DOM types). */
interface Media {
  duration: number;
  currentTime: number;
  play(): Promise<void>;
  pause(): void;
}

interface Audio {
  id: string;
  name: string;
}

describe.skipIf(!hasChromium)('the library screen', () => {
  let rig: WebRig;
  let tc: TestController;
  let page: Page;
  const list = async () => (await tc.api<{ items: Audio[] }>('GET', '/api/audio')).body.items;

  beforeAll(async () => {
    rig = await startWebRig({ timeoutMs: 10_000 });
    ({ tc, page } = rig);
  });

  afterAll(() => rig?.stop());

  it('uploads a file with a progress bar, then lists it (the API holds it)', async () => {
    await page.getByRole('link', { name: 'Thư viện' }).click();
    await page.getByRole('heading', { name: 'Thư viện âm thanh' }).waitFor();
    await expect.poll(() => page.getByText('Thư viện chưa có âm thanh nào').count()).toBe(1);
    // A file large enough that the upload takes several progress events: WAV silence, 2 s.
    const wav = readFileSync(join(AUDIO_FIXTURES, 'tone.wav'));
    await page.getByLabel('Tệp âm thanh').setInputFiles({
      name: 'tone.wav',
      mimeType: 'audio/wav',
      buffer: wav,
    });
    await page.getByLabel('Tên hiển thị').fill('Thông báo họp thôn');
    // Hold the request until the progress bar has been seen, so the test sees it every time.
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    await page.route('**/api/audio', async (route) => {
      if (route.request().method() !== 'POST') return route.fallback();
      await held;
      return route.fallback();
    });
    // Record every value the bar shows (it is gone once the upload ends).
    await page.evaluate(() => {
      const g = globalThis as unknown as {
        seen: number[];
        document: { body: unknown; querySelector(s: string): { value: number } | null };
        MutationObserver: new (cb: () => void) => { observe(n: unknown, o: object): void };
      };
      g.seen = [];
      new g.MutationObserver(() => {
        const bar = g.document.querySelector('.upload progress');
        if (bar && g.seen.at(-1) !== bar.value) g.seen.push(bar.value);
      }).observe(g.document.body, { subtree: true, childList: true, attributes: true });
    });
    await page.getByRole('button', { name: 'Tải lên' }).click();
    const bar = page.getByRole('progressbar', { name: 'Tiến độ tải lên' });
    await bar.waitFor({ timeout: 5000 });
    await expect.poll(() => page.getByText(/Đang tải lên… \d+%/).count()).toBe(1);
    release();
    await page.getByText('Đã tải lên “Thông báo họp thôn”.').waitFor({ timeout: 10_000 });
    await page.unroute('**/api/audio');
    await bar.waitFor({ state: 'detached', timeout: 5000 });
    const seen = await page.evaluate(() => (globalThis as unknown as { seen: number[] }).seen);
    // from 0 to 100 as the bytes left (XHR upload progress events)
    expect(seen[0]).toBe(0);
    expect(seen).toContain(100);
    const item = page.locator('[data-audio]').filter({ hasText: 'Thông báo họp thôn' });
    await item.waitFor();
    const items = await list();
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ name: 'Thông báo họp thôn' });
    expect(await item.getAttribute('data-audio')).toBe(items[0]!.id);
    // The draft name was cleared once sent.
    expect(await page.getByLabel('Tên hiển thị').inputValue()).toBe('');
    await screenshot(page, 'library');
  });

  it('refuses a file that is not audio in plain Vietnamese, keeping the form', async () => {
    await page.getByLabel('Tệp âm thanh').setInputFiles(join(AUDIO_FIXTURES, 'not-audio.mp3'));
    await page.getByLabel('Tên hiển thị').fill('Tệp hỏng');
    await page.getByRole('button', { name: 'Tải lên' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor({ timeout: 10_000 });
    expect(await alert.textContent()).not.toMatch(/unsupported|unreadable|Error|\{/);
    expect(await page.getByLabel('Tên hiển thị').inputValue()).toBe('Tệp hỏng');
    await page.getByRole('button', { name: 'Thử lại' }).waitFor();
    expect(await list()).toHaveLength(1);
  });

  it('opens an audio: metadata in vi-VN, the preview plays, renditions listed', async () => {
    const [audio] = await list();
    await page.locator(`[data-audio="${audio!.id}"] a`).click();
    await page.getByRole('heading', { name: 'Thông báo họp thôn' }).waitFor();
    const duration = await page.locator('[data-field="duration"]').textContent();
    expect(duration).toMatch(/^\d+:\d\d$/);
    // vi-VN writes the decimal comma and day/month/year.
    expect(await page.locator('[data-field="size"]').textContent()).toMatch(/^\d+(,\d)? KB$/);
    expect(await page.locator('[data-field="created"]').textContent()).toMatch(/\d{2}\/\d{2}\/\d{4}/);
    await page.getByText('Chưa có bản nhẹ').waitFor();
    const player = page.locator('audio');
    await expect
      .poll(() => player.evaluate((a) => (a as unknown as Media).duration), { timeout: 10_000 })
      .toBeGreaterThan(0);
    await player.evaluate((a) => (a as unknown as Media).play());
    await expect
      .poll(() => player.evaluate((a) => (a as unknown as Media).currentTime), { timeout: 10_000 })
      .toBeGreaterThan(0);
    await player.evaluate((a) => (a as unknown as Media).pause());
    await screenshot(page, 'library-detail');
  });

  it('explains a refused delete (in use by a bulletin), then deletes once it is free', async () => {
    const [audio] = await list();
    const zone = await tc.api<{ id: string }>('POST', '/api/zones', { name: 'Thôn Một' });
    // An adopted receiver (offline is enough) for the bulletin to target.
    await tc.register('lib-01', zone.body.id);
    // Held by an active bulletin (valid for an hour): the library refuses to delete it (409 audio_in_use).
    const bulletin = await tc.api<{ id: string }>('POST', '/api/bulletins', {
      audioId: audio!.id,
      target: { zones: [zone.body.id] },
      expiresInSeconds: 3600,
    });
    expect(bulletin.status, JSON.stringify(bulletin.body)).toBe(201);
    await page.getByRole('button', { name: 'Xoá âm thanh này' }).click();
    await page.getByRole('button', { name: 'Xoá', exact: true }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/đang được một thông báo hoặc lịch phát dùng/);
    expect(await list()).toHaveLength(1);

    const cancel = await tc.api('POST', `/api/bulletins/${bulletin.body.id}/cancel`, {});
    expect(cancel.status).toBeLessThan(300);
    await page.getByRole('button', { name: 'Xoá âm thanh này' }).click();
    await page.getByRole('button', { name: 'Xoá', exact: true }).click();
    await page.getByText('Đã xoá.').waitFor();
    await page.getByText('Thư viện chưa có âm thanh nào').waitFor();
    expect(await list()).toHaveLength(0);
  });

  it('keeps the chosen file and the name when the connection drops, and retries', async () => {
    const context = page.context();
    await page.getByLabel('Tệp âm thanh').setInputFiles(join(AUDIO_FIXTURES, 'tone.ogg'));
    await page.getByLabel('Tên hiển thị').fill('Lịch tiêm phòng');
    await context.setOffline(true);
    try {
      await page.getByRole('button', { name: 'Tải lên' }).click();
      await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/Không kết nối được máy chủ/);
    } finally {
      await context.setOffline(false);
    }
    expect(await list()).toHaveLength(0);
    // The name is kept as a draft in localStorage; the file stays chosen on the page.
    expect(
      await page.evaluate(() =>
        (
          globalThis as unknown as { localStorage: { getItem(k: string): string | null } }
        ).localStorage.getItem('library.uploadName'),
      ),
    ).toBe('Lịch tiêm phòng');
    await page.getByRole('button', { name: 'Thử lại' }).click();
    await page.getByText('Đã tải lên “Lịch tiêm phòng”.').waitFor();
    expect((await list()).map((a) => a.name)).toEqual(['Lịch tiêm phòng']);
  });
});
