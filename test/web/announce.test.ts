/**
 * "Announce now" on the phone, in Debian's Chromium against a real controller and three simulated
 * receivers in three villages: typed text watched live to "heard", a voice clip recorded with
 * Chromium's fake microphone (and as Safari records, through the page's WAV path), the PIN for every
 * village, the all-stop, a draft (clip included) that survives a dropped connection and a reload, and
 * a send whose answer is lost sent again without airing twice. A second controller keeps its
 * confirmation window: the PIN the server asks for after what was just sent, and an editor's
 * announcement that waits for an approver.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, fetchTrustedKeys, startFleet } from '../../firmware-sim/index.js';
import { hasChromium, launchBrowser, logIn, phone, screenshot } from '../helpers/browser.js';
import { startTestController, type TestController } from '../helpers/controller.js';
import { addOfficer, OFFICER_PASSWORD } from '../helpers/officers.js';
import { wav } from '../helpers/sim-harness.js';
import { waitFor } from '../helpers/wait.js';

const VILLAGES = ['Thôn Đồng Bùa', 'Thôn Gò Dẫu', 'Thôn Quan Nội'];
const PIN = '246813';
const NO_NETWORK = 'Không kết nối được máy chủ. Kiểm tra mạng rồi thử lại; nội dung đang nhập vẫn được giữ.';

interface Reach {
  announcement: {
    id: string;
    status: string;
    audioId: string | null;
    bulletinId: string | null;
    approvalId: string | null;
  };
  counts: { total: number; heard: number };
  villages: { name: string }[];
}
/** The parts of an <audio> element the tests read (no DOM types in the test program). */
interface AudioEl {
  duration: number;
  currentTime: number;
  src: string;
  play(): Promise<void>;
  pause(): void;
}
interface AudioDetail {
  sha256: string;
  codec: string | null;
  durationMs: number | null;
  renditions: { sha256: string }[];
}

/** Opens the Announce tab and waits for its villages. */
async function openAnnounceOn(p: Page, village: string) {
  await p.getByRole('link', { name: 'Thông báo' }).click();
  await p.getByRole('heading', { name: 'Thông báo ngay' }).waitFor();
  await p.getByLabel(village).waitFor();
}
/** The announcement the reach view shows (its id is in the address). */
async function shownOn(p: Page, tc: TestController) {
  await p.waitForURL(/\/announce\/[0-9a-f-]{36}$/, { timeout: 30_000 });
  const id = p.url().split('/').pop()!;
  return (await tc.api<Reach>('GET', `/api/announcements/${id}`)).body;
}
const reachOn = (p: Page, id: string) => p.locator(`[data-receiver="${id}"]`).getAttribute('data-reach');

/** The draft kept in the phone's IndexedDB: its clip's size and type, and its Idempotency-Key. */
const keptDraft = (p: Page) =>
  p.evaluate(`new Promise((resolve, reject) => {
    const open = indexedDB.open('loalang-drafts');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const get = open.result.transaction('drafts').objectStore('drafts').get('announce');
      get.onsuccess = () => {
        open.result.close();
        const d = get.result;
        resolve(d ? { key: d.key, clip: d.clip ? { size: d.clip.size, type: d.clip.type } : null } : null);
      };
    };
  })`) as Promise<{ key: string; clip: { size: number; type: string } | null } | null>;

/** Records ~2 s from Chromium's fake microphone and waits for the playback player. */
async function recordOn(p: Page) {
  await p.getByRole('button', { name: /Bắt đầu ghi âm/ }).click();
  const live = p.getByRole('status').filter({ hasText: 'Đang ghi' });
  await live.waitFor();
  await expect
    .poll(
      async () =>
        Number.parseFloat(((await live.textContent()) ?? '').replace(/[^\d,]/g, '').replace(',', '.')),
      { timeout: 10_000 },
    )
    .toBeGreaterThanOrEqual(2);
  await p.getByRole('button', { name: /Dừng ghi/ }).click();
  await p.getByTestId('clip-player').waitFor();
}

