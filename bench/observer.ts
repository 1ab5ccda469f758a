/**
 * The bench's own MQTT client, in the parent process: it sends the floor's pings and counts the
 * pongs, and it watches every receiver event (`<root>/rx/+/event`) to see when all N receivers
 * reported `started` and `finished` for a bulletin. Times are taken when a message arrives, so events
 * that come before the POST /api/bulletins response (which is what tells the bulletin id) count at
 * their arrival time: they are kept by bulletin id and matched afterwards.
 */
import { performance } from 'node:perf_hooks';
import { connectAsync, type MqttClient } from 'mqtt';
import { eventSchema, parseReceiverTopic, topics } from '../src/contract/mqtt.js';
import { rawClientOptions } from './ipc.js';

export const PING_TOPIC = 'bench/ping';
export const PONG_PREFIX = 'bench/pong/';

const eventFields = eventSchema.pick({ bulletinId: true, state: true, ts: true });

interface Tally {
  started: Set<string>;
  finished: Set<string>;
  /** performance.now() when the last expected receiver reported it */
  allStarted: number | null;
  allFinished: number | null;
  /** receivers' own clocks (epoch ms) on their `started` events: earliest and latest */
  stamps: Stamps;
}

/** Earliest and latest of some epoch-ms timestamps. */
export interface Stamps {
  first: number;
  last: number;
}
const noStamps = (): Stamps => ({ first: Number.POSITIVE_INFINITY, last: Number.NEGATIVE_INFINITY });
const stamp = (s: Stamps, ms: number) => {
  if (ms < s.first) s.first = ms;
  if (ms > s.last) s.last = ms;
};

/** A measured round trip: ms until all answered, and when (ms after the start) the first and last answered. */
export interface RoundTrip {
  ms: number;
  firstAnswerMs: number;
  lastAnswerMs: number;
}

export class Observer {
  readonly #client: MqttClient;
  readonly #root = topics().root;
  #expected = 0;
  #tallies = new Map<string, Tally>();
  #pongRound = '';
  #pongs = new Set<string>();
  #pongStamps = noStamps();
  #allPonged: number | null = null;
  readonly #listeners = new Set<() => void>();
  /** events that failed to parse (none expected) */
  malformed = 0;

  private constructor(client: MqttClient) {
    this.#client = client;
    client.on('message', (topic, payload) => this.#onMessage(topic, payload));
    client.on('error', (err) => console.error(`bench observer: ${err.message}`));
  }

  /**
   * Connects; subscribes to the floor's replies, and to receiver events only when `events` (the
   * direct reference needs them; loalang rounds read the controller's progress stream instead).
   */
  static async connect(
    url: string,
    auth: { username: string; password: string } | null,
    events = false,
  ): Promise<Observer> {
    const client = await connectAsync(url, rawClientOptions(`bench-observer-${process.pid}`, auth), false);
    const observer = new Observer(client);
    const t = topics();
    const filters = events ? [`${PONG_PREFIX}+`, t.eventWildcard()] : [`${PONG_PREFIX}+`];
    const granted = await client.subscribeAsync(filters, { qos: 1 });
    if (granted.some((g) => g.qos !== 1))
      throw new Error('bench observer: subscriptions not granted at QoS 1');
    return observer;
  }

  /** How many distinct receivers (or floor clients) make "all". */
  expect(n: number): void {
    this.#expected = n;
  }

  /** Forgets the events of earlier bulletins. */
  clearEvents(): void {
    this.#tallies = new Map();
  }

  /** One floor round: a QoS 1 ping to every floor client, until all their QoS 1 pongs arrived. */
  async ping(round: number, timeoutMs: number): Promise<RoundTrip> {
    this.#pongRound = `round-${round}`;
    this.#pongs = new Set();
    this.#pongStamps = noStamps();
    this.#allPonged = null;
    const t0 = performance.now();
    await this.#client.publishAsync(PING_TOPIC, this.#pongRound, { qos: 1 });
    const t1 = await this.#until(
      () => this.#allPonged,
      timeoutMs,
      () => `${this.#pongs.size} pongs`,
    );
    const epoch0 = performance.timeOrigin + t0;
    return {
      ms: t1 - t0,
      firstAnswerMs: this.#pongStamps.first - epoch0,
      lastAnswerMs: this.#pongStamps.last - epoch0,
    };
  }

  /** Publishes at QoS 1 (the `--direct` rounds' command). */
  async publish(topic: string, payload: string): Promise<void> {
    await this.#client.publishAsync(topic, payload, { qos: 1 });
  }

  /** The receivers' own timestamps on their `started` events for a bulletin (epoch ms). */
  startedStamps(bulletinId: string): Stamps | null {
    return this.#tallies.get(bulletinId)?.stamps ?? null;
  }

  /** Resolves with the performance.now() at which all expected receivers reported `state` for the bulletin. */
  allReported(bulletinId: string, state: 'started' | 'finished', timeoutMs: number): Promise<number> {
    return this.#until(
      () => {
        const t = this.#tallies.get(bulletinId);
        return (state === 'started' ? t?.allStarted : t?.allFinished) ?? null;
      },
      timeoutMs,
      () => `${this.#tallies.get(bulletinId)?.[state].size ?? 0} receivers reported ${state}`,
    );
  }

  async close(): Promise<void> {
    await Promise.race([this.#client.endAsync(), new Promise((r) => setTimeout(r, 3000))]);
    this.#client.end(true);
  }

  #onMessage(topic: string, payload: Buffer): void {
    const now = performance.now();
    if (topic.startsWith(PONG_PREFIX)) {
      const [round, at] = payload.toString('utf8').split(' ');
      if (round !== this.#pongRound) return;
      stamp(this.#pongStamps, Number(at));
      this.#pongs.add(topic.slice(PONG_PREFIX.length));
      if (this.#allPonged === null && this.#pongs.size >= this.#expected) this.#allPonged = now;
    } else {
      const rx = parseReceiverTopic(this.#root, topic);
      if (rx?.leaf !== 'event') return;
      let parsed: ReturnType<typeof eventFields.safeParse>;
      try {
        parsed = eventFields.safeParse(JSON.parse(payload.toString('utf8')));
      } catch {
        this.malformed += 1;
        return;
      }
      if (!parsed.success) {
        this.malformed += 1;
        return;
      }
      const { bulletinId, state, ts } = parsed.data;
      if (!bulletinId || (state !== 'started' && state !== 'finished')) return;
      let t = this.#tallies.get(bulletinId);
      if (!t) {
        t = {
          started: new Set(),
          finished: new Set(),
          allStarted: null,
          allFinished: null,
          stamps: noStamps(),
        };
        this.#tallies.set(bulletinId, t);
      }
      t[state].add(rx.receiverId);
      if (state === 'started') stamp(t.stamps, Date.parse(ts));
      if (state === 'started' && t.allStarted === null && t.started.size >= this.#expected)
        t.allStarted = now;
      if (state === 'finished' && t.allFinished === null && t.finished.size >= this.#expected)
        t.allFinished = now;
    }
    for (const listener of this.#listeners) listener();
  }

  /** Resolves with probe()'s value once it is not null (checked on every message); bounded. */
  #until(probe: () => number | null, timeoutMs: number, progress: () => string): Promise<number> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const v = probe();
        if (v === null) return;
        done();
        resolve(v);
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `bench observer: not complete within ${timeoutMs} ms (${progress()} of ${this.#expected})`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#listeners.delete(check);
      };
      this.#listeners.add(check);
      check();
    });
  }
}
