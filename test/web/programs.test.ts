/**
 * Programs and the as-run log in the phone app, in Debian's Chromium against a real controller and
 * simulated receivers: a daily program made in the page shows its airings in the week; a clash is
 * shown before saving and resolved with the order choice; an airing that aired on the receivers
 * shows each receiver's outcome in the as-run log; an operator cancels one airing, moves another
 * and suspends a village from the week, and the calendar shows what the server then holds.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fleet } from '../../firmware-sim/index.js';
import { hasChromium, launchBrowser, logIn, phone, screenshot } from '../helpers/browser.js';
import { ADMIN_PASSWORD, startTestController, type TestController } from '../helpers/controller.js';
import { addOfficer, OFFICER_PASSWORD } from '../helpers/officers.js';
import { wav } from '../helpers/sim-harness.js';
import { waitFor } from '../helpers/wait.js';

const TZ = 'Asia/Ho_Chi_Minh';
/** A local date YYYY-MM-DD in the station's time zone, `days` from now. */
const localDate = (days: number) =>
  new Intl.DateTimeFormat('sv-SE', { timeZone: TZ, dateStyle: 'short' }).format(
    new Date(Date.now() + days * 86_400_000),
  );
/** The local date and time of an instant in the station's time zone, ['YYYY-MM-DD', 'HH:MM']. */
const localAt = (ms: number) =>
  new Intl.DateTimeFormat('sv-SE', { timeZone: TZ, dateStyle: 'short', timeStyle: 'short' })
    .format(new Date(ms))
    .split(' ') as [string, string];

interface ProgramOut {
  id: string;
  title: string;
  body: {
    recurrence: { kind: string; at: string };
    target: { zones?: string[] };
    clashes: Record<string, string>;
  };
  next: { id: string; at: string; local: string; durationMs: number }[];
}
interface AiringOut {
  id: string;
  at: string;
  status: string;
  shifted: boolean;
  suspendedIn: string[];
}

