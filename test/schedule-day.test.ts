/**
 * A full day of the Hướng Đạo sample (schedules/huong-dao/) on a real controller and 14 simulated
 * receivers, in scaled time (one day in about half a minute): the 05:00 program (a VOV relay, then
 * the morning bulletin) and the 17:00 one air on every village, from the schedules the receivers
 * hold, and the controller's as-run log matches what each receiver reported, item by item.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Temporal } from 'temporal-polyfill';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchTrustedKeys, SimReceiver } from '../firmware-sim/index.js';
import type { ProvisioningBundle } from '../src/contract/provisioning.js';
import { type Clock, scaledClock } from '../src/time/clock.js';
import { startTestController, type TestController } from './helpers/controller.js';
import { StreamServer } from './helpers/schedule.js';
import { wav } from './helpers/sim-harness.js';
import { waitFor } from './helpers/wait.js';

const SAMPLE = new URL('../schedules/huong-dao/', import.meta.url);
const TZ = 'Asia/Ho_Chi_Minh';
/** one virtual hour per real second */
const FACTOR = 3600;
const RX = Array.from({ length: 14 }, (_, i) => `rx-thon-${String(i + 1).padStart(2, '0')}`);
const AUDIO = ['Nhạc hiệu', 'Bản tin sáng', 'Bản tin chiều', 'Thông báo của UBND xã', 'Bản tin tuần'];

