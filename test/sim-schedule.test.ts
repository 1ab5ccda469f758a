/**
 * The reference receiver keeps its schedule (docs/protocol.md §13), against real parts: the
 * embedded broker with its ACLs, signed retained documents, audio and a live stream over HTTP.
 * Time runs 100× faster through a scaled clock shared by the test and the receiver, so a minute of
 * schedule takes 0.6 s, and every wait is on a reported event.
 */
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AiringReport } from '../src/contract/schedule.js';
import { generateSigningKey, seal } from '../src/contract/signing.js';
import { CONTROLLER_USERNAME, startEmbeddedBroker } from '../src/mqtt/broker.js';
import { scaledClock } from '../src/time/clock.js';
import {
  airing,
  audioItem,
  ended,
  isoAt,
  JITTER_MS,
  publishDoc,
  reportsOf,
  StreamServer,
  scheduleDoc,
  scheduleRig,
  trail,
} from './helpers/schedule.js';
import { SimHarness, sha256, wav } from './helpers/sim-harness.js';

const FACTOR = 100;

const of = reportsOf;

describe('SimReceiver keeps its schedule', () => {
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
  const { receiver, applied } = rig;

  it('airs a 3-item airing on time by its own clock, reporting item by item on the wire', async () => {
    // The relay connects 10 s of schedule time (100 real ms) ahead of its slot: the default 2 s
    // would be 20 real ms here, tight for a busy test process.
    const rx = await receiver({ schedule: { relayLeadMs: 10_000 } });
    const wire: AiringReport[] = [];
    h.controller.on('message', (topic, payload) => {
      if (topic === h.t.receiverAiring(rx.id)) wire.push(JSON.parse(payload.toString()) as AiringReport);
    });
    await h.controller.subscribeAsync(h.t.receiverAiring(rx.id), { qos: 1 });
    const a = h.audio.add(wav(440, 200), 15_000);
    const b = h.audio.add(wav(550, 200), 10_000);
    const at = rig.clock.now() + 60_000; // ample for the document and its audio in a loaded run
    const air = airing(at, [
      audioItem(a),
      { kind: 'relay', url: `${radio.base}/live`, durationMs: 20_000 },
      audioItem(b),
    ]);
    const version = h.nextSeq();
    await publishDoc(
      h.controller,
      h.t,
      rx.id,
      scheduleDoc(rx.id, version, rig.clock.now(), [air], [a, b]),
      h.key,
    );
    await applied(rx, version);
    await rx.waitForAiring((r) => r.airingId === air.id && r.state === 'ready');
    expect(h.audio.hits(a.path)).toBe(1);

    await rx.waitForAiring(ended(air.id), 5000);
    expect(trail(rx, air.id)).toEqual([
      'ready',
      '0:started',
      '0:finished',
      '1:started',
      '1:finished',
      '2:started',
      '2:finished',
      'ended',
    ]);
    const rs = of(rx, air.id);
    const started = rs.filter((r) => r.state === 'started');
    expect(started.map((r) => r.offsetMs)).toEqual([0, 0, 0]);
    // Each item starts at its planned instant on the true clock: at, at + 15 s, at + 35 s. The
    // relay connected ahead of its slot, so it sounds at the slot too, not when the stream answered.
    const planned = [at, at + 15_000, at + 35_000];
    started.forEach((r, k) => {
      expect(Math.abs(Date.parse(r.at) - (planned[k] ?? 0))).toBeLessThan(JITTER_MS);
    });
    expect(rs.filter((r) => r.state === 'finished').map((r) => r.sha256)).toEqual([
      sha256(a.bytes),
      undefined,
      sha256(b.bytes),
    ]);
    expect(rs.at(-1)?.outcome).toBe('aired');
    await waitUntil(() => radio.listeners === 0); // the relay hangs up at the end of its slot

    // The controller gets the same reports over MQTT, checked by the receiver against the contract.
    await waitUntil(() => wire.some((m) => m.kind === 'airing' && m.state === 'ended'));
    const wired = wire.filter((m) => m.kind === 'airing' && m.airingId === air.id);
    expect(wired.map((m) => m.state)).toEqual(rs.map((r) => r.state));
    expect(wire.find((m) => m.kind === 'schedule')).toMatchObject({
      state: 'applied',
      version,
      session: rx.session,
    });
  });

  it('airs while the broker is down and delivers the reports to the broker that comes back on the same port', async () => {
    const reports: AiringReport[] = [];
    const secret = randomBytes(12).toString('hex');
    const id = h.nextId();
    const password = randomBytes(12).toString('base64url');
    const brokerOpts = (port: number) => ({
      host: '127.0.0.1',
      port,
      topics: h.t,
      controllerSecret: secret,
      devices: {
        verify: async (u: string, p: string) => (u === id && p === password ? u : null),
        rights: (rid: string) => (rid === id ? { adopted: true, zoneId: null } : null),
        hasCredentials: (rid: string) => rid === id,
      },
      onReport: (topic: string, payload: Buffer, ack: () => void) => {
        if (topic === h.t.receiverAiring(id)) reports.push(JSON.parse(payload.toString()) as AiringReport);
        ack();
      },
      log: pino({ level: 'silent' }),
    });
    let broker = await startEmbeddedBroker(brokerOpts(0));
    const port = broker.port;
    try {
      const rx = await receiver({
        id,
        username: id,
        password,
        brokerUrl: broker.url,
        // not so eager that it reconnects to the broker while that one is closing
        reconnectMinMs: 300,
        reconnectMaxMs: 400,
      });
      const ctl = await h.client({
        username: CONTROLLER_USERNAME,
        password: secret,
        host: '127.0.0.1',
        port,
      });
      const a = h.audio.add(wav(600, 200), 10_000);
      const at = rig.clock.now() + 60_000;
      const air = airing(at, [audioItem(a), audioItem(a)]);
      const version = h.nextSeq();
      await publishDoc(ctl, h.t, id, scheduleDoc(id, version, rig.clock.now(), [air], [a]), h.key);
      await rx.waitForAiring((r) => r.airingId === air.id && r.state === 'ready');
      await ctl.endAsync(true);

      await broker.close();
      expect(rig.clock.now()).toBeLessThan(at); // the broker is gone before the instant
      await rx.waitForAiring(ended(air.id), 5000);
      expect(trail(rx, air.id)).toEqual([
        'ready',
        '0:started',
        '0:finished',
        '1:started',
        '1:finished',
        'ended',
      ]);
      expect(rx.airingsPending).toBeGreaterThanOrEqual(5);

      broker = await startEmbeddedBroker(brokerOpts(port));
      await waitUntil(() => reports.some((r) => r.kind === 'airing' && r.state === 'ended'), 5000);
      const delivered = reports.filter((r) => r.kind === 'airing' && r.airingId === air.id);
      // `ready` went to the first broker; the rest waited in the outbox
      expect(delivered.map((r) => r.state)).toEqual([
        'ready',
        'started',
        'finished',
        'started',
        'finished',
        'ended',
      ]);
      const first = delivered[1] as Extract<AiringReport, { kind: 'airing' }>;
      expect(Math.abs(Date.parse(first.at) - at)).toBeLessThan(JITTER_MS);
      // sent after the reconnection: on the new session, `ts` the receiver's clock at sending
      expect(first.session).toBe(rx.session);
      expect(Date.parse(first.ts)).toBeGreaterThan(Date.parse(first.at) + 1000);
      await waitUntil(() => rx.airingsPending === 0);
    } finally {
      await h.stopReceivers();
      await broker.close();
    }
  });

  it('joins late at the right offset (receiver started after the instant); `skip` airings are missed', async () => {
    const id = h.nextId();
    const a = h.audio.add(wav(300, 200), 60_000);
    const b = h.audio.add(wav(330, 200), 60_000);
    const c = h.audio.add(wav(360, 200), 30_000);
    const t0 = Date.now();
    // 90 s of schedule time before the receiver even starts: item 0 is over, item 1 half-way.
    const join = airing(t0 - 90_000, [audioItem(a), audioItem(b), audioItem(c)]);
    const skip = airing(t0 - 90_000, [audioItem(a)], { late: 'skip', priority: 'priority' });
    const version = h.nextSeq();
    await publishDoc(h.controller, h.t, id, scheduleDoc(id, version, t0, [join, skip], [a, b, c]), h.key);
    const clock = scaledClock(FACTOR, t0);
    const rx = await h.receiver({ id, clock });
    await rx.waitForAiring(ended(join.id), 5000);
    await rx.waitForAiring(ended(skip.id));
    // (it fetches the audio once it has the document: `ready`, then joins)
    expect(trail(rx, join.id)).toEqual([
      'ready',
      '0:skipped',
      '1:started',
      '1:finished',
      '2:started',
      '2:finished',
      'ended',
    ]);
    const joinRs = of(rx, join.id);
    expect(joinRs.find((r) => r.state === 'skipped')?.reason).toBe('late');
    const started = joinRs.find((r) => r.item === 1 && r.state === 'started');
    // offset = where the timeline is now: the report's own instant minus item 1's planned start
    const due = Date.parse(started?.at ?? '') - (t0 - 90_000 + 60_000);
    expect(started?.offsetMs).toBeGreaterThan(30_000);
    expect(Math.abs((started?.offsetMs ?? 0) - due)).toBeLessThan(JITTER_MS);
    // and the rest keeps step: item 2 at its planned instant
    const next = joinRs.find((r) => r.item === 2 && r.state === 'started');
    expect(Math.abs(Date.parse(next?.at ?? '') - (t0 + 30_000))).toBeLessThan(JITTER_MS);
    expect(joinRs.find((r) => r.state === 'ended')?.outcome).toBe('aired');
    expect(
      of(rx, skip.id)
        .filter((r) => r.state !== 'ready')
        .map((r) => [r.state, r.reason ?? r.outcome]),
    ).toEqual([
      ['missed', 'late'],
      ['ended', 'missed'],
    ]);
  });

  it('refuses stale, forged, tampered and misaddressed documents, and keeps the one it holds', async () => {
    const rx = await receiver();
    const a = h.audio.add(wav(700, 200), 5_000);
    const now = rig.clock.now();
    const version = h.nextSeq();
    const good = scheduleDoc(rx.id, version, now, [airing(now + 3600_000, [audioItem(a)])], [a]);
    await publishDoc(h.controller, h.t, rx.id, good, h.key);
    await applied(rx, version);
    const rejected = (v: number, reason: string) =>
      rx.waitForAiring(
        (r) => r.kind === 'schedule' && r.state === 'rejected' && r.version === v && r.reason === reason,
      );

    await publishDoc(h.controller, h.t, rx.id, { ...good, version: version - 1 }, h.key);
    await rejected(version - 1, 'stale');
    const forger = generateSigningKey(h.key.kid); // same key id, other key
    await publishDoc(h.controller, h.t, rx.id, { ...good, version: version + 1 }, forger);
    await rejected(version + 1, 'bad_signature');
    await publishDoc(
      h.controller,
      h.t,
      rx.id,
      { ...good, version: version + 2 },
      generateSigningKey('rogue'),
    );
    await rejected(version + 2, 'unknown_key');
    const topic = h.t.receiverSchedule(rx.id);
    const sealed = JSON.parse(seal(h.key, topic, { ...good, version: version + 3 })) as { body: string };
    const tampered = JSON.stringify({
      ...JSON.parse(seal(h.key, topic, good)),
      body: sealed.body.replace(/"version":\d+/, `"version":${version + 4}`),
    });
    await publishDoc(h.controller, h.t, rx.id, tampered);
    await rejected(version + 4, 'bad_signature');
    await publishDoc(
      h.controller,
      h.t,
      rx.id,
      { ...good, receiverId: 'someone-else', version: version + 5 },
      h.key,
    );
    await rejected(version + 5, 'wrong_topic');
    await publishDoc(h.controller, h.t, rx.id, JSON.stringify({ ...good, version: version + 6 }));
    await rejected(version + 6, 'unsigned');
    // signed, but not a document: the receiver says which version it could not use
    await publishDoc(h.controller, h.t, rx.id, { ...good, version: version + 7, prefetchMs: -1 }, h.key);
    await rejected(version + 7, 'invalid');

    expect(rx.schedule?.version).toBe(version);
    expect(isoAt(Date.parse(rx.schedule?.issuedAt ?? ''))).toBe(good.issuedAt);
    // the same version again (as after a reconnection): acknowledged again, nothing changes
    await publishDoc(h.controller, h.t, rx.id, good, h.key);
    await waitUntil(
      () =>
        rx.airings.filter((r) => r.kind === 'schedule' && r.state === 'applied' && r.version === version)
          .length === 2,
    );
  });

  for (const resume of ['where_stopped', 'item_start'] as const) {
    it(`an emergency bulletin preempts the airing, which resumes (${resume})`, async () => {
      const rx = await receiver();
      const a = h.audio.add(wav(800, 200), 40_000);
      const b = h.audio.add(wav(820, 200), 10_000);
      const alert = h.audio.add(wav(900, 200), 8_000);
      const at = rig.clock.now() + 20_000;
      const air = airing(at, [audioItem(a), audioItem(b)], { resume, graceMs: 120_000 });
      const version = h.nextSeq();
      await publishDoc(
        h.controller,
        h.t,
        rx.id,
        scheduleDoc(rx.id, version, rig.clock.now(), [air], [a, b]),
        h.key,
      );
      await rx.waitForAiring((r) => r.airingId === air.id && r.item === 0 && r.state === 'started', 5000);
      const cmd = h.play(alert, { priority: 'emergency' });
      await h.send(rx, cmd);
      await rx.waitForAiring(ended(air.id), 8000);
      expect(trail(rx, air.id)).toEqual([
        'ready',
        '0:started',
        '0:preempted',
        '0:started',
        '0:finished',
        '1:started',
        '1:finished',
        'ended',
      ]);
      const rs = of(rx, air.id);
      const pre = rs.find((r) => r.state === 'preempted');
      expect(pre?.by).toBe(cmd.id);
      const resumed = rs.filter((r) => r.item === 0 && r.state === 'started')[1];
      expect(resumed?.resumed).toBe(true);
      expect(resumed?.offsetMs).toBe(resume === 'where_stopped' ? pre?.offsetMs : 0);
      expect(rx.events.filter((e) => e.commandId === cmd.id).map((e) => e.state)).toContain('finished');
      expect(rs.at(-1)?.outcome).toBe('aired');
    });
  }
});

/** Polls a local condition that a network round trip makes true; bounded. */
async function waitUntil(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
