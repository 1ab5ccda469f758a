/**
 * The controller's half of schedules, against a receiver played by a plain MQTT client (real MQTT,
 * real SQLite): programs through the API, airings as facts, each receiver's signed and versioned
 * schedule document, reports into the as-run state, and the deadline that concludes what no
 * report settled.
 */
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchTrustedKeys } from '../firmware-sim/index.js';
import { MAX_SCHEDULE_BYTES, topics } from '../src/contract/mqtt.js';
import { type ScheduleDoc, scheduleDocSchema } from '../src/contract/schedule.js';
import { open } from '../src/contract/signing.js';
import { scaledClock } from '../src/time/clock.js';
import { startTestController, type TestController } from './helpers/controller.js';
import { addOfficer } from './helpers/officers.js';
import { waitFor } from './helpers/wait.js';

const FIXTURE = new URL('./fixtures/audio/tone.mp3', import.meta.url);
const t = topics();

interface Airing {
  id: string;
  at: string;
  local: string;
  status: string;
  items: { kind: string; sha256?: string }[];
  problems: string[];
}

describe('schedules on the controller', () => {
  let tc: TestController;
  let rx: MqttClient;
  let trusted: Awaited<ReturnType<typeof fetchTrustedKeys>>;
  const docs: ScheduleDoc[] = [];
  let audioSha = '';

  beforeAll(async () => {
    // Real time runs 1:1 here; a start a few minutes ahead keeps everything in the future.
    tc = await startTestController({ TZ: 'Asia/Ho_Chi_Minh' }, { clock: scaledClock(1) });
    await tc.api('POST', '/api/zones', { id: 'thon-1', name: 'Thôn 1' });
    await tc.api('POST', '/api/zones', { id: 'thon-2', name: 'Thôn 2' });
    const b1 = await tc.register('rx-1', 'thon-1');
    await tc.register('rx-2', 'thon-2');
    const up = await tc.upload(readFileSync(FIXTURE), 'ban-tin.mp3', 'Bản tin sáng');
    expect(up.status).toBe(201);
    audioSha = up.audio.sha256;
    trusted = await fetchTrustedKeys(`${tc.url}/api/system/signing-key`);
    rx = await mqtt.connectAsync(tc.mqttUrl, {
      clientId: 'rx-1',
      username: b1.mqtt.username,
      password: b1.mqtt.password,
      reconnectPeriod: 0,
    });
    const topic = t.receiverSchedule('rx-1');
    rx.on('message', (tp, payload) => {
      if (tp !== topic) return;
      const opened = open(trusted, tp, scheduleDocSchema, payload, MAX_SCHEDULE_BYTES);
      if (opened.ok) docs.push(opened.value);
    });
    await rx.subscribeAsync(topic, { qos: 1 });
  });

  afterAll(async () => {
    await rx?.endAsync();
    await tc?.stop();
  });

  const localInHcm = (ms: number) => new Date(ms + 7 * 3600_000).toISOString().slice(11, 16); // Asia/Ho_Chi_Minh is UTC+7, no DST

  it('saves a program, plans its airings in the station time zone and sends rx-1 a signed document', async () => {
    const start = Date.now() + 10 * 60_000;
    const at = localInHcm(start);
    const today = new Date(start + 7 * 3600_000).toISOString().slice(0, 10);
    const res = await tc.api<{ id: string; version: number }>('POST', '/api/programs', {
      id: 'sang',
      title: 'Chương trình sáng',
      target: { zones: ['thon-1'] },
      recurrence: { kind: 'daily', at, from: today },
      items: [
        { kind: 'relay', url: 'http://127.0.0.1:9/vov1', duration: '30s', fallback: 'Bản tin sáng' },
        { kind: 'audio', audio: 'Bản tin sáng' },
        { kind: 'pause', duration: 2 },
      ],
    });
    expect(res.status).toBe(201);
    const got = await tc.api<{ next: Airing[] }>('GET', '/api/programs/sang');
    expect(got.body.next.length).toBeGreaterThanOrEqual(2);
    const first = got.body.next[0]!;
    expect(first.local.slice(11)).toBe(at);
    expect(first.problems).toEqual([]);
    expect(first.items.map((i) => i.kind)).toEqual(['relay', 'audio', 'pause']);

    const doc = await waitFor('a schedule document for rx-1', async () =>
      docs.find((d) => d.airings.some((a) => a.id === first.id)),
    );
    expect(doc.receiverId).toBe('rx-1');
    const airing = doc.airings.find((a) => a.id === first.id)!;
    expect(airing.at).toBe(first.at);
    expect(airing.items[1]).toMatchObject({ kind: 'audio', sha256: audioSha });
    expect(doc.assets.map((a) => a.sha256)).toEqual([audioSha]);
    // rx-2 is in another village: the program does not concern it.
    const detail = await tc.api<{ receivers: { receiverId: string }[] }>('GET', `/api/airings/${first.id}`);
    expect(detail.body.receivers.map((r) => r.receiverId)).toEqual(['rx-1']);
  });

  it('an edit reaches the receiver as a newer version; an unchanged refresh sends nothing', async () => {
    const before = docs.at(-1)!;
    await tc.controller.schedules.refresh();
    expect(docs.at(-1)!.version).toBe(before.version);
    const p = (await tc.api<{ body: Record<string, unknown> }>('GET', '/api/programs/sang')).body.body;
    const res = await tc.api('PUT', '/api/programs/sang', { ...p, title: 'Chương trình buổi sáng' });
    expect(res.status).toBe(200);
    const doc = await waitFor('a newer document', async () =>
      docs.find((d) => d.version > before.version && d.airings[0]?.title === 'Chương trình buổi sáng'),
    );
    expect(doc.version).toBeGreaterThan(before.version);
  });

  it('records the receiver’s reports about an airing, once each, and its outcome', async () => {
    const doc = docs.at(-1)!;
    const a = doc.airings[0]!;
    const report = (x: Record<string, unknown>) =>
      rx.publishAsync(
        t.receiverAiring('rx-1'),
        JSON.stringify({
          v: 1,
          kind: 'airing',
          airingId: a.id,
          session: 1,
          ts: new Date().toISOString(),
          ...x,
        }),
        { qos: 1 },
      );
    await rx.publishAsync(
      t.receiverAiring('rx-1'),
      JSON.stringify({
        v: 1,
        kind: 'schedule',
        version: doc.version,
        state: 'applied',
        session: 1,
        ts: new Date().toISOString(),
      }),
      { qos: 1 },
    );
    await report({ state: 'ready', at: new Date().toISOString() });
    const started = { state: 'started', item: 0, at: a.at, offsetMs: 0, fallback: true };
    await report(started);
    await report(started); // sent again after a lost acknowledgement
    await report({ state: 'ended', outcome: 'aired', at: new Date(Date.parse(a.at) + 32_000).toISOString() });
    // a report about an airing rx-1 was never given, and a malformed one: dropped
    await rx.publishAsync(t.receiverAiring('rx-1'), '{"v":1,"kind":"airing"}', { qos: 1 });
    const detail = await waitFor('rx-1 aired', async () => {
      const d = await tc.api<{
        receivers: { receiverId: string; outcome: string | null; state: string; concluded: boolean }[];
      }>('GET', `/api/airings/${a.id}`);
      return d.body.receivers[0]?.outcome === 'aired' ? d.body : null;
    });
    expect(detail.receivers[0]).toMatchObject({ state: 'ended', outcome: 'aired', concluded: false });
    const lines = tc.controller.db
      .prepare('SELECT state, item FROM airing_log WHERE airing_id = ? ORDER BY id')
      .all(a.id);
    expect(lines).toEqual([
      { state: 'ready', item: null },
      { state: 'started', item: 0 },
      { state: 'ended', item: null },
    ]);
    const applied = tc.controller.db
      .prepare('SELECT applied_version FROM receiver_schedules WHERE receiver_id = ?')
      .get('rx-1') as { applied_version: number };
    expect(applied.applied_version).toBe(doc.version);
  });

  it('refuses a clash without an order; with "after" the new program follows the other', async () => {
    const p = (await tc.api<{ body: Record<string, unknown> }>('GET', '/api/programs/sang')).body.body;
    const clash = await tc.api<{ error: string; details: { clashes: { programId: string }[] } }>(
      'POST',
      '/api/programs',
      { ...p, id: 'trung', title: 'Trùng giờ' },
    );
    expect(clash.status).toBe(409);
    expect(clash.body.error).toBe('schedule_clash');
    expect(clash.body.details.clashes[0]!.programId).toBe('sang');
    const ordered = await tc.api('POST', '/api/programs', {
      ...p,
      id: 'trung',
      title: 'Trùng giờ',
      clashes: { sang: 'after' },
    });
    expect(ordered.status).toBe(201);
    const next = (await tc.api<{ next: Airing[] }>('GET', '/api/programs/trung')).body.next;
    const sang = (await tc.api<{ next: Airing[] }>('GET', '/api/programs/sang')).body.next;
    // it follows the other program's airing: starts where that one's items end
    expect(Date.parse(next[0]!.at)).toBe(
      Date.parse(sang[0]!.at) + (sang[0] as unknown as { durationMs: number }).durationMs,
    );
  });

  it('a clash between two priority programs is resolved by the officer’s order: first, or skip', async () => {
    const audio = (await tc.api<{ items: { id: string }[] }>('GET', '/api/audio')).body.items[0]!.id;
    // tomorrow at 12:00 in Hướng Đạo (UTC+7): within the horizon, so the airings are planned
    const tomorrow = new Date(Date.now() + 7 * 3600_000 + 86_400_000).toISOString().slice(0, 10);
    const noon = Date.parse(`${tomorrow}T05:00:00.000Z`);
    const program = (id: string, extra: Record<string, unknown> = {}) => ({
      id,
      title: `Thông báo ${id}`,
      priority: 'priority',
      target: { zones: ['thon-2'] },
      recurrence: { kind: 'once', at: '12:00', from: tomorrow },
      items: [{ kind: 'audio', audio }],
      ...extra,
    });
    expect((await tc.api('POST', '/api/programs', program('uu-tien-1'))).status).toBe(201);
    const clash = await tc.api<{ error: string; details: { clashes: { programId: string }[] } }>(
      'POST',
      '/api/programs',
      program('uu-tien-2'),
    );
    expect(clash.status).toBe(409);
    expect(clash.body.details.clashes.map((c) => c.programId)).toEqual(['uu-tien-1']);
    // The commune decides: uu-tien-2 goes first, uu-tien-1 follows it.
    const first = await tc.api(
      'POST',
      '/api/programs',
      program('uu-tien-2', { clashes: { 'uu-tien-1': 'first' } }),
    );
    expect(first.status).toBe(201);
    // and a third gives way to both
    const third = await tc.api(
      'POST',
      '/api/programs',
      program('uu-tien-3', { clashes: { 'uu-tien-1': 'skip', 'uu-tien-2': 'skip' } }),
    );
    expect(third.status).toBe(201);
    const planned = (programId: string) =>
      tc.controller.db
        .prepare(
          "SELECT at, duration_ms AS d, status FROM airings WHERE program_id = ? AND status = 'scheduled'",
        )
        .all(programId) as { at: string; d: number; status: string }[];
    const [two] = planned('uu-tien-2');
    const [one] = planned('uu-tien-1');
    expect(Date.parse(two!.at)).toBe(noon);
    expect(Date.parse(one!.at)).toBe(noon + two!.d);
    expect(planned('uu-tien-3')).toEqual([]);
  });

  it('shows the airing in the as-run log, as JSON and as CSV with Vietnamese headers, and in the daily summary', async () => {
    const rows = await tc.api<{
      items: { kind: string; receiverId: string; outcome: string; programId: string }[];
    }>('GET', '/api/asrun?kind=airing&receiver=rx-1&outcome=aired');
    expect(rows.status).toBe(200);
    expect(rows.body.items).toHaveLength(1);
    expect(rows.body.items[0]).toMatchObject({
      kind: 'airing',
      receiverId: 'rx-1',
      outcome: 'aired',
      programId: 'sang',
    });
    const csv = await fetch(`${tc.url}/api/asrun?kind=airing&format=csv&lang=vi`, {
      headers: { authorization: `Bearer ${tc.token}` },
    });
    expect(csv.headers.get('content-type')).toMatch(/text\/csv/);
    const bytes = Buffer.from(await csv.arrayBuffer());
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]); // a BOM: spreadsheets read UTF-8
    const text = bytes.subarray(3).toString('utf8');
    expect(text.split('\r\n')[0]).toBe(
      'loại,mã,tiêu đề,chương trình,mức ưu tiên,thiết bị,thôn,giờ theo lịch,bắt đầu,kết thúc,kết quả,lý do,suy ra theo hạn,sha256',
    );
    expect(text).toContain('đã phát');
    const summary = await tc.api<{ days: { zoneId: string; aired: number }[] }>('GET', '/api/asrun/summary');
    expect(summary.body.days.find((d) => d.zoneId === 'thon-1')?.aired).toBe(1);
  });

  it('concludes, after its window and a margin, what no receiver reported, flagged as concluded', async () => {
    const a = docs.at(-1)!.airings[1]!; // the next day's airing: rx-1 says nothing about it
    const end = Date.parse(a.at) + a.items.reduce((s, i) => s + i.durationMs, 0) + a.graceMs;
    // A clock past the deadline: the same database, read by the heartbeat's own conclusion step.
    const { createOutcomes, REPORT_MARGIN_MS } = await import('../src/domain/programs/outcomes.js');
    const outcomes = createOutcomes({
      db: tc.controller.db,
      log: pino({ level: 'silent' }),
      isOnline: () => false,
    });
    const state = () =>
      (
        tc.controller.db
          .prepare('SELECT state, concluded FROM airing_receivers WHERE airing_id = ? AND receiver_id = ?')
          .get(a.id, 'rx-1') as { state: string; concluded: number }
      ).concluded;
    outcomes.concludeDue(end + REPORT_MARGIN_MS - 1000);
    expect(state()).toBe(0); // not yet: its window plus the margin has not passed
    outcomes.concludeDue(end + REPORT_MARGIN_MS + 1000);
    expect(state()).toBe(1);
    const detail = await tc.api<{ receivers: { outcome: string; reason: string; concluded: boolean }[] }>(
      'GET',
      `/api/airings/${a.id}`,
    );
    expect(detail.body.receivers[0]).toMatchObject({ outcome: 'missed', reason: 'offline', concluded: true });
    // the receiver's own word, arriving late, corrects it
    await rx.publishAsync(
      t.receiverAiring('rx-1'),
      JSON.stringify({
        v: 1,
        kind: 'airing',
        airingId: a.id,
        state: 'ended',
        outcome: 'aired',
        at: a.at,
        session: 1,
        ts: new Date().toISOString(),
      }),
      { qos: 1 },
    );
    await waitFor('the late report taken', async () => {
      const d = await tc.api<{ receivers: { outcome: string; concluded: boolean }[] }>(
        'GET',
        `/api/airings/${a.id}`,
      );
      return d.body.receivers[0]?.outcome === 'aired' && !d.body.receivers[0].concluded;
    });
  });

  it("an editor's program waits in the approval queue and airs only once approved, as approved", async () => {
    const editor = await addOfficer(tc, 'bien-tap', ['editor']);
    const approver = await addOfficer(tc, 'phe-duyet', ['approver']);
    const p = (await tc.api<{ body: Record<string, unknown> }>('GET', '/api/programs/sang')).body.body;
    const body = {
      ...p,
      id: 'thong-bao',
      title: 'Thông báo',
      recurrence: { kind: 'once', at: '23:59', from: '2099-01-01' },
    };
    const filed = await tc.api<{ approval: { id: string; kind: string; programId: string } }>(
      'POST',
      '/api/programs',
      body,
      editor,
    );
    expect(filed.status).toBe(202);
    expect(filed.body.approval).toMatchObject({ kind: 'program', programId: 'thong-bao' });
    expect((await tc.api('GET', '/api/programs/thong-bao')).status).toBe(404); // nothing airs yet
    // an editor's change to an existing program waits too; the approved version stays in force
    const change = await tc.api('PUT', '/api/programs/sang', { ...p, title: 'Đổi tên' }, editor);
    expect(change.status).toBe(202);
    expect((await tc.api<{ title: string }>('GET', '/api/programs/sang')).body.title).not.toBe('Đổi tên');
    // nobody approves their own request; an approver does
    expect(
      (await tc.api('POST', `/api/approvals/${filed.body.approval.id}/approve`, {}, editor)).status,
    ).toBe(403);
    const ok = await tc.api<{ program: { id: string; version: number } }>(
      'POST',
      `/api/approvals/${filed.body.approval.id}/approve`,
      {},
      approver,
    );
    expect(ok.status).toBe(200);
    expect(ok.body.program).toMatchObject({ id: 'thong-bao', version: 1 });
    const saved = await tc.api<{ title: string; body: { recurrence: { from: string } } }>(
      'GET',
      '/api/programs/thong-bao',
    );
    expect(saved.body.title).toBe('Thông báo');
    expect(saved.body.body.recurrence.from).toBe('2099-01-01');
  });

  it('clears the retained schedule of a receiver that was removed', async () => {
    const aedes = tc.controller.broker!.aedes as unknown as {
      persistence: {
        createRetainedStream(pattern: string): AsyncIterable<{ topic: string; payload: Buffer }>;
      };
    };
    const retained = async () => {
      const out: string[] = [];
      for await (const p of aedes.persistence.createRetainedStream(t.receiverSchedule('rx-2')))
        if (p.payload.length > 0) out.push(p.topic);
      return out;
    };
    expect(await retained()).toEqual([t.receiverSchedule('rx-2')]);
    expect((await tc.api('DELETE', '/api/receivers/rx-2')).status).toBe(204);
    await waitFor('the retained schedule cleared', async () => (await retained()).length === 0);
  });

  it('answers bad input with a 400 or 404 that says why, and changes nothing', async () => {
    const count = () =>
      (tc.controller.db.prepare('SELECT count(*) AS n FROM programs').get() as { n: number }).n;
    const before = count();
    const base = {
      title: 'Sai',
      target: { zones: ['thon-1'] },
      recurrence: { kind: 'daily', at: '06:00', from: '2099-01-01' },
      items: [{ kind: 'pause', duration: 5 }],
    };
    const bad: [unknown, RegExp][] = [
      [{ ...base, recurrence: { ...base.recurrence, at: '25:00' } }, /HH:MM/],
      [{ ...base, items: [] }, /items/],
      [{ ...base, items: [{ kind: 'relay', url: 'ftp://x/y', duration: '10m' }] }, /url/],
      [{ ...base, items: [{ kind: 'pause', duration: 'forever' }] }, /duration/],
      [{ ...base, target: {} }, /say where it airs/],
      [{ ...base, recurrence: { kind: 'weekly', days: ['xx'], at: '06:00', from: '2099-01-01' } }, /days/],
      [{ ...base, recurrence: { ...base.recurrence, until: '2098-01-01' } }, /before "from"/],
    ];
    for (const [body, message] of bad) {
      const res = await tc.api<{ message: string }>('POST', '/api/programs', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.message).toMatch(message);
    }
    expect(count()).toBe(before);
    const airing = (await tc.api<{ next: Airing[] }>('GET', '/api/programs/sang')).body.next.at(-1)!;
    const past = await tc.api<{ error: string }>('POST', `/api/airings/${airing.id}/shift`, {
      at: new Date(Date.now() - 60_000).toISOString(),
    });
    expect(past.status).toBe(400);
    expect(past.body.error).toBe('in_the_past');
    expect((await tc.api('POST', `/api/airings/${airing.id}/shift`, { at: 'tomorrow' })).status).toBe(400);
    expect((await tc.api('POST', '/api/airings/no-such-airing/cancel')).status).toBe(404);
    expect((await tc.api('GET', '/api/airings/no-such-airing')).status).toBe(404);
    expect((await tc.api('GET', '/api/asrun?format=xml')).status).toBe(400);
    expect((await tc.api('GET', '/api/asrun?from=yesterday')).status).toBe(400);
    const unchanged = (await tc.api<Airing>('GET', `/api/airings/${airing.id}`)).body;
    expect(unchanged.at).toBe(airing.at);
  });

  it("suspends a village over a window with the reason: its airings there say so and leave its receiver's schedule; resuming brings them back", async () => {
    type Shown = Airing & { suspendedIn: string[] };
    const [first, second] = (await tc.api<{ next: Shown[] }>('GET', '/api/programs/sang')).body.next;
    expect(second).toBeDefined();
    // from after the first airing to after the second: only the second is suspended
    const from = new Date(Date.parse(first!.at) + 60_000).toISOString();
    const until = new Date(Date.parse(second!.at) + 60_000).toISOString();
    const res = await tc.api('POST', '/api/zones/thon-1/suspend', { from, until, reason: 'Lễ hội làng' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      zoneId: 'thon-1',
      suspendedFrom: from,
      suspendedUntil: until,
      suspendReason: 'Lễ hội làng',
    });
    const shown = async (id: string) => (await tc.api<Shown>('GET', `/api/airings/${id}`)).body.suspendedIn;
    expect(await shown(first!.id)).toEqual([]);
    expect(await shown(second!.id)).toEqual(['thon-1']);
    const week = await tc.api<{ items: Shown[] }>('GET', '/api/airings?zone=thon-1');
    expect(week.body.items.find((a) => a.id === second!.id)?.suspendedIn).toEqual(['thon-1']);
    const zones = await tc.api<{ zones: { zoneId: string; suspendReason: string | null }[] }>(
      'GET',
      '/api/schedules',
    );
    expect(zones.body.zones.find((z) => z.zoneId === 'thon-1')?.suspendReason).toBe('Lễ hội làng');
    await waitFor('rx-1 sent its schedule without the suspended airing', async () => {
      const ids = docs.at(-1)?.airings.map((a) => a.id) ?? [];
      return !ids.includes(second!.id) && ids.includes(first!.id);
    });

    // an operator of another village may neither suspend this one nor change its airings
    const other = await addOfficer(tc, 'van-hanh-thon-2', ['operator'], { zones: ['thon-2'] });
    const refused = [
      await tc.api('POST', '/api/zones/thon-1/suspend', { until: null }, other),
      await tc.api('POST', `/api/airings/${second!.id}/cancel`, undefined, other),
      await tc.api('POST', `/api/airings/${second!.id}/shift`, { at: until }, other),
    ];
    expect(refused.map((r) => r.status)).toEqual([403, 403, 403]);
    expect(await shown(second!.id)).toEqual(['thon-1']);
    const bad: [unknown, string][] = [
      [{ until: new Date(Date.now() - 60_000).toISOString() }, 'in_the_past'],
      [{ from: until, until: from }, 'empty_window'],
      [{ until, reason: 'x'.repeat(201) }, 'validation'],
    ];
    for (const [body, code] of bad) {
      const r = await tc.api<{ error: string }>('POST', '/api/zones/thon-1/suspend', body);
      expect([r.status, r.body.error]).toEqual([400, code]);
    }
    expect((await tc.api('POST', '/api/zones/no-such-zone/suspend', { until })).status).toBe(404);

    const resumed = await tc.api('POST', '/api/zones/thon-1/suspend', { until: null });
    expect(resumed.body).toEqual({
      zoneId: 'thon-1',
      suspendedFrom: null,
      suspendedUntil: null,
      suspendReason: null,
    });
    expect(await shown(second!.id)).toEqual([]);
    await waitFor('rx-1 sent its schedule with the airing again', async () =>
      docs.at(-1)?.airings.some((a) => a.id === second!.id),
    );
  });
});
