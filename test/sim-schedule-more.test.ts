/**
 * The reference receiver's schedule, the harder cases (docs/protocol.md §13.5–13.10): relays that
 * fail or answer late, quiet hours, stops, restarts and replays that must not air anything twice,
 * documents that replace the airing on air, preemption between airings, clashes between equals,
 * and the window. Real parts as in sim-schedule.test.ts: the embedded broker, signed retained
 * documents, audio and streams over HTTP; time runs 100× through a shared scaled clock.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SimReceiver } from '../firmware-sim/receiver.js';
import type { AiringRecord } from '../firmware-sim/schedule/reports.js';
import type { ScheduledAiring } from '../src/contract/schedule.js';
import { type Clock, scaledClock } from '../src/time/clock.js';
import {
  airing,
  audioItem,
  isoAt,
  publishDoc,
  refusedUrl,
  StreamServer,
  scheduleDoc,
} from './helpers/schedule.js';
import { type AudioFile, SimHarness, sha256, wav } from './helpers/sim-harness.js';

const FACTOR = 100;
/** A timer of a busy test process may fire up to ~15 real ms late: that × FACTOR here. */
const JITTER_MS = 1500;

const of = (rx: SimReceiver, airingId: string) => rx.airings.filter((r) => r.airingId === airingId);
const trail = (rx: SimReceiver, airingId: string) =>
  of(rx, airingId).map((r) => (r.item === undefined ? r.state : `${r.item}:${r.state}`));
const ended = (airingId: string) => (r: AiringRecord) => r.airingId === airingId && r.state === 'ended';
const find = (rx: SimReceiver, airingId: string, item: number | undefined, state: string) =>
  of(rx, airingId).find((r) => r.item === item && r.state === state);
const atMs = (r: AiringRecord | undefined) => Date.parse(r?.at ?? '');
const near = (r: AiringRecord | undefined, instant: number) =>
  expect(Math.abs(atMs(r) - instant)).toBeLessThan(JITTER_MS);