/**
 * Lets the page's first POST /api/announcements reach the controller and drops its answer on the
 * way back (the connection resets), as on 3G; later ones pass. The keys each one carried, and the
 * status the lost answer had.
 */
async function loseFirstAnswer(p: Page) {
  const lost = { keys: [] as string[], status: null as number | null };
  await p.route('**/api/announcements', async (route) => {
    const request = route.request();
    if (request.method() !== 'POST') return route.continue();
    lost.keys.push(request.headers()['idempotency-key'] ?? '');
    if (lost.status !== null) return route.continue();
    lost.status = (await route.fetch()).status();
    return route.abort('connectionreset');
  });
  return lost;
}

/** The POST /api/announcements answer the page gets next. */
const nextAnnounceAnswer = (p: Page) =>
  p.waitForResponse(
    (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/announcements',
  );

describe.skipIf(!hasChromium)('announce now, on the phone', { timeout: 90_000 }, () => {
  let tc: TestController;
  let fleet: Fleet;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const zoneIds: string[] = [];
  const rx = (id: string) => fleet.receivers.find((r) => r.id === id)!;

  beforeAll(async () => {
    // CONFIRM_WINDOW_S=0: each test's announcement is judged alone (the rule that adds up an
    // officer's recent sends toward "every village" has its own API tests).
    tc = await startTestController({ CONFIRM_WINDOW_S: '0' });
    for (const [i, name] of VILLAGES.entries()) {
      const z = await tc.api<{ id: string }>('POST', '/api/zones', { name });
      zoneIds.push(z.body.id);
      await tc.register(`wan-0${i + 1}`, z.body.id, `Loa ${name.replace('Thôn ', '')}`);
    }
    fleet = await startFleet({
      count: 3,
      idPrefix: 'wan',
      brokerUrl: tc.mqttUrl,
      trustedKeys: await fetchTrustedKeys(`${tc.url}/api/system/signing-key`),
      // slow enough that "playing" lasts a while on the page, fast enough for a test
      timeFactor: 0.2,
      configure: (id) => tc.sim(id),
    });
    await Promise.all(fleet.receivers.map((r) => r.waitForConfig((c) => c.adopted)));
    await waitFor('3 receivers online', async () => {
      const h = await tc.api<{ receivers: { online: number } }>('GET', '/api/health');
      return h.body.receivers.online === 3;
    });
    await addOfficer(tc, 'canbo', ['operator'], { pin: PIN });
    browser = await launchBrowser();
    context = await phone(browser);
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    await logIn(page, tc.url, 'canbo', OFFICER_PASSWORD);
  });

  afterAll(async () => {
    await browser?.close();
    await fleet?.stop();
    await tc?.stop();
  });

  const openAnnounce = () => openAnnounceOn(page, VILLAGES[0]!);
  const shownAnnouncement = () => shownOn(page, tc);
  const reachOf = (id: string) => reachOn(page, id);
  const record = () => recordOn(page);
  /** Records every reach state each receiver row shows, as the page changes. */
  const watchReach = () =>
    page.evaluate(`(() => {
      const seen = {};
      globalThis.seen = seen;
      const look = () => {
        for (const el of document.querySelectorAll('[data-reach]')) {
          const list = (seen[el.dataset.receiver] ??= []);
          if (list.at(-1) !== el.dataset.reach) list.push(el.dataset.reach);
        }
      };
      look();
      new MutationObserver(look).observe(document.body, {
        subtree: true, childList: true, attributes: true, attributeFilter: ['data-reach'],
      });
    })()`);
  const seenReach = () =>
    page.evaluate(() => (globalThis as unknown as { seen: Record<string, string[]> }).seen);
  const keptClip = async () => (await keptDraft(page))?.clip ?? null;

  it('announces typed text to two villages, listened to first; the page shows them playing, then heard, live', async () => {
    await openAnnounce();
    await page.getByText('Gõ chữ (đọc tự động)').click();
    await page.getByLabel(VILLAGES[0]!).check();
    await page.getByLabel(VILLAGES[1]!).check();
    const text =
      'Thông báo khẩn: nước sông dâng cao lúc 14h30, đề nghị bà con thôn Đồng Bùa và Gò Dẫu chú ý an toàn.';
    await page.getByLabel('Nội dung thông báo').fill(text);
    await page.getByLabel('Giọng đọc').selectOption('south');
    // listen first: the controller reads it, the page plays what it answered
    await page.getByRole('button', { name: /Nghe thử/ }).click();
    const preview = page.getByTestId('tts-preview');
    await preview.waitFor({ timeout: 30_000 });
    await expect.poll(() => page.getByText('Sẽ đọc là:').textContent()).toContain('mười bốn');
    await expect
      .poll(() => preview.evaluate((a) => (a as unknown as AudioEl).duration), { timeout: 10_000 })
      .toBeGreaterThan(1);
    await screenshot(page, 'announce-preview');
    await page.evaluate('window.scrollTo(0, 0)');
    await screenshot(page, 'announce');

    const before = fleet.receivers.map((r) => r.played.length);
    await page.getByRole('button', { name: 'Phát thông báo' }).click();
    const shown = await shownAnnouncement();
    expect(shown.announcement.status).toBe('sent');
    await watchReach();
    await page.getByRole('heading', { name: VILLAGES[0] }).waitFor();
    await expect.poll(() => reachOf('wan-01'), { timeout: 20_000 }).toBe('playing');
    await screenshot(page, 'reach');
    for (const id of ['wan-01', 'wan-02'])
      await expect.poll(() => reachOf(id), { timeout: 30_000 }).toBe('heard');
    await expect
      .poll(() => page.getByRole('status').filter({ hasText: 'loa đã phát xong' }).textContent())
      .toContain('2/2 loa đã phát xong');
    const seen = await seenReach();
    for (const id of ['wan-01', 'wan-02']) expect(seen[id], id).toContain('playing');
    // the third village is not in the report, and its receiver played nothing
    expect(await page.locator('[data-receiver="wan-03"]').count()).toBe(0);
    const played = fleet.receivers.map((r, i) => r.played.slice(before[i]));
    expect(played[0]!.map((p) => p.bulletinId)).toEqual([shown.announcement.bulletinId]);
    expect(played[1]!.map((p) => p.bulletinId)).toEqual([shown.announcement.bulletinId]);
    expect(played[0]![0]).toMatchObject({ priority: 'emergency', plays: 2 });
    expect(played[2]).toEqual([]);
    // the text was read with the voice chosen, and it is the audio the preview played
    const a = await tc.api<{ announcement: { voice: string; text: string } }>(
      'GET',
      `/api/announcements/${shown.announcement.id}`,
    );
    expect(a.body.announcement).toMatchObject({ voice: 'south', text });
  });

  it('records a voice clip with the fake microphone, plays it back, and announces it: the receiver played those bytes', async () => {
    await openAnnounce();
    await page.getByText('Ghi âm giọng nói').click();
    await record();
    // played back before sending
    const player = page.getByTestId('clip-player');
    await player.evaluate((a) => (a as unknown as AudioEl).play());
    await expect
      .poll(() => player.evaluate((a) => (a as unknown as AudioEl).currentTime), { timeout: 10_000 })
      .toBeGreaterThan(0);
    await player.evaluate((a) => (a as unknown as AudioEl).pause());
    await page.getByLabel(VILLAGES[2]!).check();
    await page.getByLabel('Số lần phát').selectOption('1');
    await page.getByLabel('Âm lượng').selectOption('100');
    const before = rx('wan-03').played.length;
    await page.getByRole('button', { name: 'Phát thông báo' }).click();
    const shown = await shownAnnouncement();
    await expect.poll(() => reachOf('wan-03'), { timeout: 30_000 }).toBe('heard');
    const played = rx('wan-03').played.slice(before);
    expect(played).toHaveLength(1);
    expect(played[0]).toMatchObject({ bulletinId: shown.announcement.bulletinId, volume: 100, plays: 1 });
    const audio = (await tc.api<AudioDetail>('GET', `/api/audio/${shown.announcement.audioId}`)).body;
    // what Chromium recorded from the fake microphone: about 2 s of Opus
    expect(audio.codec).toBe('OPUS');
    expect(audio.durationMs).toBeGreaterThanOrEqual(1500);
    expect([audio.sha256, ...audio.renditions.map((r) => r.sha256)]).toContain(played[0]!.sha256);
  });

  it('to all villages it asks the PIN as the dialog opens: a wrong PIN is refused in Vietnamese, the right one sends', async () => {
    const total = async () => (await tc.api<{ total: number }>('GET', '/api/announcements')).body.total;
    const count = await total();
    await openAnnounce();
    await page.getByText('Gõ chữ (đọc tự động)').click();
    await page.getByLabel('Tất cả các thôn').check();
    await page.getByLabel('Nội dung thông báo').fill('Bão số 3 sắp đổ bộ, mọi người vào nơi an toàn.');
    await page.getByLabel('Số lần phát').selectOption('1');
    await page.getByRole('button', { name: 'Phát thông báo' }).click();
    const dialog = page.getByRole('dialog', { name: 'Xác nhận thông báo khẩn' });
    await dialog.waitFor();
    const pin = dialog.getByLabel('Mã PIN');
    await expect
      .poll(() =>
        pin.evaluate(
          (el) =>
            el === (globalThis as unknown as { document: { activeElement: unknown } }).document.activeElement,
        ),
      )
      .toBe(true);
    await pin.fill('000000');
    await dialog.getByRole('button', { name: 'Xác nhận và phát' }).click();
    await expect
      .poll(() => dialog.getByRole('alert').textContent(), { timeout: 10_000 })
      .toBe('Mã PIN không đúng. Thông báo chưa được gửi.');
    expect(await total()).toBe(count);
    await pin.fill(PIN);
    await dialog.getByRole('button', { name: 'Xác nhận và phát' }).click();
    const shown = await shownAnnouncement();
    expect(shown.villages.map((v) => v.name).sort()).toEqual([...VILLAGES].sort());
    for (const id of ['wan-01', 'wan-02', 'wan-03'])
      await expect.poll(() => reachOf(id), { timeout: 30_000 }).toBe('heard');
    expect(await total()).toBe(count + 1);
  });

  it('stops every playing receiver from the page, after its own confirmation; the receivers confirm it', async () => {
    const long = await tc.upload(wav(300, 60_000), 'dai.wav', 'Chương trình dài');
    const b = await tc.api<{ id: string }>('POST', '/api/bulletins', {
      audioId: long.audio.id,
      target: { all: true },
      priority: 'normal',
    });
    expect(b.status).toBe(201);
    await waitFor('all three playing', () =>
      fleet.receivers.every((r) => r.nowPlaying?.bulletinId === b.body.id),
    );
    await openAnnounce();
    await page.getByRole('button', { name: /DỪNG TẤT CẢ LOA/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Dừng mọi loa?' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Dừng ngay' }).click();
    await expect
      .poll(() => page.getByRole('status').filter({ hasText: 'Đã dừng' }).textContent(), { timeout: 15_000 })
      .toContain('Đã dừng: 3/3 loa xác nhận');
    const stops = (
      await tc.api<{ items: { id: string; kind: string; target: { all?: boolean } }[] }>('GET', '/api/stops')
    ).body.items;
    const stop = stops[0]!;
    expect(stop).toMatchObject({ kind: 'stop', target: { all: true } });
    for (const r of fleet.receivers) {
      expect(r.nowPlaying, r.id).toBeNull();
      expect(
        r.events.some((e) => e.commandId === stop.id && e.state === 'received'),
        r.id,
      ).toBe(true);
      expect(
        r.events.some((e) => e.bulletinId === b.body.id && e.state === 'cancelled'),
        r.id,
      ).toBe(true);
    }
  });

  it('keeps the draft, recorded clip included, across a dropped connection and a reload, then sends it', async () => {
    await openAnnounce();
    await page.getByText('Ghi âm giọng nói').click();
    await record();
    await page.getByLabel(VILLAGES[1]!).check();
    await page.getByLabel('Mức ưu tiên').selectOption('priority');
    await page.getByLabel('Âm lượng').selectOption('75');
    const clipBefore = await keptClip();
    expect(clipBefore?.size).toBeGreaterThan(1000);
    await context.setOffline(true);
    await page.getByRole('button', { name: 'Phát thông báo' }).click();
    await expect.poll(() => page.getByRole('alert').textContent(), { timeout: 10_000 }).toBe(NO_NETWORK);
    expect(page.url()).toMatch(/\/announce$/);
    await context.setOffline(false);
    await page.getByRole('status').filter({ hasText: 'Mạng đã có lại' }).waitFor();
    await page.reload();
    // everything is back from the phone's storage: the choices and the clip itself
    await page.getByTestId('clip-player').waitFor();
    expect(await page.getByLabel(VILLAGES[1]!).isChecked()).toBe(true);
    expect(await page.getByLabel(VILLAGES[0]!).isChecked()).toBe(false);
    expect(await page.getByLabel('Mức ưu tiên').inputValue()).toBe('priority');
    expect(await page.getByLabel('Âm lượng').inputValue()).toBe('75');
    expect(await keptClip()).toEqual(clipBefore);
    const before = rx('wan-02').played.length;
    await page.getByRole('button', { name: 'Phát thông báo' }).click();
    const shown = await shownAnnouncement();
    await expect.poll(() => reachOf('wan-02'), { timeout: 30_000 }).toBe('heard');
    expect(rx('wan-02').played.slice(before)).toEqual([
      expect.objectContaining({
        bulletinId: shown.announcement.bulletinId,
        priority: 'priority',
        volume: 75,
      }),
    ]);
    // sent: the draft is gone, a new announcement starts empty
    await page.getByRole('button', { name: 'Soạn thông báo mới' }).click();
    await page.getByLabel(VILLAGES[1]!).waitFor();
    expect(await page.getByLabel(VILLAGES[1]!).isChecked()).toBe(false);
    expect(await page.getByTestId('clip-player').count()).toBe(0);
  });

  it('sends the draft again after its answer was lost mid-send: the server answers the first announcement, one airs', async () => {
    const total = async () => (await tc.api<{ total: number }>('GET', '/api/announcements')).body.total;
    const count = await total();
    await openAnnounce();
    await page.getByText('Gõ chữ (đọc tự động)').click();
    await page.getByLabel(VILLAGES[0]!).check();
    await page.getByLabel('Nội dung thông báo').fill('Mất điện từ 13 giờ đến 15 giờ chiều nay.');
    await page.getByLabel('Số lần phát').selectOption('1');
    const before = rx('wan-01').played.length;
    const lost = await loseFirstAnswer(page);
    try {
      await page.getByRole('button', { name: 'Phát thông báo' }).click();
      await expect.poll(() => page.getByRole('alert').textContent(), { timeout: 30_000 }).toBe(NO_NETWORK);
      expect(lost.status).toBe(201);
      expect(await total()).toBe(count + 1); // it did go out
      expect(page.url()).toMatch(/\/announce$/);
      const answer = nextAnnounceAnswer(page);
      await page.getByRole('button', { name: 'Phát thông báo' }).click();
      expect((await answer).headers()['idempotent-replayed']).toBe('true');
      const shown = await shownAnnouncement();
      expect(shown.announcement.status).toBe('sent');
      expect(lost.keys).toHaveLength(2);
      expect(lost.keys[0]).toMatch(/^"[0-9a-f-]{36}"$/);
      expect(lost.keys[1]).toBe(lost.keys[0]);
      expect(await total()).toBe(count + 1);
      await expect.poll(() => reachOf('wan-01'), { timeout: 30_000 }).toBe('heard');
      expect(
        rx('wan-01')
          .played.slice(before)
          .map((x) => x.bulletinId),
      ).toEqual([shown.announcement.bulletinId]);
    } finally {
      await page.unroute('**/api/announcements');
    }
    // the next draft has a key of its own
    await page.getByRole('button', { name: 'Soạn thông báo mới' }).click();
    await page.getByLabel(VILLAGES[1]!).check();
    await expect.poll(async () => (await keptDraft(page))?.key).toMatch(/^[0-9a-f-]{36}$/);
    expect(`"${(await keptDraft(page))?.key}"`).not.toBe(lost.keys[0]);
    await page.getByLabel(VILLAGES[1]!).uncheck();
  });

  it('a draft changed after its answer was lost is another announcement: the page says the first went out, the next tap sends the change', async () => {
    const total = async () => (await tc.api<{ total: number }>('GET', '/api/announcements')).body.total;
    const count = await total();
    await openAnnounce();
    await page.getByText('Gõ chữ (đọc tự động)').click();
    await page.getByLabel(VILLAGES[2]!).check();
    await page.getByLabel('Nội dung thông báo').fill('Họp thôn lúc 19 giờ tối nay tại nhà văn hoá.');
    await page.getByLabel('Số lần phát').selectOption('1');
    const lost = await loseFirstAnswer(page);
    try {
      await page.getByRole('button', { name: 'Phát thông báo' }).click();
      await expect.poll(() => page.getByRole('alert').textContent(), { timeout: 30_000 }).toBe(NO_NETWORK);
      expect(await total()).toBe(count + 1);
      await page.getByLabel('Nội dung thông báo').fill('Họp thôn lúc 20 giờ tối nay tại nhà văn hoá.');
      const refused = nextAnnounceAnswer(page);
      await page.getByRole('button', { name: 'Phát thông báo' }).click();
      expect((await refused).status()).toBe(422);
      await expect
        .poll(() => page.getByRole('alert').textContent())
        .toBe(
          'Bản trước khi sửa đã được gửi đi rồi (mạng mất câu trả lời). Nếu vẫn cần phát bản đã sửa, bấm “Phát thông báo” lần nữa.',
        );
      expect(await total()).toBe(count + 1);
      expect(page.url()).toMatch(/\/announce$/);
      await page.getByRole('button', { name: 'Phát thông báo' }).click();
      const shown = await shownAnnouncement();
      expect(lost.keys).toHaveLength(3);
      expect(lost.keys[1]).toBe(lost.keys[0]);
      expect(lost.keys[2]).not.toBe(lost.keys[0]);
      const a = await tc.api<{ announcement: { text: string } }>(
        'GET',
        `/api/announcements/${shown.announcement.id}`,
      );
      expect(a.body.announcement.text).toContain('20 giờ');
      expect(await total()).toBe(count + 2);
      await expect.poll(() => reachOf('wan-03'), { timeout: 30_000 }).toBe('heard');
    } finally {
      await page.unroute('**/api/announcements');
    }
  });

  it('records as Safari does (MediaRecorder takes only audio/mp4): the page sends WAV, announced and heard', async () => {
    const safari = await phone(browser);
    // Safari's MediaRecorder: audio/mp4 only, and it says "audio/mp4" (AAC). Chromium records that
    // container with Opus inside (it has no AAC encoder), so the page takes the Safari path: decode
    // in the page (decodeAudioData), upload 16 kHz WAV.
    await safari.addInitScript(`
      MediaRecorder.isTypeSupported = (type) => type === 'audio/mp4';
      Object.defineProperty(MediaRecorder.prototype, 'mimeType', { configurable: true, get: () => 'audio/mp4' });
    `);
    try {
      const p = await safari.newPage();
      p.setDefaultTimeout(15_000);
      await logIn(p, tc.url, 'canbo', OFFICER_PASSWORD);
      expect(await p.evaluate('MediaRecorder.isTypeSupported("audio/webm;codecs=opus")')).toBe(false);
      await openAnnounceOn(p, VILLAGES[0]!);
      await p.getByText('Ghi âm giọng nói').click();
      await recordOn(p);
      expect((await keptDraft(p))?.clip?.type).toBe('audio/wav');
      await p.getByLabel(VILLAGES[2]!).check();
      await p.getByLabel('Số lần phát').selectOption('1');
      const before = rx('wan-03').played.length;
      await p.getByRole('button', { name: 'Phát thông báo' }).click();
      const shown = await shownOn(p, tc);
      await expect.poll(() => reachOn(p, 'wan-03'), { timeout: 30_000 }).toBe('heard');
      const audio = tc.controller.audio.require(shown.announcement.audioId!);
      expect(audio).toMatchObject({ mime: 'audio/wav', sampleRate: 16_000, channels: 1 });
      expect(audio.durationMs).toBeGreaterThanOrEqual(1500);
      const played = rx('wan-03').played.slice(before);
      expect(played.map((x) => x.bulletinId)).toEqual([shown.announcement.bulletinId]);
      const detail = (await tc.api<AudioDetail>('GET', `/api/audio/${audio.id}`)).body;
      expect([detail.sha256, ...detail.renditions.map((r) => r.sha256)]).toContain(played[0]!.sha256);
    } finally {
      await safari.close();
    }
  });

  it('speaks English after the switch, and Vietnamese again', async () => {
    await openAnnounce();
    await page.getByRole('button', { name: 'English' }).click();
    await page.getByRole('heading', { name: 'Announce now' }).waitFor();
    await page.getByRole('button', { name: /STOP ALL RECEIVERS/ }).waitFor();
    await page.getByText('All villages').waitFor();
    await page.getByRole('button', { name: 'Tiếng Việt' }).click();
    await page.getByRole('heading', { name: 'Thông báo ngay' }).waitFor();
  });
});

describe.skipIf(!hasChromium)(
  'announce now: the PIN the server asks for, and an editor’s announcement',
  { timeout: 90_000 },
  () => {
    // The default confirmation window (15 min): what an officer sent just before counts toward
    // "every village", which the page cannot know.
    const TWO = ['Thôn Đông Thịnh', 'Thôn Tây Sơn'];
    let tc: TestController;
    let fleet: Fleet;
    let browser: Browser;
    let page: Page;
    const rx = (id: string) => fleet.receivers.find((r) => r.id === id)!;
    const total = async () => (await tc.api<{ total: number }>('GET', '/api/announcements')).body.total;

    beforeAll(async () => {
      tc = await startTestController();
      for (const [i, name] of TWO.entries()) {
        const z = await tc.api<{ id: string }>('POST', '/api/zones', { name });
        await tc.register(`xa-0${i + 1}`, z.body.id, `Loa ${name.replace('Thôn ', '')}`);
      }
      fleet = await tc.startFleet(['xa-01', 'xa-02'], { timeFactor: 0.2 });
      await addOfficer(tc, 'truongxa', ['operator'], { pin: PIN });
      await addOfficer(tc, 'bientap', ['editor']);
      browser = await launchBrowser();
      page = await (await phone(browser)).newPage();
      page.setDefaultTimeout(15_000);
    });

    afterAll(async () => {
      await browser?.close();
      await fleet?.stop();
      await tc?.stop();
    });

    /** Types `text` for `village`, once, in the Announce tab of `p`. */
    async function compose(p: Page, village: string, text: string) {
      await p.getByText('Gõ chữ (đọc tự động)').click();
      await p.getByLabel(village).check();
      await p.getByLabel('Nội dung thông báo').fill(text);
      await p.getByLabel('Số lần phát').selectOption('1');
    }

    it('asks the PIN when, with what was just sent, it reaches every village (428), and sends with it', async () => {
      await logIn(page, tc.url, 'truongxa', OFFICER_PASSWORD);
      await openAnnounceOn(page, TWO[0]!);
      await compose(page, TWO[0]!, 'Thôn Đông Thịnh: nước lên nhanh, di chuyển lên chỗ cao.');
      await page.getByRole('button', { name: 'Phát thông báo' }).click();
      const first = await shownOn(page, tc);
      expect(first.announcement.status).toBe('sent');
      expect(await total()).toBe(1);

      // the other village, minutes later: one village, so the page does not ask — the server does
      await page.getByRole('button', { name: 'Soạn thông báo mới' }).click();
      await page.getByLabel(TWO[1]!).waitFor();
      await compose(page, TWO[1]!, 'Thôn Tây Sơn: nước lên nhanh, di chuyển lên chỗ cao.');
      const asked = nextAnnounceAnswer(page);
      await page.getByRole('button', { name: 'Phát thông báo' }).click();
      expect((await asked).status()).toBe(428);
      const dialog = page.getByRole('dialog', { name: 'Xác nhận thông báo khẩn' });
      await dialog
        .getByText(
          'Cùng với các thông báo bạn vừa gửi, thông báo này tới mọi thôn. Nhập mã PIN của bạn để xác nhận.',
        )
        .waitFor();
      expect(await total()).toBe(1);
      await dialog.getByLabel('Mã PIN').fill(PIN);
      const sent = nextAnnounceAnswer(page);
      await dialog.getByRole('button', { name: 'Xác nhận và phát' }).click();
      expect((await sent).status()).toBe(201);
      const second = await shownOn(page, tc);
      expect(second.villages.map((v) => v.name)).toEqual([TWO[1]]);
      await expect.poll(() => reachOn(page, 'xa-02'), { timeout: 30_000 }).toBe('heard');
      expect(rx('xa-02').played.map((x) => x.bulletinId)).toEqual([second.announcement.bulletinId]);
      expect(await total()).toBe(2);
    });

    it('an editor’s announcement waits for an approver (202): the page says so, nothing airs', async () => {
      const context = await phone(browser);
      try {
        const p = await context.newPage();
        p.setDefaultTimeout(15_000);
        await logIn(p, tc.url, 'bientap', OFFICER_PASSWORD);
        await openAnnounceOn(p, TWO[0]!);
        await compose(p, TWO[0]!, 'Lịch tiêm phòng cho trẻ em vào sáng thứ bảy tại nhà văn hoá.');
        const played = fleet.receivers.map((r) => r.played.length);
        const answer = nextAnnounceAnswer(p);
        await p.getByRole('button', { name: 'Phát thông báo' }).click();
        expect((await answer).status()).toBe(202);
        const shown = await shownOn(p, tc);
        expect(shown.announcement).toMatchObject({ status: 'pending', bulletinId: null });
        await p.getByText('Thông báo đang chờ người duyệt. Loa sẽ phát khi được duyệt.').waitFor();
        expect(await p.getByText('loa đã phát xong').count()).toBe(0);
        expect(await p.locator('[data-receiver]').count()).toBe(0);
        const approvals = await tc.api<{ items: { id: string; reason: string; status: string }[] }>(
          'GET',
          '/api/approvals?status=pending',
        );
        expect(approvals.body.items).toEqual([
          expect.objectContaining({ id: shown.announcement.approvalId, reason: 'editor', status: 'pending' }),
        ]);
        // no bulletin exists to air: the receivers have played nothing more
        expect(fleet.receivers.map((r) => r.played.length)).toEqual(played);
      } finally {
        await context.close();
      }
    });
  },
);
