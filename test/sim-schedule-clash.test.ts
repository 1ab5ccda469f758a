/**
 * The reference receiver judges who has the loudspeaker between airings (docs/protocol.md §13.8):
 * a `priority` airing preempts a `normal` one, which resumes after it; between two `priority`
 * airings the later waits for the first and starts when it ends if its window allows, else it is
 * missed; and an interrupted airing whose rest no longer fits its window is cut. Real parts as
 * in sim-schedule.test.ts; time runs 100× through a shared scaled clock.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SimReceiver } from '../firmware-sim/receiver.js';
import {
  airing,
  audioItem,
  ended,
  isoAt,
  JITTER_MS,
  near,
  report,
  scheduleRig,
  trail,
} from './helpers/schedule.js';
import { type AudioFile, SimHarness, wav } from './helpers/sim-harness.js';

const FACTOR = 100;
/**
 * From now to a test's first airing: the document must be taken and its audio fetched before it
 * (600 real ms, ample in a loaded test run; a late document would join late instead).
 */
const LEAD_MS = 60_000;

describe('SimReceiver schedule: preemption between airings, clashes, the window', () => {
  let h: SimHarness;
  beforeAll(async () => {
    h = await new SimHarness().start();
  });
  afterEach(async () => {
    await h.stopReceivers();
    expect(h.protocolErrors).toEqual([]);
  });
  afterAll(async () => {
    await h.close();
  });

  const rig = scheduleRig(() => h, FACTOR);
  const receiver = () => rig.receiver();
  const { hold } = rig;
  const { started } = rig;
  /** An emergency bulletin of `file`, valid on the scaled clock; resolves once it finished. */
  const emergency = async (rx: SimReceiver, file: AudioFile) => {
    const cmd = h.play(file, {
      priority: 'emergency',
      issuedAt: isoAt(rig.clock.now()),
      expiresAt: isoAt(rig.clock.now() + 3600_000),
    });
    await h.send(rx, cmd);
    return cmd;
  };

  it('a priority airing preempts a normal one, which resumes where it stopped when it ends', async () => {
    const rx = await receiver();
    const a = h.audio.add(wav(300, 200), 30_000);
    const b = h.audio.add(wav(320, 200), 10_000);
    const c = h.audio.add(wav(340, 200), 8_000);
    const t = rig.clock.now() + LEAD_MS;
    const normal = airing(t, [audioItem(a), audioItem(b)], { graceMs: 120_000 });
    const urgent = airing(t + 10_000, [audioItem(c)], { priority: 'priority' });
    await hold(rx, [normal, urgent], [a, b, c]);
    await rx.waitForAiring(ended(normal.id), 8000);

    expect(trail(rx, urgent.id)).toEqual(['ready', '0:started', '0:finished', 'ended']);
    near(report(rx, urgent.id, 0, 'started'), t + 10_000);
    expect(trail(rx, normal.id)).toEqual([
      'ready',
      '0:started',
      '0:preempted',
      '0:started',
      '0:finished',
      '1:started',
      '1:finished',
      'ended',
    ]);
    const pre = report(rx, normal.id, 0, 'preempted');
    expect(pre?.by).toBe(urgent.id);
    near(pre, t + 10_000);
    expect(Math.abs((pre?.offsetMs ?? 0) - 10_000)).toBeLessThan(JITTER_MS);
    // resumed as soon as the priority airing ended, where it stopped; the rest shifted by 8 s
    const resumed = rx.airings.filter(
      (r) => r.airingId === normal.id && r.item === 0 && r.state === 'started',
    )[1];
    expect(resumed).toMatchObject({ resumed: true, offsetMs: pre?.offsetMs });
    const urgentEnd = Date.parse(report(rx, urgent.id, 0, 'finished')?.at ?? '');
    near(resumed, urgentEnd);
    near(report(rx, normal.id, 1, 'started'), urgentEnd + 30_000 - (pre?.offsetMs ?? 0));
    expect(report(rx, normal.id, undefined, 'ended')?.outcome).toBe('aired');
  });

  it('two priority airings clash: the second waits and starts when the first ends; one whose window has passed is missed', async () => {
    const rx = await receiver();
    const a = h.audio.add(wav(360, 200), 20_000);
    const c = h.audio.add(wav(380, 200), 8_000);
    const t = rig.clock.now() + LEAD_MS;
    const first = airing(t, [audioItem(a)], { priority: 'priority' });
    const second = airing(t + 5_000, [audioItem(c)], { priority: 'priority', graceMs: 60_000 });
    // its window closes at t + 14 s, while the first still sounds
    const third = airing(t + 6_000, [audioItem(c)], { priority: 'priority', graceMs: 0 });
    await hold(rx, [first, second, third], [a, c]);
    await rx.waitForAiring(ended(third.id), 8000);
    await rx.waitForAiring(ended(second.id), 8000);

    expect(trail(rx, first.id)).toEqual(['ready', '0:started', '0:finished', 'ended']);
    expect(trail(rx, second.id)).toEqual(['ready', '0:started', '0:finished', 'ended']);
    const firstEnd = Date.parse(report(rx, first.id, 0, 'finished')?.at ?? '');
    near(report(rx, first.id, 0, 'finished'), t + 20_000);
    const waited = report(rx, second.id, 0, 'started');
    expect(waited?.offsetMs).toBe(0); // from its first item, not joined late
    near(waited, firstEnd);
    expect(report(rx, second.id, undefined, 'ended')?.outcome).toBe('aired');
    expect(trail(rx, third.id)).toEqual(['ready', 'missed', 'ended']);
    expect(report(rx, third.id, undefined, 'missed')?.reason).toBe('preempted');
    expect(report(rx, third.id, undefined, 'ended')?.outcome).toBe('missed');
  });

  it('an interrupted airing whose rest no longer fits its window is cut (`window`)', async () => {
    const rx = await receiver();
    const a = h.audio.add(wav(400, 200), 20_000);
    const b = h.audio.add(wav(420, 200), 20_000);
    const alert = h.audio.add(wav(900, 200), 8_000);
    const t = rig.clock.now() + LEAD_MS;
    // window t + 45 s: after an 8 s interruption item 0 still fits, item 1 no longer does
    const tail = airing(t, [audioItem(a), audioItem(b)], { graceMs: 5_000 });
    // window t2 + 22 s: after the interruption not even the interrupted item's rest fits
    const t2 = t + 60_000;
    const whole = airing(t2, [audioItem(a)], { graceMs: 2_000 });
    await hold(rx, [tail, whole], [a, b]);

    await started(rx, tail.id);
    const cmd1 = await emergency(rx, alert);
    await rx.waitForAiring(ended(tail.id), 5000);
    expect(trail(rx, tail.id)).toEqual([
      'ready',
      '0:started',
      '0:preempted',
      '0:started',
      '0:finished',
      '1:cut',
      'ended',
    ]);
    expect(report(rx, tail.id, 0, 'preempted')?.by).toBe(cmd1.id);
    expect(report(rx, tail.id, 1, 'cut')?.reason).toBe('window');
    expect(report(rx, tail.id, undefined, 'ended')?.outcome).toBe('cut');

    await started(rx, whole.id);
    const cmd2 = await emergency(rx, alert);
    await rx.waitForAiring(ended(whole.id), 5000);
    expect(trail(rx, whole.id)).toEqual(['ready', '0:started', '0:preempted', '0:cut', 'ended']);
    expect(report(rx, whole.id, 0, 'preempted')?.by).toBe(cmd2.id);
    expect(report(rx, whole.id, 0, 'cut')?.reason).toBe('window');
    expect(report(rx, whole.id, undefined, 'ended')?.outcome).toBe('cut');
    await rx.waitForEvent((ev) => ev.commandId === cmd2.id && ev.state === 'finished');
  });
});