describe('a day of Hướng Đạo in scaled time', () => {
  let tc: TestController;
  let clock: Clock;
  let running: Clock | null = null;
  let dayStart: number;
  let dir: string;
  const stream = new StreamServer();
  const receivers: SimReceiver[] = [];

  beforeAll(async () => {
    await stream.start();
    dir = mkdtempSync(join(tmpdir(), 'loalang-day-'));
    cpSync(SAMPLE, dir, { recursive: true });
    // The relay comes from a station on this machine (real bytes); the sample's URL is the provider's.
    const programs = join(dir, 'programs.yaml');
    writeFileSync(
      programs,
      readFileSync(programs, 'utf8').replaceAll('https://stream.vov.vn/vov1', `${stream.base}/live`),
    );
    // The day starts at the coming 03:30 local time (quiet hours; receivers fetch the 05:00 audio
    // from 04:00). The clock stands still until everything is set up, then runs an hour a second.
    const now = Temporal.Now.zonedDateTimeISO(TZ);
    let start = now.with({ hour: 3, minute: 30, second: 0, millisecond: 0, microsecond: 0, nanosecond: 0 });
    if (Temporal.ZonedDateTime.compare(start, now) <= 0) start = start.add({ days: 1 });
    dayStart = start.epochMilliseconds;
    clock = {
      now: () => (running === null ? dayStart : running.now()),
      realMs: (ms) => ms / FACTOR,
    };
    tc = await startTestController({ SCHEDULES_DIR: dir, TZ }, { clock });
    for (const [i, name] of AUDIO.entries()) {
      const up = await tc.upload(wav(440 + 110 * i, 3000 + 500 * i), `${i}.wav`, name);
      expect(up.status).toBe(201);
    }
    await tc.controller.schedules.refresh();
    const trustedKeys = await fetchTrustedKeys(`${tc.url}/api/system/signing-key`);
    for (const id of RX) {
      // The files registered the receivers; an admin issues each its provisioning bundle.
      const issued = await tc.api<{ provisioning: ProvisioningBundle }>(
        'POST',
        `/api/receivers/${id}/credentials`,
      );
      expect(issued.status).toBe(200);
      tc.keep(issued.body.provisioning);
      receivers.push(new SimReceiver({ ...tc.sim(id), trustedKeys, clock, configGraceMs: 50 }));
    }
    await Promise.all(receivers.map((r) => r.start()));
    await waitFor('every receiver holds its schedule', async () =>
      receivers.every((r) => (r.schedule?.airings.length ?? 0) >= 2),
    );
    running = scaledClock(FACTOR, dayStart);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(receivers.map((r) => r.stop()));
    await tc?.stop();
    await stream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('airs the 05:00 and 17:00 programs on all 14 villages, and the as-run log matches each receiver', async () => {
    const dayEnd = dayStart + 24 * 3600_000;
    const airings = (
      await tc.api<{ items: { id: string; programId: string; local: string; items: unknown[] }[] }>(
        'GET',
        `/api/airings?from=${new Date(dayStart).toISOString()}&to=${new Date(dayEnd).toISOString()}`,
      )
    ).body.items;
    expect(airings.map((a) => a.local.slice(11))).toEqual(['05:00', '17:00']);
    const weekday = Temporal.Instant.fromEpochMilliseconds(dayStart).toZonedDateTimeISO(TZ).dayOfWeek;
    expect(airings.map((a) => a.programId)).toEqual(['sang', weekday === 7 ? 'chu-nhat' : 'chieu']);

    // Every receiver ends both airings, by its own clock, from the schedule it holds.
    for (const a of airings) {
      await Promise.all(
        receivers.map((rx) => rx.waitForAiring((r) => r.airingId === a.id && r.state === 'ended', 60_000)),
      );
    }
    for (const a of airings) {
      const ends = receivers.map((rx) => rx.airings.find((r) => r.airingId === a.id && r.state === 'ended')!);
      expect(ends.map((e) => e.outcome)).toEqual(RX.map(() => 'aired'));
      // (How closely in step they start is measured by `npm run bench` at real time: here one real
      // millisecond of a busy test machine is an hour's 3.6 s.)
    }

    // The controller's log holds exactly what each receiver reported, item by item.
    await waitFor('every report on the controller', async () => {
      const n = tc.controller.db
        .prepare(
          `SELECT count(*) AS n FROM airing_log WHERE airing_id IN (${airings.map(() => '?').join(',')})`,
        )
        .get(...airings.map((a) => a.id)) as { n: number };
      const sent = receivers.reduce(
        (s, rx) =>
          s +
          rx.airings.filter((r) => r.kind === 'airing' && airings.some((a) => a.id === r.airingId)).length,
        0,
      );
      return n.n === sent && receivers.every((rx) => rx.airingsPending === 0);
    });
    for (const rx of receivers) {
      for (const a of airings) {
        const theirs = rx.airings
          .filter((r) => r.airingId === a.id)
          .map((r) => `${r.item ?? '-'} ${r.state} ${(r.report as { at?: string }).at ?? ''}`);
        const ours = (
          tc.controller.db
            .prepare(
              'SELECT item, state, at FROM airing_log WHERE airing_id = ? AND receiver_id = ? ORDER BY id',
            )
            .all(a.id, rx.id) as { item: number | null; state: string; at: string }[]
        ).map((l) => `${l.item ?? '-'} ${l.state} ${l.at}`);
        expect(ours).toEqual(theirs);
      }
    }
    const asrun = await tc.api<{ items: { outcome: string; sha256: string[] }[] }>(
      'GET',
      `/api/asrun?kind=airing&from=${new Date(dayStart).toISOString()}&to=${new Date(dayEnd).toISOString()}`,
    );
    expect(asrun.body.items).toHaveLength(28);
    expect(asrun.body.items.every((r) => r.outcome === 'aired' && r.sha256.length > 0)).toBe(true);
    const summary = await tc.api<{ days: { zoneId: string; aired: number }[] }>(
      'GET',
      `/api/asrun/summary?from=${new Date(dayStart).toISOString()}&to=${new Date(dayEnd).toISOString()}`,
    );
    expect(summary.body.days.filter((d) => d.aired === 2)).toHaveLength(14);
    // The relay was really listened to.
    expect(stream.sent).toBeGreaterThan(0);
  }, 120_000);
});
