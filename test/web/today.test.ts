/**
 * Today, live: the receiver stream (GET /api/receivers/events) against a real controller and
 * simulated receivers, then the page in Debian's Chromium following receivers as they play, go
 * offline and come back without a reload or a poll, falling back to polling when the stream is
 * refused, and showing stops on their way, approvals waiting, what airs next and what just aired.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fleet } from '../../firmware-sim/index.js';
import { hasChromium, logIn, screenshot } from '../helpers/browser.js';
import { ADMIN_PASSWORD, type TestController } from '../helpers/controller.js';
import { addOfficer } from '../helpers/officers.js';
import { wav } from '../helpers/sim-harness.js';
import { waitFor } from '../helpers/wait.js';
import { startWebRig, type WebRig } from '../helpers/web-rig.js';

interface Live {
  id: string;
  name: string;
  zoneId: string | null;
  online: boolean;
  volume: number | null;
  nowPlaying: { title: string | null } | null;
}
interface Sse {
  event: string;
  data: unknown;
}

describe.skipIf(!hasChromium)('Today, live', () => {
  let rig: WebRig;
  let tc: TestController;
  let fleet: Fleet;
  let context: BrowserContext;
  let page: Page;
  let audioId = '';
  const A = 'thon-dong-bua';
  const B = 'thon-go-dau';

  /** Follows the receiver stream as `token` (null: no credentials); every event is kept. */
  async function openStream(token: string | null) {
    const abort = new AbortController();
    const res = await fetch(`${tc.url}/api/receivers/events`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: abort.signal,
    });
    const events: Sse[] = [];
    if (res.ok && res.body) {
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      void (async () => {
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buffer += value;
          let end = buffer.indexOf('\n\n');
          while (end >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            end = buffer.indexOf('\n\n');
            const event = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (event && data) events.push({ event, data: JSON.parse(data) });
          }
        }
      })().catch(() => {});
    }
    return {
      res,
      events,
      /** the first event after `from` (an index in events) that `match` accepts */
      next: (what: string, from: number, match: (e: Sse) => boolean) =>
        waitFor(what, () => events.slice(from).find(match), 10_000),
      close: () => abort.abort(),
    };
  }

  beforeAll(async () => {
    rig = await startWebRig({
      env: { TZ: 'Asia/Ho_Chi_Minh' },
      villages: [
        { id: A, name: 'Thôn Đồng Bùa' },
        { id: B, name: 'Thôn Gò Dẫu' },
      ],
      receivers: [
        { id: 'td-01', village: 0, name: 'Loa cổng làng' },
        { id: 'td-02', village: 1, name: 'Loa nhà văn hoá thôn Gò Dẫu cạnh sân bóng' },
        // registered, never switched on: offline from the start
        { id: 'td-09', village: 0, name: 'Loa chợ', off: true },
      ],
      login: false,
    });
    ({ tc, fleet, context, page } = rig);
    const up = await tc.upload(wav(440, 3000), 'tiem-phong.wav', 'Bản tin sáng');
    expect(up.status).toBe(201);
    audioId = up.audio.id;
  });

  afterAll(() => rig?.stop());

  it("the stream: 401 without a session; a snapshot, then each change; only the officer's villages", async () => {
    const anonymous = await openStream(null);
    expect(anonymous.res.status).toBe(401);
    expect(await anonymous.res.json()).toMatchObject({ error: 'unauthorized' });

    const viewer = await addOfficer(tc, 'xem-dong-bua', ['viewer'], { zones: [A] });
    const all = await openStream(tc.token);
    const mine = await openStream(viewer);
    try {
      expect(all.res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const snapAll = (await all.next('admin snapshot', 0, (e) => e.event === 'snapshot')).data as {
        receivers: Live[];
      };
      expect(snapAll.receivers.map((r) => r.id).sort()).toEqual(['td-01', 'td-02', 'td-09']);
      expect(snapAll.receivers.find((r) => r.id === 'td-09')).toMatchObject({
        online: false,
        nowPlaying: null,
      });
      const snapMine = (await mine.next('scoped snapshot', 0, (e) => e.event === 'snapshot')).data as {
        receivers: Live[];
      };
      expect(snapMine.receivers.map((r) => r.id).sort()).toEqual(['td-01', 'td-09']);
      // the villages come with it, only theirs
      expect((snapMine as unknown as { zones: { id: string }[] }).zones.map((z) => z.id)).toEqual([A]);

      // A change in village B reaches the admin, not the officer of village A.
      let from = all.events.length;
      expect((await tc.api('PATCH', '/api/receivers/td-02', { volume: 55 })).status).toBe(200);
      await all.next('td-02 at 55', from, (e) => e.event === 'receiver' && (e.data as Live).volume === 55);
      const mineFrom = mine.events.length;
      expect((await tc.api('PATCH', '/api/receivers/td-01', { volume: 60 })).status).toBe(200);
      await mine.next(
        'td-01 at 60',
        mineFrom,
        (e) => e.event === 'receiver' && (e.data as Live).volume === 60,
      );
      expect(mine.events.filter((e) => (e.data as Live).id === 'td-02')).toEqual([]);

      // Moved out of the officer's villages: "removed" for them, the new zone for the admin; and back.
      from = all.events.length;
      const fromMine = mine.events.length;
      expect((await tc.api('PATCH', '/api/receivers/td-09', { zoneId: B })).status).toBe(200);
      await mine.next(
        'td-09 removed',
        fromMine,
        (e) => e.event === 'removed' && (e.data as Live).id === 'td-09',
      );
      await all.next('td-09 in B', from, (e) => e.event === 'receiver' && (e.data as Live).zoneId === B);
      expect((await tc.api('PATCH', '/api/receivers/td-09', { zoneId: A })).status).toBe(200);
      await mine.next('td-09 back', fromMine, (e) => e.event === 'receiver' && (e.data as Live).zoneId === A);

      // Online → offline → online, as the receiver's own status says.
      from = all.events.length;
      await fleet.byId('td-02')!.goOffline();
      await all.next(
        'td-02 offline',
        from,
        (e) => e.event === 'receiver' && (e.data as Live).online === false,
      );
      await fleet.byId('td-02')!.goOnline();
      await all.next('td-02 online', from, (e) => e.event === 'receiver' && (e.data as Live).online === true);
    } finally {
      all.close();
      mine.close();
    }
  });

  it('the page follows receivers live: playing → idle, offline → online, no reload and no polling', async () => {
    let polls = 0;
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/api/receivers') polls++;
    });
    await logIn(page, tc.url, 'admin', ADMIN_PASSWORD);
    await page.locator('[data-mode="live"]').waitFor({ timeout: 10_000 });
    // a mark on this document: a reload would lose it
    await page.evaluate('window.marker = 42');
    const state = (id: string) => page.locator(`[data-receiver="${id}"]`).getAttribute('data-state');
    await expect.poll(() => state('td-01'), { timeout: 10_000 }).toBe('idle');
    expect(await state('td-09')).toBe('offline');
    await expect.poll(() => page.getByRole('status').textContent()).toContain('1 cụm loa mất kết nối');
    expect(await page.getByRole('status').textContent()).toContain('chưa từng kết nối');

    const sent = await tc.api<{ id: string }>('POST', '/api/bulletins', {
      title: 'Thông báo lịch tiêm phòng cho trẻ em',
      audioId,
      target: { zones: [A, B] },
    });
    expect(sent.status).toBe(201);
    await expect.poll(() => state('td-01'), { timeout: 10_000 }).toBe('playing');
    await expect
      .poll(() => page.locator('[data-receiver="td-01"] .playing-title').textContent())
      .toContain('Thông báo lịch tiêm phòng cho trẻ em');
    await screenshot(page, 'today');
    // At 360 px: no sideways scrolling, and each receiver's name on one line (cut, not wrapped).
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(360);
    const lines = (await page.evaluate(
      `[...document.querySelectorAll('.rx .name')].map((e) =>
        Math.round(e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight)))`,
    )) as number[];
    expect(lines.length).toBe(3);
    expect(lines.every((n) => n === 1)).toBe(true);

    await expect.poll(() => state('td-01'), { timeout: 15_000 }).toBe('idle');
    await expect.poll(() => state('td-02'), { timeout: 15_000 }).toBe('idle');
    expect(fleet.byId('td-01')!.played.at(-1)).toMatchObject({ bulletinId: sent.body.id });
    // What just aired: the bulletin, heard by both receivers on (td-09, never switched on, is not).
    const aired = page.locator(`[data-aired="bulletin:${sent.body.id}"]`);
    await expect.poll(() => aired.textContent(), { timeout: 15_000 }).toContain('2/3 cụm loa đã phát');
    expect(await aired.textContent()).toContain('Thông báo lịch tiêm phòng cho trẻ em');

    await fleet.byId('td-02')!.goOffline();
    await expect.poll(() => state('td-02'), { timeout: 10_000 }).toBe('offline');
    await expect.poll(() => page.getByRole('status').textContent()).toContain('2 cụm loa mất kết nối');
    expect(await page.locator('[data-offline="td-02"]').textContent()).toMatch(/từ \d{2}:\d{2}/);
    await fleet.byId('td-02')!.goOnline();
    await expect.poll(() => state('td-02'), { timeout: 10_000 }).toBe('idle');

    expect(await page.evaluate('window.marker')).toBe(42);
    expect(polls).toBe(0);
  });

  it('shows a stop on its way, and an approval waiting, until they are done', async () => {
    await fleet.byId('td-02')!.goOffline();
    await waitFor('td-02 offline', async () => !(await tc.isOnline('td-02')));
    const stop = await tc.api<{ stop: { id: string } }>('POST', '/api/stop', { zones: [B] });
    expect(stop.status).toBe(200);
    const editor = await addOfficer(tc, 'bien-tap', ['editor'], { displayName: 'Nguyễn Thị Lan' });
    const editorId = (await tc.api<{ id: string }>('GET', '/api/auth/me', undefined, editor)).body.id;
    const filed = await tc.api<{ approval: { id: string } }>(
      'POST',
      '/api/bulletins',
      { title: 'Bản tin chờ duyệt', audioId, target: { zones: [A] } },
      editor,
    );
    expect(filed.status).toBe(202);
    await page.goto(`${tc.url}/`);
    const stopRow = page.locator(`[data-stop="${stop.body.stop.id}"]`);
    await expect.poll(() => stopRow.textContent(), { timeout: 10_000 }).toContain('0/1 cụm loa đã dừng');
    expect(await stopRow.textContent()).toContain('Thôn Gò Dẫu');
    const waiting = page.locator(`[data-approval="${filed.body.approval.id}"]`);
    await expect.poll(() => waiting.textContent()).toContain('Bản tin chờ duyệt');
    // who asked, by name (the list answer names them: no request per person)
    expect(await waiting.textContent()).toContain('Nguyễn Thị Lan gửi lúc');
    expect(await waiting.textContent()).not.toContain(editorId);
    // Back online, the receiver applies the stop: it leaves the page by itself.
    await fleet.byId('td-02')!.goOnline();
    await expect.poll(() => stopRow.count(), { timeout: 15_000 }).toBe(0);
  });

  it('names who filed a program waiting for approval, in Programs too', async () => {
    const editor = await addOfficer(tc, 'bien-tap-2', ['editor'], { displayName: 'Trần Văn Hùng' });
    const from = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Asia/Ho_Chi_Minh' }).format(new Date());
    const filed = await tc.api<{ approval: { id: string } }>(
      'POST',
      '/api/programs',
      {
        id: 'tin-cho-duyet',
        title: 'Chương trình chờ duyệt',
        target: { zones: [A] },
        recurrence: { kind: 'daily', at: '20:00', from },
        items: [{ kind: 'audio', audio: 'Bản tin sáng' }],
      },
      editor,
    );
    expect(filed.status, JSON.stringify(filed.body)).toBe(202);
    await page.goto(`${tc.url}/`);
    await expect
      .poll(() => page.locator(`[data-approval="${filed.body.approval.id}"]`).textContent())
      .toContain('Trần Văn Hùng gửi lúc');
    await page.goto(`${tc.url}/programs/list`);
    const row = page
      .getByRole('region', { name: 'Chờ duyệt' })
      .locator(`[data-approval="${filed.body.approval.id}"]`);
    await expect.poll(() => row.textContent()).toContain('Chương trình chờ duyệt');
    expect(await row.textContent()).toContain('do Trần Văn Hùng gửi lúc');
  });

  it('shows what airs next for a program created through the API', async () => {
    const start = Date.now() + 10 * 60_000;
    const hcm = new Date(start + 7 * 3600_000).toISOString(); // Asia/Ho_Chi_Minh: UTC+7, no DST
    const res = await tc.api('POST', '/api/programs', {
      id: 'sang',
      title: 'Chương trình phát thanh buổi sáng',
      target: { zones: [A] },
      recurrence: { kind: 'daily', at: hcm.slice(11, 16), from: hcm.slice(0, 10) },
      items: [{ kind: 'audio', audio: 'Bản tin sáng' }],
    });
    expect(res.status).toBe(201);
    await page.goto(`${tc.url}/`);
    const next = page.locator('[data-next="sang"]').first();
    await expect
      .poll(() => next.textContent(), { timeout: 10_000 })
      .toContain('Chương trình phát thanh buổi sáng');
    expect(await next.textContent()).toContain(hcm.slice(11, 16));
  });

  it('a phone that knows its officer opens one stream before the app runs, and the app takes it over', async () => {
    const other = await context.newPage();
    const streams: string[] = [];
    other.on('request', (r) => {
      if (new URL(r.url()).pathname === '/api/receivers/events') streams.push(r.url());
    });
    await other.goto(`${tc.url}/`);
    await other.locator('[data-mode="live"]').waitFor({ timeout: 10_000 });
    await expect.poll(() => other.locator('[data-receiver][data-state]').count()).toBe(3);
    // A change after the take-over arrives on that same stream.
    expect((await tc.api('PATCH', '/api/receivers/td-02', { name: 'Loa chợ' })).status).toBe(200);
    await expect
      .poll(() => other.locator('[data-receiver="td-02"] .name').textContent(), { timeout: 10_000 })
      .toBe('Loa chợ');
    expect(streams).toHaveLength(1);
    await other.close();
  });

  it('falls back to polling when the stream is refused, and returns to it', async () => {
    const other = await context.newPage();
    let refused = 0;
    await other.route('**/api/receivers/events', (route) => {
      refused++;
      return route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":"unavailable"}' });
    });
    await other.goto(`${tc.url}/`);
    await other.locator('[data-mode="polling"]').waitFor({ timeout: 10_000 });
    expect(refused).toBeGreaterThan(0);
    expect((await tc.api('PATCH', '/api/receivers/td-01', { name: 'Loa cổng làng mới' })).status).toBe(200);
    await expect
      .poll(() => other.locator('[data-receiver="td-01"] .name').textContent(), { timeout: 10_000 })
      .toBe('Loa cổng làng mới');
    await other.unroute('**/api/receivers/events');
    await other.locator('[data-mode="live"]').waitFor({ timeout: 20_000 });
    await other.close();
  });
});
