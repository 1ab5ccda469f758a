/**
 * Preemption and resume between the two sources of one loudspeaker (docs/protocol.md §7.3,
 * §13.8): airings of a program held by the receiver and bulletins. What sounded, in which order,
 * is read from the simulator's own records (its events and airing reports, in the order it made
 * them). Real parts as in sim-schedule.test.ts; time runs 100× through a shared scaled clock.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SimReceiver } from '../firmware-sim/receiver.js';
import type { PlayCommand, ReceiverEvent } from '../src/contract/mqtt.js';
import { airing, audioItem, ended, isoAt, scheduleRig, trail } from './helpers/schedule.js';
import { type AudioFile, SimHarness, wav } from './helpers/sim-harness.js';

const FACTOR = 100;
/** From now to a test's airing: the document is taken and its audio fetched before it. */
const LEAD_MS = 60_000;

/**
 * Everything `rx` does from now on, in the order it does it: `name:state` for bulletins (by the
 * names given), `name:item:state` for airing items (`~` marks a resume).
 */
function recorder(rx: SimReceiver, names: Map<string, string>) {
  const log: string[] = [];
  rx.on('event', (e: ReceiverEvent) => {
    const name = e.bulletinId ? names.get(e.bulletinId) : undefined;
    if (!name || !['started', 'preempted', 'finished', 'expired', 'cancelled'].includes(e.state)) return;
    log.push(`${name}:${e.state}${e.resumed ? '~' : ''}`);
  });
  rx.on('airing', (r) => {
    const name = r.airingId ? names.get(r.airingId) : undefined;
    if (!name || r.item === undefined || !['started', 'preempted', 'finished'].includes(r.state)) return;
    log.push(`${name}:${r.item}:${r.state}${r.resumed ? '~' : ''}`);
  });
  return log;
}

describe('preemption and resume between airings and bulletins', () => {
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
  const receiver = () => rig.receiver({ timeFactor: 1 / FACTOR });
  /** A play command valid on the scaled clock. */
  const play = (file: AudioFile, over: Partial<PlayCommand> = {}) =>
    h.play(file, {
      issuedAt: isoAt(rig.clock.now()),
      expiresAt: isoAt(rig.clock.now() + 3600_000),
      ...over,
    });
  const is = (cmd: PlayCommand, state: ReceiverEvent['state']) => (e: ReceiverEvent) =>
    e.commandId === cmd.id && e.state === state;

  it('an emergency interrupting a program, itself interrupted by a newer emergency: newest first, then the older one, then the program resumes', async () => {
    const rx = await receiver();
    const a = h.audio.add(wav(300, 200), 60_000);
    const b = h.audio.add(wav(320, 200), 10_000);
    const alert1 = h.audio.add(wav(880, 200), 30_000);
    const alert2 = h.audio.add(wav(990, 200), 8_000);
    const program = airing(rig.clock.now() + LEAD_MS, [audioItem(a), audioItem(b)], { graceMs: 300_000 });
    await rig.hold(rx, [program], [a, b]);
    const e1 = play(alert1, { priority: 'emergency', repeat: 2 });
    const e2 = play(alert2, { priority: 'emergency' });
    const log = recorder(
      rx,
      new Map([
        [program.id, 'P'],
        [e1.bulletinId, 'E1'],
        [e2.bulletinId, 'E2'],
      ]),
    );
    await rig.started(rx, program.id);
    await h.send(rx, e1);
    await rx.waitForEvent(is(e1, 'started'));
    await h.send(rx, e2);
    await rx.waitForAiring(ended(program.id), 10_000);

    expect(log).toEqual([
      'P:0:started',
      'P:0:preempted',
      'E1:started',
      'E1:preempted',
      'E2:started',
      'E2:finished',
      'E1:started~',
      'E1:started',
      'E1:finished',
      'P:0:started~',
      'P:0:finished',
      'P:1:started',
      'P:1:finished',
    ]);
    expect(trail(rx, program.id).at(-1)).toBe('ended');
    expect(rx.airings.find((r) => r.airingId === program.id && r.state === 'ended')?.outcome).toBe('aired');
    expect(rx.events.find(is(e1, 'preempted'))).toMatchObject({ by: e2.id, play: 1, resumes: true });
    expect(rx.played.map((p) => [p.commandId, p.plays, p.interruptions])).toEqual([
      [e2.id, 1, 0],
      [e1.id, 2, 1],
    ]);
  });

  it('a bulletin interrupted by an emergency program resumes after it, before a bulletin of its priority that queued meanwhile', async () => {
    const rx = await receiver();
    const long = h.audio.add(wav(300, 200), 80_000);
    const other = h.audio.add(wav(350, 200), 10_000);
    const siren = h.audio.add(wav(990, 200), 20_000);
    const program = airing(rig.clock.now() + LEAD_MS, [audioItem(siren)], { priority: 'emergency' });
    await rig.hold(rx, [program], [siren]);
    const normal = play(long);
    const queued = play(other);
    const log = recorder(
      rx,
      new Map([
        [program.id, 'P'],
        [normal.bulletinId, 'N'],
        [queued.bulletinId, 'Q'],
      ]),
    );
    await h.send(rx, normal);
    await rx.waitForEvent(is(normal, 'started'));
    await h.send(rx, queued);
    await rx.waitForEvent(is(queued, 'ready'));
    expect(rx.queued).toEqual([queued.id]);

    const cut = await rx.waitForEvent(is(normal, 'preempted'), 5000);
    expect(cut).toMatchObject({ by: program.id, play: 1, resumes: true });
    // waiting: the interrupted one ahead of the one that never started
    expect(rx.queued).toEqual([normal.id, queued.id]);
    await rx.waitForEvent(is(queued, 'finished'), 10_000);
    expect(log).toEqual([
      'N:started',
      'N:preempted',
      'P:0:started',
      'P:0:finished',
      'N:started~',
      'N:finished',
      'Q:started',
      'Q:finished',
    ]);
    expect(rx.played.map((p) => p.commandId)).toEqual([normal.id, queued.id]);
  });

  it('a normal bulletin interrupted before the quiet hours does not resume inside them; an interrupted emergency does', async () => {
    const rx = await receiver();
    const long = h.audio.add(wav(300, 200), 80_000);
    const alert = h.audio.add(wav(990, 200), 60_000);
    const normal = play(long);
    const first = play(long, { priority: 'emergency' });
    const second = play(alert, { priority: 'emergency' });
    await h.send(rx, normal);
    await rx.waitForEvent(is(normal, 'started'));
    await h.send(rx, first);
    await rx.waitForEvent(is(first, 'started'));
    await h.send(rx, second);
    await rx.waitForEvent(is(second, 'started'));
    // The quiet hours begin while the newer emergency sounds.
    const now = rig.clock.now();
    await rig.hold(rx, [], [], { quiet: [{ start: isoAt(now + 5_000), end: isoAt(now + 3600_000) }] });
    const refused = await rx.waitForEvent(is(normal, 'failed'), 10_000);
    expect(refused).toMatchObject({ reason: 'quiet_hours' });
    expect(rx.events.filter(is(first, 'started')).map((e) => e.resumed ?? false)).toEqual([false, true]);
    await rx.waitForEvent(is(first, 'finished'));
    expect(rx.events.filter(is(normal, 'started'))).toHaveLength(1);
    expect(rx.played.map((p) => p.commandId)).toEqual([second.id, first.id]);
  });
});
