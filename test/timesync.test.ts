/**
 * The time exchange (docs/protocol.md §12) end to end: a real controller on its embedded broker,
 * simulated receivers over TCP with wrong, drifting clocks and slow asymmetric links.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { AedesPublishPacket } from 'aedes';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prng, uniform } from '../bench/random.js';
import { type OneWayDelays, SimReceiver, type SyncState } from '../firmware-sim/index.js';
import { OffsetEstimator, sampleOf } from '../firmware-sim/timesync-estimate.js';
import { topics } from '../src/contract/mqtt.js';
import { timeReplySchema } from '../src/contract/schedule.js';
import { open, seal } from '../src/contract/signing.js';
import { scaledClock } from '../src/time/clock.js';
import { startTestController, type TestController } from './helpers/controller.js';
import { waitFor } from './helpers/wait.js';

const t = topics();
/** One true time scale for the controller and the simulated hardware, with sub-ms precision. */
const clock = scaledClock(1);

let tc: TestController;
const started: SimReceiver[] = [];

function synced(rx: SimReceiver, timeoutMs = 15_000): Promise<SyncState> {
  if (rx.sync.synced) return Promise.resolve(rx.sync);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${rx.id}: not synced in ${timeoutMs} ms`)), timeoutMs);
    rx.once('synced', (s) => {
      clearTimeout(timer);
      resolve(s);
    });
  });
}

async function receiver(
  id: string,
  extra: { clockOffsetMs?: number; driftPpm?: number; delay?: OneWayDelays } = {},
): Promise<SimReceiver> {
  await tc.register(id, 'z1');
  const rx = new SimReceiver({ ...tc.sim(id), clock, timeSync: true, configGraceMs: 50, ...extra });
  started.push(rx);
  await rx.start();
  return rx;
}

/** A raw MQTT client logged in as receiver `id`, subscribed to its clock topic. */
async function rawReceiver(id: string) {
  await tc.register(id, 'z1');
  const o = tc.sim(id);
  const client = await mqtt.connectAsync(o.brokerUrl, {
    clientId: id,
    username: o.username,
    password: o.password,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  const replies: string[] = [];
  client.on('message', (_topic, payload) => replies.push(payload.toString()));
  await client.subscribeAsync(t.receiverClock(id), { qos: 0 });
  return { client, replies };
}

/** Subscribes in process to `topic` on the embedded broker; returns the unsubscribe. */
function tap(topic: string, fn: (payload: Buffer) => void): () => void {
  const aedes = tc.controller.broker!.aedes;
  const deliver = (packet: AedesPublishPacket, done: () => void) => {
    fn(Buffer.from(packet.payload));
    done();
  };
  aedes.subscribe(topic, deliver, () => {});
  return () => aedes.unsubscribe(topic, deliver, () => {});
}

function inject(topic: string, payload: string): void {
  tc.controller.broker!.aedes.publish(
    { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: false, dup: false },
    () => {},
  );
}

beforeAll(async () => {
  tc = await startTestController({}, { clock });
  const res = await tc.api('POST', '/api/zones', { id: 'z1', name: 'Thôn 1' });
  expect(res.status).toBe(201);
});

afterAll(async () => {
  await Promise.all(started.map((rx) => rx.stop()));
  await tc?.stop();
});

describe('time exchange', () => {
  it('brings receivers with ±2 s offsets, ±50 ppm drift and 5–200 ms asymmetric delays within their bound', async () => {
    const rnd = prng(8);
    const rxs = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        receiver(`ts-${i}`, {
          clockOffsetMs: (rnd() * 2 - 1) * 2000,
          driftPpm: (rnd() * 2 - 1) * 50,
          delay: { upMs: uniform(rnd, 5, 200), downMs: uniform(rnd, 5, 200) },
        }),
      ),
    );
    await Promise.all(rxs.map((rx) => synced(rx)));
    // A burst on a loaded machine may leave a wide bound; the receiver then follows up (5 s later,
    // three times at most) until it is within 20 ms.
    await waitFor(
      'every bound within 50 ms',
      async () => rxs.every((rx) => rx.sync.errorBoundMs <= 50),
      25_000,
    );
    const states = rxs.map((rx) => rx.sync);
    const errors: number[] = [];
    for (const [i, rx] of rxs.entries()) {
      // read together, in one tick: the estimate and the truth
      const err = Math.abs(rx.controllerNow() - clock.now());
      const bound = rx.sync.errorBoundMs;
      errors.push(err);
      // Before the sync the receiver was up to 2 s off; the interval bound is a proof, not a hope.
      expect(err, `${rx.id} error`).toBeLessThanOrEqual(bound + 0.5);
      expect(bound, `${rx.id} bound`).toBeLessThanOrEqual(50);
      expect(states[i]!.samples).toBeGreaterThanOrEqual(8);
    }
    errors.sort((a, b) => a - b);
    // Informative: the distribution of this run (see the report in the final commit message).
    console.info(
      `time sync |error| ms over ${errors.length}: median ${errors[errors.length >> 1]!.toFixed(2)}, max ${errors.at(-1)!.toFixed(2)}`,
    );
    // Measured over 8 runs of 12 receivers: median 1.5–4.2 ms, max 8–16 ms (always within the bound).
    expect(errors.at(-1)!).toBeLessThanOrEqual(25);
  }, 60_000);

  it('ignores forged answers, answers replayed from another receiver, and stale replays', async () => {
    const a = await receiver('ts-a', { clockOffsetMs: 1500 });
    await synced(a);
    const b = await receiver('ts-b', { clockOffsetMs: -700 });
    await synced(b);
    const forger = { kid: 'forged', ...generateKeyPairSync('ed25519') };
    const current = (await tc.api<{ kid: string }>('GET', '/api/system/signing-key')).body.kid;
    const sameKid = { ...generateKeyPairSync('ed25519'), kid: current };
    let forgedSent = 0;
    let replayedSent = 0;
    // For every request of a, a forged answer an hour off (by an unknown key, and by a key
    // claiming the controller's kid), and every genuine answer to b copied onto a's topic.
    const stopA = tap(t.receiverTime('ts-a'), (p) => {
      const req = JSON.parse(p.toString()) as { id: string; t1: number };
      const body = { v: 1, type: 'time', id: req.id, t1: req.t1, t2: req.t1 + 3.6e6, t3: req.t1 + 3.6e6 };
      inject(t.receiverClock('ts-a'), seal(forger, t.receiverClock('ts-a'), body));
      inject(t.receiverClock('ts-a'), seal(sameKid, t.receiverClock('ts-a'), body));
      forgedSent += 2;
    });
    const stopB = tap(t.receiverClock('ts-b'), (p) => {
      inject(t.receiverClock('ts-a'), p.toString());
      replayedSent++;
    });
    // a genuine answer to a, kept to be replayed after its burst
    let kept: string | null = null;
    const trusted = tc.sim('ts-a').trustedKeys;
    const stopKeep = tap(t.receiverClock('ts-a'), (p) => {
      if (!kept && open(trusted, t.receiverClock('ts-a'), timeReplySchema, p).ok) kept = p.toString();
    });
    try {
      const [sa] = await Promise.all([
        new Promise<SyncState>((r) => a.once('synced', r)),
        new Promise<SyncState>((r) => b.once('synced', r)),
        Promise.resolve().then(() => {
          // both re-sync now, at the same time
          a.resync();
          b.resync();
        }),
      ]);
      expect(forgedSent).toBeGreaterThan(0);
      expect(replayedSent).toBeGreaterThan(0);
      await waitFor('the forged and replayed answers counted', () => {
        const ig = a.sync.ignored;
        return ig.forged >= forgedSent + replayedSent && ig;
      });
      expect(Math.abs(a.controllerNow() - clock.now())).toBeLessThanOrEqual(a.sync.errorBoundMs + 0.5);
      expect(sa.errorBoundMs).toBeLessThan(20);
      // A genuine answer to a, replayed after its burst ended: its nonce is spent.
      expect(kept).not.toBeNull();
      const before = a.sync.ignored;
      const offset = a.sync.offsetMs;
      inject(t.receiverClock('ts-a'), kept!);
      await waitFor('the replay counted', () => {
        const ig = a.sync.ignored;
        return ig.late + ig.unsolicited > before.late + before.unsolicited;
      });
      expect(Math.abs(a.sync.offsetMs - offset)).toBeLessThan(1);
    } finally {
      stopA();
      stopB();
      stopKeep();
    }
  }, 30_000);

  it('drops bad requests without answering and without harm', async () => {
    const { client, replies } = await rawReceiver('ts-raw');
    try {
      const before = tc.controller.timeSync.stats();
      const bad = [
        'not json',
        '{}',
        '[]',
        JSON.stringify({ v: 1, id: 'short', t1: 1 }),
        JSON.stringify({ v: 1, id: 'abcdefgh', t1: -5 }),
        JSON.stringify({ v: 2, id: 'abcdefgh', t1: 5 }),
        JSON.stringify({ v: 1, id: 'abcdefgh', t1: 'soon' }),
        'x'.repeat(20_000),
      ];
      for (const p of bad) await client.publishAsync(t.receiverTime('ts-raw'), p, { qos: 0 });
      // a sentinel: once it is answered, everything before it has been dealt with
      const sentinel = { v: 1, id: 'sentinel-0001', t1: 1 };
      await client.publishAsync(t.receiverTime('ts-raw'), JSON.stringify(sentinel), { qos: 0 });
      await waitFor('the sentinel answered', () => replies.length >= 1);
      expect(replies).toHaveLength(1);
      expect(JSON.parse(JSON.parse(replies[0]!).body).id).toBe('sentinel-0001');
      const after = tc.controller.timeSync.stats();
      // the oversized one is refused by the broker's packet limit or by the decoder
      expect(after.invalid - before.invalid).toBeGreaterThanOrEqual(bad.length - 1);
      expect(after.answered - before.answered).toBe(1);
      expect((await tc.api('GET', '/api/health', undefined, null)).status).toBeLessThan(500);
    } finally {
      await client.endAsync();
    }
  });

  it('limits each receiver to a burst of 48 then 2 answers a second', async () => {
    const { client, replies } = await rawReceiver('ts-flood');
    try {
      const before = tc.controller.timeSync.stats();
      const t0 = performance.now();
      const n = 200;
      for (let i = 0; i < n; i++) {
        const req = { v: 1, id: `flood-${String(i).padStart(4, '0')}`, t1: i };
        client.publish(t.receiverTime('ts-flood'), JSON.stringify(req), { qos: 0 });
      }
      await waitFor('every request dealt with', () => {
        const s = tc.controller.timeSync.stats();
        return s.answered + s.limited - before.answered - before.limited >= n;
      });
      const elapsedS = (performance.now() - t0) / 1000;
      const s = tc.controller.timeSync.stats();
      const answered = s.answered - before.answered;
      expect(answered).toBeGreaterThanOrEqual(48);
      expect(answered).toBeLessThanOrEqual(48 + Math.ceil(elapsedS * 2) + 1);
      await waitFor('the answers received', () => replies.length >= answered);
      expect(replies).toHaveLength(answered);
    } finally {
      await client.endAsync();
    }
  });
});

describe('offset estimator', () => {
  it('fits a 50 ppm drift over 10-minute re-syncs and keeps the error small between them', () => {
    const rnd = prng(3);
    const est = new OffsetEstimator();
    const drift = 50e-6;
    const offset0 = 1234;
    let trueNow = 1.7e12;
    const own = (tr: number) => tr + offset0 + drift * (tr - 1.7e12);
    const errors: number[] = [];
    for (let burst = 0; burst < 8; burst++) {
      for (let i = 0; i < 24; i++) {
        const up = 5 + rnd() * 195;
        const down = 5 + rnd() * 195;
        const t1 = own(trueNow);
        const t2 = trueNow + up;
        const t3 = t2 + 0.05;
        const t4 = own(t3 + down);
        est.add(sampleOf(t1, t2, t3, t4)!);
        trueNow += 50;
      }
      est.endBurst();
      // just before the next re-sync, 10 min on: the drift is what the error is made of
      const later = trueNow + 600_000;
      errors.push(Math.abs(own(later) + est.offsetAt(own(later)) - later));
      trueNow = later;
    }
    expect(est.driftPpm).not.toBeNull();
    expect(Math.abs(est.driftPpm! - 50)).toBeLessThan(15);
    // without the fit, 10 min at 50 ppm is 30 ms; with it, a few ms
    expect(Math.max(...errors.slice(3))).toBeLessThan(12);
  });
});
