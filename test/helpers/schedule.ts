/**
 * Schedule test helpers: documents and airings as the controller would sign them, a "radio
 * station" HTTP server with a live stream and a dead one, and the publishing of retained,
 * sealed documents on a receiver's schedule topic.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { MqttClient } from 'mqtt';
import { expect } from 'vitest';
import type { SimReceiver } from '../../firmware-sim/receiver.js';
import type { AiringRecord } from '../../firmware-sim/schedule/reports.js';
import type { Topics } from '../../src/contract/mqtt.js';
import type { ScheduleDoc, ScheduledAiring, ScheduleItem } from '../../src/contract/schedule.js';
import { type SigningKey, seal } from '../../src/contract/signing.js';
import { type Clock, scaledClock } from '../../src/time/clock.js';
import type { AudioFile, SimHarness } from './sim-harness.js';

export const isoAt = (ms: number): string => new Date(ms).toISOString();

export function airing(
  at: number,
  items: ScheduleItem[],
  over: Partial<ScheduledAiring> = {},
): ScheduledAiring {
  return {
    id: randomUUID(),
    programId: randomUUID(),
    title: 'Bản tin sáng',
    at: isoAt(at),
    priority: 'normal',
    items,
    graceMs: 60_000,
    late: 'join',
    resume: 'where_stopped',
    ...over,
  };
}

export const audioItem = (f: AudioFile): ScheduleItem => ({
  kind: 'audio',
  sha256: f.audio.sha256,
  durationMs: f.audio.durationMs,
});

export function scheduleDoc(
  receiverId: string,
  version: number,
  now: number,
  airings: ScheduledAiring[],
  assets: AudioFile[],
  over: Partial<ScheduleDoc> = {},
): ScheduleDoc {
  return {
    v: 1,
    type: 'schedule',
    receiverId,
    version,
    issuedAt: isoAt(now),
    from: isoAt(now - 3600_000),
    until: isoAt(now + 48 * 3600_000),
    assets: assets.map((f) => f.audio),
    airings,
    quiet: [],
    prefetchMs: 60 * 60_000,
    ...over,
  };
}

/** Publishes `doc` sealed for receiver `id`'s schedule topic, retained, QoS 1 (or raw `payload`). */
export async function publishDoc(
  client: MqttClient,
  t: Topics,
  id: string,
  doc: ScheduleDoc | string,
  key?: SigningKey,
): Promise<void> {
  const topic = t.receiverSchedule(id);
  const payload = typeof doc === 'string' ? doc : seal(key as SigningKey, topic, doc);
  await client.publishAsync(topic, payload, { qos: 1, retain: true });
}

/**
 * A radio station: `/live` streams bytes until the listener hangs up; `/slow?ms=N` does the same
 * but answers only after N real ms; anything else answers 503.
 */
export class StreamServer {
  #server: Server | null = null;
  base = '';
  /** listeners connected to /live now */
  listeners = 0;
  /** bytes sent on /live in all */
  sent = 0;

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/slow') {
        const ms = Math.min(5000, Number(url.searchParams.get('ms')) || 0);
        const wait = setTimeout(() => this.#live(res), ms);
        res.on('close', () => clearTimeout(wait));
        return;
      }
      if (url.pathname !== '/live') {
        res.writeHead(503).end('off air');
        return;
      }
      this.#live(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    if (!addr || typeof addr === 'string') throw new Error('no port');
    this.base = `http://127.0.0.1:${addr.port}`;
    this.#server = server;
  }

  /** Streams to `res` until the listener hangs up. */
  #live(res: ServerResponse): void {
    if (res.destroyed) return;
    this.listeners++;
    res.writeHead(200, { 'content-type': 'audio/mpeg' });
    const chunk = Buffer.alloc(512, 0xaa);
    const timer = setInterval(() => {
      this.sent += chunk.length;
      res.write(chunk);
    }, 5);
    res.on('close', () => {
      clearInterval(timer);
      this.listeners--;
    });
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A loopback URL where nothing listens (connection refused): a port just freed. */
export async function refusedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!addr || typeof addr === 'string') throw new Error('no port');
  return `http://127.0.0.1:${addr.port}/stream`;
}

/**
 * A timer on a loaded machine (test files in parallel, other processes) may fire some 50 real ms
 * late: × 100 on a 100× clock. The schedule tests check where things sit on the timeline (slots
 * that differ by 10 s or more); start accuracy itself is the benchmark's, at real speed.
 */
export const JITTER_MS = 5000;

/** What `rx` reported about one airing, in order. */
export const reportsOf = (rx: SimReceiver, airingId: string): AiringRecord[] =>
  rx.airings.filter((r) => r.airingId === airingId);
/** The airing's reports as `item:state` (or `state` for the airing as a whole). */
export const trail = (rx: SimReceiver, airingId: string): string[] =>
  reportsOf(rx, airingId).map((r) => (r.item === undefined ? r.state : `${r.item}:${r.state}`));
export const ended = (airingId: string) => (r: AiringRecord) =>
  r.airingId === airingId && r.state === 'ended';
/** The first report of `state` for item `item` (undefined: the airing as a whole). */
export const report = (rx: SimReceiver, airingId: string, item: number | undefined, state: string) =>
  reportsOf(rx, airingId).find((r) => r.item === item && r.state === state);
/** Asserts a report happened at `instant` on the true clock, within the timers' jitter. */
export function near(r: AiringRecord | undefined, instant: number, slack = JITTER_MS): void {
  expect(r, 'report present').toBeDefined();
  expect(Math.abs(Date.parse(r?.at ?? '') - instant)).toBeLessThan(slack);
}

/**
 * Receivers of `harness()` on a fresh clock `factor` times faster than real time, and the steps
 * every schedule test takes with them: hand a receiver a new document version and wait until it is
 * applied, and wait for an item to start.
 */
export function scheduleRig(harness: () => SimHarness, factor: number) {
  let clock: Clock = scaledClock(factor);
  const rig = {
    /** the clock of the receiver made last */
    get clock(): Clock {
      return clock;
    },
    receiver(over: Parameters<SimHarness['receiver']>[0] = {}) {
      clock = scaledClock(factor);
      return harness().receiver({ clock, ...over });
    },
    applied: (rx: SimReceiver, version: number) =>
      rx.waitForAiring((r) => r.kind === 'schedule' && r.state === 'applied' && r.version === version),
    /** Publishes a new version of `rx`'s document and waits until it is applied; returns the version. */
    async hold(
      rx: SimReceiver,
      airings: ScheduledAiring[],
      assets: AudioFile[],
      over: Partial<ScheduleDoc> = {},
    ): Promise<number> {
      const h = harness();
      const version = h.nextSeq();
      await publishDoc(
        h.controller,
        h.t,
        rx.id,
        scheduleDoc(rx.id, version, clock.now(), airings, assets, over),
        h.key,
      );
      await rig.applied(rx, version);
      return version;
    },
    started: (rx: SimReceiver, airingId: string, item = 0) =>
      rx.waitForAiring((r) => r.airingId === airingId && r.item === item && r.state === 'started', 5000),
  };
  return rig;
}