describe('SimReceiver schedule: failures, quiet hours, stops, replays, clashes', () => {
  let h: SimHarness;
  let radio: StreamServer;
  let clock: Clock;
  beforeAll(async () => {
    h = await new SimHarness().start();
    radio = new StreamServer();
    await radio.start();
  });
  afterEach(async () => {
    await h.stopReceivers();
    expect(h.protocolErrors).toEqual([]);
  });
  afterAll(async () => {
    await radio.close();
    await h.close();
  });

  const receiver = (over: Parameters<SimHarness['receiver']>[0] = {}) => {
    clock = scaledClock(FACTOR);
    return h.receiver({ clock, ...over });
  };
  /** Publishes a new version of `rx`'s document and waits until it is applied. */
  const hold = async (
    rx: SimReceiver,
    airings: ScheduledAiring[],
    assets: AudioFile[],
    over: Parameters<typeof scheduleDoc>[5] = {},
  ) => {
    const version = h.nextSeq();
    await publishDoc(
      h.controller,
      h.t,
      rx.id,
      scheduleDoc(rx.id, version, clock.now(), airings, assets, over),
      h.key,
    );
    await rx.waitForAiring((r) => r.kind === 'schedule' && r.state === 'applied' && r.version === version);
    return version;
  };
  /** Commands valid on the scaled clock (the harness's default of one real minute is 0.6 s here). */
  const valid = () => ({ issuedAt: isoAt(clock.now()), expiresAt: isoAt(clock.now() + 3600_000) });
  const started = (rx: SimReceiver, airingId: string, item = 0) =>
    rx.waitForAiring((r) => r.airingId === airingId && r.item === item && r.state === 'started', 5000);

  it('a relay whose stream fails plays its fallback; without one it is `failed` and the timeline goes on', async () => {
    const rx = await receiver();
    const fb = h.audio.add(wav(500, 200), 10_000);
    const b = h.audio.add(wav(520, 200), 5_000);
    const t = clock.now() + 20_000;
    const withFallback = airing(t, [
      { kind: 'relay', url: `${radio.base}/dead`, durationMs: 20_000, fallback: fb.audio.sha256 },
      audioItem(b),
    ]);
    const without = airing(t + 40_000, [
      { kind: 'relay', url: await refusedUrl(), durationMs: 15_000 },
      audioItem(b),
    ]);
    await hold(rx, [withFallback, without], [fb, b]);
    await rx.waitForAiring(ended(without.id), 8000);

    expect(trail(rx, withFallback.id)).toEqual([
      'ready',
      '0:started',
      '0:finished',
      '1:started',
      '1:finished',
      'ended',
    ]);
    // The stream was tried ahead of the slot: the fallback sounds at the slot, from its start,
    // ends with its file (10 s of a 20 s slot), and item 1 keeps its planned instant.
    const fbStart = find(rx, withFallback.id, 0, 'started');
    expect(fbStart).toMatchObject({ fallback: true, offsetMs: 0 });
    near(fbStart, t);
    const fbEnd = find(rx, withFallback.id, 0, 'finished');
    expect(fbEnd).toMatchObject({ fallback: true, sha256: sha256(fb.bytes) });
    near(fbEnd, t + 10_000);
    near(find(rx, withFallback.id, 1, 'started'), t + 20_000);
    expect(find(rx, withFallback.id, undefined, 'ended')?.outcome).toBe('aired');

    expect(trail(rx, without.id)).toEqual(['ready', '0:failed', '1:started', '1:finished', 'ended']);
    const failed = find(rx, without.id, 0, 'failed');
    expect(failed?.reason).toBe('stream_failed');
    expect(failed?.report).toMatchObject({ detail: expect.any(String) });
    near(find(rx, without.id, 1, 'started'), t + 40_000 + 15_000);
  });

  it('a relay whose stream answers only after its slot began joins live, reporting how far in', async () => {
    // 2 s ahead of a slot is 20 real ms; the station answers after 70 real ms (7 s of schedule).
    const rx = await receiver();
    const b = h.audio.add(wav(540, 200), 5_000);
    const t = clock.now() + 20_000;
    const air = airing(t, [
      { kind: 'relay', url: `${radio.base}/slow?ms=70`, durationMs: 30_000 },
      audioItem(b),
    ]);
    await hold(rx, [air], [b]);
    await rx.waitForAiring(ended(air.id), 5000);
    expect(trail(rx, air.id)).toEqual([
      'ready',
      '0:started',
      '0:finished',
      '1:started',
      '1:finished',
      'ended',
    ]);
    const relay = find(rx, air.id, 0, 'started');
    // joined live where the slot is when the stream answered: 7 s of 30 in, or a little more
    expect(relay?.offsetMs).toBeGreaterThan(4000);
    expect(relay?.offsetMs).toBeLessThan(20_000);
    near(relay, t + (relay?.offsetMs ?? 0));
    near(find(rx, air.id, 0, 'finished'), t + 30_000);
    near(find(rx, air.id, 1, 'started'), t + 30_000);
  });

  it('quiet hours: normal airings do not start inside them, emergencies do; normal bulletins are refused', async () => {
    const rx = await receiver();
    const a = h.audio.add(wav(560, 200), 10_000);
    const e = h.audio.add(wav(580, 200), 5_000);
    const base = clock.now() + 20_000;
    const quiet = [{ start: isoAt(base + 10_000), end: isoAt(base + 200_000) }];
    // starts outside, its second item would start inside
    const running = airing(base, [audioItem(a), audioItem(a)]);
    const due = airing(base + 30_000, [audioItem(a)]);
    const duePriority = airing(base + 35_000, [audioItem(a)], { priority: 'priority' });
    const urgent = airing(base + 40_000, [audioItem(e)], { priority: 'emergency' });
    await hold(rx, [running, due, duePriority, urgent], [a, e], { quiet });
    await rx.waitForAiring(ended(urgent.id), 5000);

    expect(trail(rx, running.id)).toEqual(['ready', '0:started', '0:finished', '1:cut', 'ended']);
    expect(find(rx, running.id, 1, 'cut')?.reason).toBe('quiet_hours');
    expect(find(rx, running.id, undefined, 'ended')?.outcome).toBe('cut');
    expect(trail(rx, due.id)).toEqual(['ready', 'missed', 'ended']);
    expect(find(rx, due.id, undefined, 'missed')?.reason).toBe('quiet_hours');
    expect(trail(rx, duePriority.id)).toEqual(['ready', 'missed', 'ended']);
    expect(find(rx, duePriority.id, undefined, 'missed')?.reason).toBe('quiet_hours');
    expect(trail(rx, urgent.id)).toEqual(['ready', '0:started', '0:finished', 'ended']);
    near(find(rx, urgent.id, 0, 'started'), base + 40_000);

    // still inside the quiet hours (until base + 200 s): a normal bulletin is refused, an emergency plays
    expect(clock.now()).toBeLessThan(base + 150_000);
    const normal = h.play(a, valid());
    await h.send(rx, normal);
    const refused = await rx.waitForEvent((ev) => ev.commandId === normal.id && ev.state === 'rejected');
    expect(refused).toMatchObject({ reason: 'quiet_hours' });
    const alert = h.play(e, { priority: 'emergency', ...valid() });
    await h.send(rx, alert);
    await rx.waitForEvent((ev) => ev.commandId === alert.id && ev.state === 'finished');
  });

  it('an all-stop cuts the airing on air; a later airing of the same document still airs', async () => {
    const rx = await receiver();
    const a = h.audio.add(wav(600, 200), 30_000);
    const b = h.audio.add(wav(620, 200), 5_000);
    const t = clock.now() + 15_000;
    const now = airing(t, [audioItem(a), audioItem(b)]);
    const later = airing(t + 60_000, [audioItem(b)]);
    await hold(rx, [now, later], [a, b]);
    await started(rx, now.id);
    const stop = h.stop(valid());
    await h.send(rx, stop);
    await rx.waitForAiring(ended(now.id));
    await rx.waitForEvent((ev) => ev.commandId === stop.id && ev.state === 'received');
    expect(trail(rx, now.id)).toEqual(['ready', '0:started', '0:cut', '1:cut', 'ended']);
    const cut = find(rx, now.id, 0, 'cut');
    expect(cut?.reason).toBe('stopped');
    expect(cut?.offsetMs).toBeGreaterThan(0);
    expect(find(rx, now.id, 1, 'cut')?.reason).toBe('stopped');
    expect(find(rx, now.id, undefined, 'ended')?.outcome).toBe('cut');

    await rx.waitForAiring(ended(later.id), 5000);
    expect(trail(rx, later.id)).toEqual(['ready', '0:started', '0:finished', 'ended']);
    near(find(rx, later.id, 0, 'started'), t + 60_000);
  });

  it('a stop older than the document (seq ≤ version) leaves the airing on air', async () => {
    const rx = await receiver();
    const a = h.audio.add(wav(640, 200), 20_000);
    const old = h.stop(); // numbered before the document
    const t = clock.now() + 15_000;
    const air = airing(t, [audioItem(a)]);
    await hold(rx, [air], [a]);
    await started(rx, air.id);
    await h.send(rx, { ...old, ...valid() });
    await rx.waitForEvent((ev) => ev.commandId === old.id && ev.state === 'received');
    await rx.waitForAiring(ended(air.id), 5000);
    expect(trail(rx, air.id)).toEqual(['ready', '0:started', '0:finished', 'ended']);
  });
});
