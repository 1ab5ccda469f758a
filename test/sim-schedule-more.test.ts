/**
 * The reference receiver's schedule, the harder cases (docs/protocol.md §13.5–13.10): relays that
 * fail or answer late, quiet hours, stops, restarts and replays that must not air anything twice,
 * documents that replace the airing on air, preemption between airings, clashes between equals,
 * and the window. Real parts as in sim-schedule.test.ts: the embedded broker, signed retained
 * documents, audio and streams over HTTP; time runs 100× through a shared scaled clock.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  airing,
  audioItem,
  ended,
  isoAt,
  near,
  publishDoc,
  refusedUrl,
  report,
  StreamServer,
  scheduleDoc,
  scheduleRig,
  trail,
} from './helpers/schedule.js';
import { SimHarness, sha256, wav } from './helpers/sim-harness.js';

const FACTOR = 100;
/**
 * From now to a test's first airing: the document must be taken and its audio fetched before it
 * (600 real ms, ample in a loaded test run; a late document would join late instead).
 */
const LEAD_MS = 60_000;

describe('SimReceiver schedule: failures, quiet hours, stops, replays, clashes', () => {
  let h: SimHarness;
  let radio: StreamServer;
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

  const rig = scheduleRig(() => h, FACTOR);
  const { receiver, hold } = rig;
  /** Commands valid on the scaled clock (the harness's default of one real minute is 0.6 s here). */
  const valid = () => ({ issuedAt: isoAt(rig.clock.now()), expiresAt: isoAt(rig.clock.now() + 3600_000) });
  const { started } = rig;

  it('a relay whose stream fails plays its fallback; without one it is `failed` and the timeline goes on', async () => {
    const rx = await receiver();
    const fb = h.audio.add(wav(500, 200), 10_000);
    const b = h.audio.add(wav(520, 200), 5_000);
    const t = rig.clock.now() + LEAD_MS;
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
    const fbStart = report(rx, withFallback.id, 0, 'started');
    expect(fbStart).toMatchObject({ fallback: true, offsetMs: 0 });
    near(fbStart, t);
    const fbEnd = report(rx, withFallback.id, 0, 'finished');
    expect(fbEnd).toMatchObject({ fallback: true, sha256: sha256(fb.bytes) });
    near(fbEnd, t + 10_000);
    near(report(rx, withFallback.id, 1, 'started'), t + 20_000);
    expect(report(rx, withFallback.id, undefined, 'ended')?.outcome).toBe('aired');

    expect(trail(rx, without.id)).toEqual(['ready', '0:failed', '1:started', '1:finished', 'ended']);
    const failed = report(rx, without.id, 0, 'failed');
    expect(failed?.reason).toBe('stream_failed');
    expect(failed?.report).toMatchObject({ detail: expect.any(String) });
    near(report(rx, without.id, 1, 'started'), t + 40_000 + 15_000);
  });

  it('a relay whose stream answers only after its slot began joins live, reporting how far in', async () => {
    // 2 s ahead of a slot is 20 real ms; the station answers after 70 real ms (7 s of schedule).
    const rx = await receiver();
    const b = h.audio.add(wav(540, 200), 5_000);
    const t = rig.clock.now() + LEAD_MS;
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
    const relay = report(rx, air.id, 0, 'started');
    // joined live where the slot is when the stream answered: 7 s of 30 in, or a little more
    expect(relay?.offsetMs).toBeGreaterThan(4000);
    expect(relay?.offsetMs).toBeLessThan(20_000);
    near(relay, t + (relay?.offsetMs ?? 0));
    near(report(rx, air.id, 0, 'finished'), t + 30_000);
    near(report(rx, air.id, 1, 'started'), t + 30_000);
  });

  it('quiet hours: normal airings do not start inside them, emergencies do; normal bulletins are refused', async () => {
    const rx = await receiver();
    const a = h.audio.add(wav(560, 200), 10_000);
    const e = h.audio.add(wav(580, 200), 5_000);
    const base = rig.clock.now() + LEAD_MS;
    const quiet = [{ start: isoAt(base + 10_000), end: isoAt(base + 200_000) }];
    // starts outside, its second item would start inside
    const running = airing(base, [audioItem(a), audioItem(a)]);
    const due = airing(base + 30_000, [audioItem(a)]);
    const duePriority = airing(base + 35_000, [audioItem(a)], { priority: 'priority' });
    const urgent = airing(base + 40_000, [audioItem(e)], { priority: 'emergency' });
    await hold(rx, [running, due, duePriority, urgent], [a, e], { quiet });
    await rx.waitForAiring(ended(urgent.id), 5000);

    expect(trail(rx, running.id)).toEqual(['ready', '0:started', '0:finished', '1:cut', 'ended']);
    expect(report(rx, running.id, 1, 'cut')?.reason).toBe('quiet_hours');
    expect(report(rx, running.id, undefined, 'ended')?.outcome).toBe('cut');
    expect(trail(rx, due.id)).toEqual(['ready', 'missed', 'ended']);
    expect(report(rx, due.id, undefined, 'missed')?.reason).toBe('quiet_hours');
    expect(trail(rx, duePriority.id)).toEqual(['ready', 'missed', 'ended']);
    expect(report(rx, duePriority.id, undefined, 'missed')?.reason).toBe('quiet_hours');
    expect(trail(rx, urgent.id)).toEqual(['ready', '0:started', '0:finished', 'ended']);
    near(report(rx, urgent.id, 0, 'started'), base + 40_000);

    // still inside the quiet hours (until base + 200 s): a normal bulletin is refused, an emergency plays
    expect(rig.clock.now()).toBeLessThan(base + 150_000);
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
    const t = rig.clock.now() + LEAD_MS;
    const now = airing(t, [audioItem(a), audioItem(b)]);
    const later = airing(t + 60_000, [audioItem(b)]);
    await hold(rx, [now, later], [a, b]);
    await started(rx, now.id);
    const stop = h.stop(valid());
    await h.send(rx, stop);
    await rx.waitForAiring(ended(now.id));
    await rx.waitForEvent((ev) => ev.commandId === stop.id && ev.state === 'received');
    expect(trail(rx, now.id)).toEqual(['ready', '0:started', '0:cut', '1:cut', 'ended']);
    const cut = report(rx, now.id, 0, 'cut');
    expect(cut?.reason).toBe('stopped');
    expect(cut?.offsetMs).toBeGreaterThan(0);
    expect(report(rx, now.id, 1, 'cut')?.reason).toBe('stopped');
    expect(report(rx, now.id, undefined, 'ended')?.outcome).toBe('cut');

    await rx.waitForAiring(ended(later.id), 5000);
    expect(trail(rx, later.id)).toEqual(['ready', '0:started', '0:finished', 'ended']);
    near(report(rx, later.id, 0, 'started'), t + 60_000);
  });

  it('a stop older than the document (seq ≤ version) leaves the airing on air', async () => {
    const rx = await receiver();
    const a = h.audio.add(wav(640, 200), 20_000);
    const old = h.stop(); // numbered before the document
    const t = rig.clock.now() + LEAD_MS;
    const air = airing(t, [audioItem(a)]);
    await hold(rx, [air], [a]);
    await started(rx, air.id);
    await h.send(rx, { ...old, ...valid() });
    await rx.waitForEvent((ev) => ev.commandId === old.id && ev.state === 'received');
    await rx.waitForAiring(ended(air.id), 5000);
    expect(trail(rx, air.id)).toEqual(['ready', '0:started', '0:finished', 'ended']);
  });

  it('nothing airs twice: a restart during an airing and after it, the same document again, a newer one still listing it', async () => {
    const rx = await receiver();
    const a = h.audio.add(wav(660, 200), 20_000);
    const b = h.audio.add(wav(680, 200), 5_000);
    const t = rig.clock.now() + LEAD_MS;
    const first = airing(t, [audioItem(a), audioItem(b)], { graceMs: 5_000 }); // window ends t + 30 s
    const marker = airing(t + 40_000, [audioItem(b)]);
    const v1 = h.nextSeq();
    const doc = scheduleDoc(rx.id, v1, rig.clock.now(), [first, marker], [a, b]);
    await publishDoc(h.controller, h.t, rx.id, doc, h.key);
    const applied = (version: number, n: number) =>
      waitUntil(() => rx.airings.filter((r) => r.state === 'applied' && r.version === version).length >= n);
    await applied(v1, 1);
    await started(rx, first.id);

    // Stopped mid-airing: what sounded is over for good (reported `other`), and a restart within
    // the window does not play it again. Its arming runs before the retained document comes back,
    // so once that is `applied` again, a second start would already have been reported.
    await rx.stop();
    expect(trail(rx, first.id)).toEqual(['ready', '0:started', '0:cut', '1:cut', 'ended']);
    expect(report(rx, first.id, 0, 'cut')?.reason).toBe('other');
    await rx.start();
    await applied(v1, 2);
    await publishDoc(h.controller, h.t, rx.id, doc, h.key); // the same document delivered again
    await applied(v1, 3);
    await hold(rx, [first, marker], [a, b]); // a newer version still listing it

    await rx.waitForAiring(ended(marker.id), 5000);
    expect(trail(rx, marker.id)).toEqual(['ready', '0:started', '0:finished', 'ended']);
    near(report(rx, marker.id, 0, 'started'), t + 40_000);
    // After the marker aired, within its window: stop, start, and its retained document again.
    await rx.stop();
    await rx.start();
    await applied(rx.schedule?.version ?? -1, 2);
    expect(trail(rx, marker.id)).toEqual(['ready', '0:started', '0:finished', 'ended']);
    expect(trail(rx, first.id)).toEqual(['ready', '0:started', '0:cut', '1:cut', 'ended']);
  });

  it('a newer document without the airing on air cuts it (`stopped`); an older one is refused `stale`', async () => {
    const rx = await receiver();
    const a = h.audio.add(wav(700, 200), 30_000);
    const b = h.audio.add(wav(720, 200), 5_000);
    const t = rig.clock.now() + LEAD_MS;
    const gone = airing(t, [audioItem(a), audioItem(b)]);
    const next = airing(t + 50_000, [audioItem(b)]);
    const v1 = h.nextSeq();
    const old = scheduleDoc(rx.id, v1, rig.clock.now(), [gone], [a, b]);
    await publishDoc(h.controller, h.t, rx.id, old, h.key);
    await started(rx, gone.id);
    const v2 = await hold(rx, [next], [b]);
    await rx.waitForAiring(ended(gone.id));
    expect(trail(rx, gone.id)).toEqual(['ready', '0:started', '0:cut', '1:cut', 'ended']);
    const cut = report(rx, gone.id, 0, 'cut');
    expect(cut?.reason).toBe('stopped');
    expect(cut?.offsetMs).toBeGreaterThan(0);
    expect(report(rx, gone.id, undefined, 'ended')?.outcome).toBe('cut');

    await publishDoc(h.controller, h.t, rx.id, old, h.key);
    await rx.waitForAiring((r) => r.state === 'rejected' && r.version === v1 && r.reason === 'stale');
    expect(rx.schedule?.version).toBe(v2);
    await rx.waitForAiring(ended(next.id), 5000);
    expect(trail(rx, next.id)).toEqual(['ready', '0:started', '0:finished', 'ended']);
    expect(trail(rx, gone.id)).toHaveLength(5); // the old copy brought nothing back
  });
});

/** Polls a local condition that a network round trip makes true; bounded. */
async function waitUntil(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