describe.skipIf(!hasChromium)('programs and the as-run log in the phone app', () => {
  let tc: TestController;
  let fleet: Fleet;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const zoneIds: string[] = [];
  let audioId = '';

  beforeAll(async () => {
    tc = await startTestController({ TZ });
    for (const name of ['Thôn Đồng Bùa', 'Thôn Gò Dẫu']) {
      const z = await tc.api<{ id: string }>('POST', '/api/zones', { name });
      zoneIds.push(z.body.id);
    }
    await tc.register('prg-01', zoneIds[0]!, 'Loa cổng làng');
    await tc.register('prg-02', zoneIds[1]!, 'Loa nhà văn hoá');
    const up = await tc.upload(wav(440, 2000), 'ban-tin.wav', 'Bản tin sáng');
    expect(up.status).toBe(201);
    audioId = up.audio.id;
    fleet = await tc.startFleet(['prg-01', 'prg-02'], { timeFactor: 0.05 });
    browser = await launchBrowser();
    context = await phone(browser);
    page = await context.newPage();
    await logIn(page, tc.url, 'admin', ADMIN_PASSWORD);
  });

  afterAll(async () => {
    await browser?.close();
    await fleet?.stop();
    await tc?.stop();
  });

  /** Fills the program form for a daily program at `at` in the first village. */
  async function fillDaily(title: string, at: string, on: Page = page) {
    await on.goto(`${tc.url}/programs/new`);
    await on.getByLabel('Tên chương trình').fill(title);
    await on.getByRole('checkbox', { name: 'Thôn Đồng Bùa' }).check();
    await on.getByRole('radio', { name: 'Hằng ngày' }).check();
    await on.getByLabel('Giờ phát').fill(at);
    await on.getByRole('combobox', { name: /^Tệp âm thanh/ }).selectOption(audioId);
    // the controller plans it as typed
    await on.getByRole('heading', { name: 'Sẽ phát' }).waitFor({ timeout: 10_000 });
  }

  it('creates a daily program in the page and shows its next airings in the week', async () => {
    await fillDaily('Bản tin sáng', '06:30');
    await page.getByRole('button', { name: 'Lưu' }).click();
    // the program's page: its next airings
    await page.getByRole('heading', { name: 'Các buổi phát tới' }).waitFor({ timeout: 10_000 });
    const list = await tc.api<{ items: ProgramOut[] }>('GET', '/api/programs');
    const saved = list.body.items.find((p) => p.title === 'Bản tin sáng');
    expect(saved?.body).toMatchObject({
      recurrence: { kind: 'daily', at: '06:30', from: localDate(0) },
      target: { zones: [zoneIds[0]] },
      items: [{ kind: 'audio', audio: audioId }],
    });
    await expect.poll(() => page.locator('ol.next li').count()).toBeGreaterThanOrEqual(7);
    expect(await page.evaluate('localStorage.getItem("draft:program:new")')).toBeNull();

    // the week: tomorrow's strip shows it at 06:30, and its readiness per village opens
    await page.getByRole('link', { name: 'Lịch tuần' }).click();
    const tomorrow = localDate(1);
    await page.locator(`.day-strip [data-date="${tomorrow}"]`).click({ timeout: 10_000 });
    const item = page.locator(`ul.airings[data-day="${tomorrow}"] li[data-program="${saved!.id}"]`);
    await item.waitFor({ timeout: 10_000 });
    expect(await item.locator('.time').textContent()).toBe('06:30');
    const airingId = await item.getAttribute('data-airing');
    expect(saved!.next.map((a) => a.id)).toContain(airingId);
    // a week ahead is past the receivers' 48 h horizon: planned, shown all the same
    const lastDay = localDate(6);
    await page.locator(`.day-strip [data-date="${lastDay}"]`).click();
    await page
      .locator(`ul.airings[data-day="${lastDay}"] li[data-program="${saved!.id}"]`)
      .waitFor({ timeout: 10_000 });
    const week = await tc.api<{ items: { local: string; planned?: boolean }[] }>(
      'GET',
      `/api/airings?program=${saved!.id}&planned=true`,
    );
    expect(week.body.items.find((a) => a.local.startsWith(lastDay))?.planned).toBe(true);
    expect(week.body.items.find((a) => a.local.startsWith(tomorrow))?.planned).toBeUndefined();
    await page.locator(`.day-strip [data-date="${tomorrow}"]`).click();
    await item.getByRole('button').first().click({ timeout: 10_000 });
    await item
      .locator(`.readiness [data-zone="${zoneIds[0]}"] [data-receiver="prg-01"]`)
      .waitFor({ timeout: 10_000 });
    await screenshot(page, 'programs');
  });

  it('shows a clash before saving; choosing "after" saves it with that order', async () => {
    const other = await tc.api<ProgramOut>('POST', '/api/programs', {
      id: 'thoi-su',
      title: 'Thời sự chiều',
      target: { zones: [zoneIds[0]] },
      recurrence: { kind: 'daily', at: '18:00', from: localDate(0) },
      items: [{ kind: 'audio', audio: audioId }],
    });
    expect(other.status).toBe(201);
    await fillDaily('Nhạc chiều', '18:00');
    const clash = page.locator('[data-clash="thoi-su"]');
    await clash.waitFor({ timeout: 10_000 });
    expect(await clash.textContent()).toContain('Thời sự chiều');
    const save = page.getByRole('button', { name: 'Lưu' });
    expect(await save.isDisabled()).toBe(true);
    await page.getByLabel('Thứ tự với «Thời sự chiều»').selectOption('after');
    await expect.poll(() => save.isDisabled()).toBe(false);
    await clash.scrollIntoViewIfNeeded();
    await screenshot(page, 'programs-clash');
    await save.click();
    await page.getByRole('heading', { name: 'Các buổi phát tới' }).waitFor({ timeout: 10_000 });
    const list = await tc.api<{ items: ProgramOut[] }>('GET', '/api/programs');
    const mine = list.body.items.find((p) => p.title === 'Nhạc chiều')!;
    expect(mine.body.clashes).toEqual({ 'thoi-su': 'after' });
    // the order is applied: each of its airings starts where the other's ends
    const a = (await tc.api<ProgramOut>('GET', `/api/programs/${mine.id}`)).body.next[0]!;
    const b = (await tc.api<ProgramOut>('GET', '/api/programs/thoi-su')).body.next[0]!;
    expect(Date.parse(a.at)).toBe(Date.parse(b.at) + b.durationMs);

    // edit it in the page: the form holds what was saved, the order stays
    await page.getByRole('link', { name: 'Sửa' }).click();
    const title = page.getByLabel('Tên chương trình');
    await expect.poll(() => title.inputValue(), { timeout: 10_000 }).toBe('Nhạc chiều');
    expect(await page.getByLabel('Thứ tự với «Thời sự chiều»').inputValue()).toBe('after');
    await title.fill('Nhạc buổi chiều');
    await page.getByRole('heading', { name: 'Sẽ phát' }).waitFor({ timeout: 10_000 });
    await page.getByRole('button', { name: 'Lưu' }).click();
    await page.getByRole('heading', { name: 'Nhạc buổi chiều' }).waitFor({ timeout: 10_000 });
    const edited = (await tc.api<ProgramOut & { version: number }>('GET', `/api/programs/${mine.id}`)).body;
    expect(edited.version).toBe(2);
    expect(edited.body.clashes).toEqual({ 'thoi-su': 'after' });
  });

  it("files an editor's program for approval; an approver approves it in the page", async () => {
    await addOfficer(tc, 'bientap', ['editor']);
    const editorContext = await phone(browser);
    try {
      const editor = await editorContext.newPage();
      await logIn(editor, tc.url, 'bientap', OFFICER_PASSWORD);
      await fillDaily('Tin nông nghiệp', '09:00', editor);
      await editor.getByRole('button', { name: 'Lưu' }).click();
      await expect
        .poll(() => editor.getByRole('status').textContent(), { timeout: 10_000 })
        .toContain('Đã gửi chờ duyệt');
    } finally {
      await editorContext.close();
    }
    const before = await tc.api<{ items: ProgramOut[] }>('GET', '/api/programs');
    expect(before.body.items.some((p) => p.title === 'Tin nông nghiệp')).toBe(false);
    await page.goto(`${tc.url}/programs/list`);
    const queue = page.getByRole('region', { name: 'Chờ duyệt' });
    await queue.getByText('Tin nông nghiệp').waitFor({ timeout: 10_000 });
    await queue.getByRole('button', { name: 'Duyệt' }).click();
    await expect.poll(() => queue.getByRole('status').textContent(), { timeout: 10_000 }).toBe('Đã duyệt.');
    const after = await tc.api<{ items: ProgramOut[] }>('GET', '/api/programs');
    expect(after.body.items.find((p) => p.title === 'Tin nông nghiệp')?.body.recurrence).toMatchObject({
      kind: 'daily',
      at: '09:00',
    });
  });

  it('keeps the form as a draft when the network drops while saving', async () => {
    await page.goto(`${tc.url}/programs/new`);
    await page.getByLabel('Tên chương trình').fill('Tin mất mạng');
    await page.getByRole('checkbox', { name: 'Thôn Gò Dẫu' }).check();
    await page.getByLabel('Giờ phát').fill('11:15');
    await page.getByRole('combobox', { name: /^Tệp âm thanh/ }).selectOption(audioId);
    await context.setOffline(true);
    try {
      await page.getByRole('button', { name: 'Lưu' }).click();
      await expect.poll(() => page.getByRole('alert').textContent()).toContain('Không kết nối được máy chủ');
    } finally {
      await context.setOffline(false);
    }
    await page.reload();
    await expect
      .poll(() => page.getByLabel('Tên chương trình').inputValue(), { timeout: 10_000 })
      .toBe('Tin mất mạng');
    expect(await page.getByLabel('Giờ phát').inputValue()).toBe('11:15');
    expect(await page.getByRole('checkbox', { name: 'Thôn Gò Dẫu' }).isChecked()).toBe(true);
    await page.getByRole('button', { name: 'Bỏ bản nháp' }).click();
    // removed, or already saved again as the emptied form: either way without what was typed
    const draft = await page.evaluate<string | null>('localStorage.getItem("draft:program:new")');
    expect(draft ?? '').not.toContain('Tin mất mạng');
  });

  it('lists each receiver’s outcome in the as-run log once an airing has aired', async () => {
    // A one-off program some minutes ahead, its airing then moved to a few seconds from now.
    const later = new Date(Date.now() + 10 * 60_000);
    const [date, time] = new Intl.DateTimeFormat('sv-SE', {
      timeZone: TZ,
      dateStyle: 'short',
      timeStyle: 'short',
    })
      .format(later)
      .split(' ');
    // it goes first wherever it would meet the programs made above (their time may be now)
    const existing = (await tc.api<{ items: ProgramOut[] }>('GET', '/api/programs')).body.items;
    const made = await tc.api<ProgramOut>('POST', '/api/programs', {
      id: 'tin-nhanh',
      title: 'Tin nhanh',
      target: { all: true },
      recurrence: { kind: 'once', at: time, from: date },
      items: [{ kind: 'audio', audio: audioId }],
      clashes: Object.fromEntries(existing.map((p) => [p.id, 'first'])),
    });
    expect(made.status).toBe(201);
    const airingId = (await tc.api<ProgramOut>('GET', '/api/programs/tin-nhanh')).body.next[0]!.id;
    const shifted = await tc.api('POST', `/api/airings/${airingId}/shift`, {
      at: new Date(Date.now() + 12_000).toISOString(),
    });
    expect(shifted.status).toBe(200);

    // before it airs: the program's page shows both villages ready, from the receivers' reports
    await page.goto(`${tc.url}/programs/p/tin-nhanh`);
    for (const z of zoneIds)
      await expect
        .poll(() => page.locator(`.readiness [data-zone="${z}"] [data-ready]`).getAttribute('data-ready'), {
          timeout: 11_000,
        })
        .toBe('1/1');

    await waitFor(
      'both receivers aired it',
      async () => {
        const d = await tc.api<{ receivers: { outcome: string | null }[] }>(
          'GET',
          `/api/airings/${airingId}`,
        );
        return d.body.receivers.length === 2 && d.body.receivers.every((r) => r.outcome === 'aired');
      },
      30_000,
    );
    await page.getByRole('link', { name: 'Nhật ký', exact: true }).click();
    await page.getByRole('button', { name: 'Xem' }).click();
    const card = page.locator(`[data-asrun="${airingId}"]`);
    await card.waitFor({ timeout: 10_000 });
    for (const id of ['prg-01', 'prg-02'])
      expect(await card.locator(`[data-receiver="${id}"]`).getAttribute('data-outcome')).toBe('aired');
    expect(await card.locator('[data-receiver="prg-01"] .badge').textContent()).toBe('Đã phát');
    // the chart: an aired bar for each village today
    for (const z of zoneIds)
      await page.locator(`[data-chart-zone="${z}"] rect[data-part="aired"]`).first().waitFor();
    // the CSV link carries the same filters and the session
    const href = await page.getByRole('link', { name: 'Tải tệp CSV' }).getAttribute('href');
    const csv = await page.evaluate(async (u) => (await fetch(u!)).text(), href);
    expect(csv).toContain(airingId);
    await page.locator('.chart').scrollIntoViewIfNeeded();
    await screenshot(page, 'asrun');
  });

  it('cancels one airing, moves another and suspends a village from the week, as the server then holds it', async () => {
    // a daily program two hours ahead in the second village: its next two airings are both sent
    const [, at] = localAt(Date.now() + 2 * 3600_000);
    const made = await tc.api('POST', '/api/programs', {
      id: 'tin-go-dau',
      title: 'Tin thôn Gò Dẫu',
      target: { zones: [zoneIds[1]] },
      recurrence: { kind: 'daily', at, from: localDate(0) },
      items: [{ kind: 'audio', audio: audioId }],
    });
    expect(made.status).toBe(201);
    const [first, second] = (await tc.api<ProgramOut>('GET', '/api/programs/tin-go-dau')).body.next;
    expect(second).toBeDefined();
    const airings = async () =>
      (await tc.api<{ items: AiringOut[] }>('GET', '/api/airings?program=tin-go-dau')).body.items;
    const airing = async (id: string) => (await airings()).find((a) => a.id === id);
    const row = (id: string) => page.locator(`li[data-airing="${id}"]`);
    const onDay = async (ms: number) => {
      await page.locator(`.day-strip [data-date="${localAt(ms)[0]}"]`).click();
    };
    await page.goto(`${tc.url}/programs`);

    // Cancel the first, after a confirmation.
    await onDay(Date.parse(first!.at));
    await row(first!.id).getByRole('button').first().click();
    await row(first!.id).getByRole('button', { name: 'Huỷ lần phát này' }).click();
    await row(first!.id).getByText('Các lần phát khác của chương trình vẫn giữ nguyên').waitFor();
    await row(first!.id).getByRole('button', { name: 'Huỷ lần phát', exact: true }).click();
    await row(first!.id).locator('.what .muted', { hasText: 'Đã huỷ' }).waitFor();
    expect(await airing(first!.id)).toMatchObject({ status: 'cancelled' });
    expect(await airing(second!.id)).toMatchObject({ status: 'scheduled' });

    // Move the second 30 minutes later: the calendar shows it at its new time.
    await onDay(Date.parse(second!.at));
    await row(second!.id).getByRole('button').first().click();
    await row(second!.id).getByRole('button', { name: 'Dời giờ' }).click();
    await row(second!.id).getByRole('button', { name: 'Dời muộn 30 phút' }).click();
    const movedTo = Date.parse(second!.at) + 30 * 60_000;
    const [newDate, newTime] = localAt(movedTo);
    expect(await row(second!.id).getByLabel('Giờ phát mới').inputValue()).toBe(newTime);
    expect(await row(second!.id).getByLabel('Ngày phát mới').inputValue()).toBe(newDate);
    await screenshot(page, 'programs-shift');
    await row(second!.id).getByRole('button', { name: 'Dời sang giờ này' }).click();
    await expect.poll(async () => Date.parse((await airing(second!.id))!.at)).toBe(movedTo);
    expect((await airing(second!.id))?.shifted).toBe(true);
    await onDay(movedTo);
    await expect.poll(() => row(second!.id).locator('.time').textContent()).toBe(newTime);
    expect(await row(second!.id).textContent()).toContain(`Đã dời từ ${at}`);

    // Suspend the village up to the day of the moved airing, with the reason; then resume it.
    await page.getByRole('button', { name: 'Tạm dừng lịch một thôn' }).click();
    const form = page.getByRole('form', { name: 'Tạm dừng lịch một thôn' });
    await form.getByLabel('Thôn').selectOption({ label: 'Thôn Gò Dẫu' });
    await form.getByLabel('Đến hết ngày').fill(newDate);
    await form.getByLabel('Lý do').fill('Sửa đường dây loa');
    await form.getByRole('button', { name: 'Tạm dừng lịch' }).click();
    const suspended = page.locator(`[data-suspended-zone="${zoneIds[1]}"]`);
    await suspended.getByText('Lý do: Sửa đường dây loa').waitFor();
    expect(await suspended.textContent()).toContain('đến hết ngày');
    await row(second!.id).getByText('Tạm dừng ở Thôn Gò Dẫu').waitFor();
    expect((await airing(second!.id))?.suspendedIn).toEqual([zoneIds[1]]);
    await suspended.scrollIntoViewIfNeeded();
    await screenshot(page, 'programs-suspended');
    await suspended.getByRole('button', { name: 'Cho Thôn Gò Dẫu phát lại' }).click();
    await suspended.waitFor({ state: 'detached' });
    await row(second!.id).getByText('Tạm dừng ở Thôn Gò Dẫu').waitFor({ state: 'detached' });
    expect((await airing(second!.id))?.suspendedIn).toEqual([]);

    // An editor may do none of it: the airing opens on its readiness only.
    await addOfficer(tc, 'bientap-lich', ['editor']);
    const editorContext = await phone(browser);
    try {
      const editor = await editorContext.newPage();
      await logIn(editor, tc.url, 'bientap-lich', OFFICER_PASSWORD);
      await editor.goto(`${tc.url}/programs`);
      await editor.locator(`.day-strip [data-date="${newDate}"]`).click();
      const seen = editor.locator(`li[data-airing="${second!.id}"]`);
      await seen.getByRole('button').first().click();
      await seen.locator('.readiness').waitFor();
      expect(await seen.getByRole('button', { name: 'Dời giờ' }).count()).toBe(0);
      expect(await seen.getByRole('button', { name: 'Huỷ lần phát này' }).count()).toBe(0);
      expect(await editor.getByRole('button', { name: 'Tạm dừng lịch một thôn' }).count()).toBe(0);
    } finally {
      await editorContext.close();
    }
  });
});
