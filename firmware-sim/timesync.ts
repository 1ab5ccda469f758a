/**
 * The receiver's half of the time exchange (docs/protocol.md §14), as a firmware should do it.
 *
 * While online, it runs bursts: a request every `spacingMs` (real time) on `rx/<id>/time`, each
 * with a fresh nonce and t1 from the own clock, until the estimate is tight enough
 * (`targetBoundMs`, after at least `minSamples` answers) or `maxSamples` were sent. Each answer
 * on `rx/<id>/clock` is taken only when it verifies (signature by a trusted key over the arrival
 * topic, schema, a nonce it is waiting for, t1 echoed exactly, within `replyTimeoutMs`, possible
 * timestamps); everything else is ignored and counted. A reply ignored for its t1 or its timestamps
 * leaves its request open: the controller's own answer may still follow. The samples feed the estimator (./timesync-estimate.ts).
 * A burst runs at each (re)connection and then every `resyncMs` of the true clock.
 */
import type { KeyObject } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { PROTOCOL_VERSION, type Topics } from '../src/contract/mqtt.js';
import { type TimeReply, type TimeRequest, timeReplySchema } from '../src/contract/schedule.js';
import { open } from '../src/contract/signing.js';
import type { SimBreak } from './breaks.js';
import {
  type EstimatorOptions,
  OffsetEstimator,
  rawSample,
  sampleOf,
  type TimeSample,
} from './timesync-estimate.js';

export interface ClockSyncOptions extends Partial<EstimatorOptions> {
  /** answers a burst needs at least (default 8) */
  minSamples?: number | undefined;
  /** requests a burst sends at most (default 48; the controller answers 48 at once, then 2 a second) */
  maxSamples?: number | undefined;
  /** a burst stops early once the error bound is this small (default 10 ms) */
  targetBoundMs?: number | undefined;
  /** real ms between two requests of a burst (default 100) */
  spacingMs?: number | undefined;
  /** real ms an answer may take; later ones are ignored (default 2000) */
  replyTimeoutMs?: number | undefined;
  /** true-clock ms between bursts while online (default 10 min) */
  resyncMs?: number | undefined;
  /** real ms before a burst that got too few answers is tried again (default 5 s) */
  retryMs?: number | undefined;
  /**
   * after a burst whose bound is still above this (a congested link, a busy device), another burst
   * follows soon instead of at the next re-sync (default 20 ms)
   */
  followUpBoundMs?: number | undefined;
  /** real ms before such a follow-up (default 5 s: the controller's rate limit refills meanwhile) */
  followUpMs?: number | undefined;
  /** follow-ups per connection at most (default 3) */
  maxFollowUps?: number | undefined;
}

/** What `receiver.sync` shows. */
export interface SyncState {
  /** a burst succeeded: controllerNow() uses the estimate */
  synced: boolean;
  /** controller time − own time now (0 before the first sync) */
  offsetMs: number;
  /** |error| of offsetMs is at most this now (Infinity before the first sync) */
  errorBoundMs: number;
  /** own clock rate against the controller, ppm (positive: fast); null until fitted */
  driftPpm: number | null;
  /** round-trip delay of the last accepted answer */
  lastDelayMs: number | null;
  /** exchanges in the estimator's window */
  samples: number;
  /** successful bursts */
  bursts: number;
  /** answers ignored: bad signature or unknown key or wrong topic, unsolicited nonce, late, malformed */
  ignored: { forged: number; unsolicited: number; late: number; invalid: number };
}

interface Burst {
  sent: number;
  answered: number;
  sending: boolean;
  /** nonce → t1 */
  pending: Map<string, number>;
}

export class ClockSync {
  readonly #o: Required<Omit<ClockSyncOptions, keyof EstimatorOptions>>;
  readonly #est: OffsetEstimator;
  #burst: Burst | null = null;
  #timer: NodeJS.Timeout | undefined;
  #finishTimer: NodeJS.Timeout | undefined;
  /** nonces of bursts that ended (→ their t1): an answer to one is late, not unsolicited */
  #expired = new Map<string, number>();
  #synced = false;
  #bursts = 0;
  /** follow-up bursts since the connection began */
  #followUps = 0;
  #lastDelay: number | null = null;
  readonly #ignored = { forged: 0, unsolicited: 0, late: 0, invalid: 0 };

  constructor(
    private readonly deps: {
      receiverId: string;
      topics: Topics;
      /** the own clock, epoch ms */
      now: () => number;
      trusted: () => ReadonlyMap<string, KeyObject>;
      /** publishes a request (QoS 0); the link's delay applies */
      send: (topic: string, payload: string) => void;
      /** real ms a span of true-clock ms takes */
      realMs: (ms: number) => number;
      onSynced: (state: SyncState) => void;
      /** deliberate protocol violations (./breaks.ts); empty normally */
      breaks: ReadonlySet<SimBreak>;
      log: Logger;
    },
    opts: ClockSyncOptions = {},
  ) {
    this.#o = {
      minSamples: opts.minSamples ?? 8,
      maxSamples: opts.maxSamples ?? 48,
      targetBoundMs: opts.targetBoundMs ?? 10,
      spacingMs: opts.spacingMs ?? 100,
      replyTimeoutMs: opts.replyTimeoutMs ?? 2000,
      resyncMs: opts.resyncMs ?? 600_000,
      retryMs: opts.retryMs ?? 5000,
      followUpBoundMs: opts.followUpBoundMs ?? 20,
      followUpMs: opts.followUpMs ?? 5000,
      maxFollowUps: opts.maxFollowUps ?? 3,
    };
    this.#est = new OffsetEstimator(opts);
  }

  get clockTopic(): string {
    return this.deps.topics.receiverClock(this.deps.receiverId);
  }

  get samples(): readonly TimeSample[] {
    return this.#est.samples;
  }

  get state(): SyncState {
    const own = this.deps.now();
    return {
      synced: this.#synced,
      offsetMs: this.#synced ? this.#est.offsetAt(own) : 0,
      errorBoundMs: this.#synced ? this.#est.boundAt(own) : Number.POSITIVE_INFINITY,
      driftPpm: this.#est.driftPpm,
      lastDelayMs: this.#lastDelay,
      samples: this.#est.samples.length,
      bursts: this.#bursts,
      ignored: { ...this.#ignored },
    };
  }

  /** The controller's time scale for own instant `own`: own itself until the first sync. */
  controllerNow(own: number): number {
    return this.#synced ? own + this.#est.offsetAt(own) : own;
  }

  /** Online: a burst now (a reconnection always re-syncs). */
  start(): void {
    if (this.deps.breaks.has('no-time-sync')) return;
    this.pause();
    this.#followUps = 0;
    this.#begin();
  }

  /** Offline or stopped: no burst, no timer; answers still on the way are late. */
  pause(): void {
    clearTimeout(this.#timer);
    clearTimeout(this.#finishTimer);
    this.#timer = undefined;
    this.#finishTimer = undefined;
    if (this.#burst) this.#retire(this.#burst);
    this.#burst = null;
  }

  /** An answer on the clock topic; `t4` is the own clock read on its arrival, before anything else. */
  handleReply(payload: Buffer, t4: number): void {
    let opened = open(this.deps.trusted(), this.clockTopic, timeReplySchema, payload);
    if (!opened.ok && this.deps.breaks.has('accept-forged-clock'))
      opened = unverifiedReply(payload) ?? opened;
    if (!opened.ok) {
      if (opened.reason === 'malformed' || opened.reason === 'invalid') this.#ignored.invalid++;
      else this.#ignored.forged++;
      this.deps.log.debug({ reason: opened.reason, error: opened.error }, 'sim: time answer ignored');
      return;
    }
    const reply = opened.value;
    const burst = this.#burst;
    const br = this.deps.breaks;
    let t1 = burst?.pending.get(reply.id);
    /** the nonce is a request of the running burst, not answered yet (§14.2 step 3) */
    const waiting = burst !== null && t1 !== undefined;
    // Deliberate violations (./breaks.ts): a nonce that is not open taken all the same.
    if (t1 === undefined && br.has('time-accept-late')) t1 = this.#expired.get(reply.id);
    if (t1 === undefined && br.has('time-any-nonce')) t1 = reply.t1;
    if (t1 === undefined) {
      if (this.#expired.has(reply.id)) this.#ignored.late++;
      else this.#ignored.unsolicited++;
      return;
    }
    if (reply.t1 !== t1 && !br.has('time-ignore-t1')) {
      // genuinely signed, for our nonce, but not our t1: never trust its timestamps (step 4)
      this.#ignored.invalid++;
      this.#refused(burst, reply.id);
      return;
    }
    if (this.deps.realMs(t4 - t1) > this.#o.replyTimeoutMs && !br.has('time-accept-late')) {
      // past its deadline (step 5): the request is closed, nothing later can be in time
      this.#ignored.late++;
      if (waiting) {
        burst.pending.delete(reply.id);
        this.#maybeFinish(burst);
      }
      return;
    }
    const sample =
      sampleOf(t1, reply.t2, reply.t3, t4) ??
      (br.has('time-impossible-timestamps') && reply.t3 < reply.t2
        ? rawSample(t1, reply.t2, reply.t3, t4)
        : null);
    if (!sample) {
      // impossible timestamps (step 6)
      this.#ignored.invalid++;
      this.#refused(burst, reply.id);
      return;
    }
    if (waiting) {
      burst.pending.delete(reply.id);
      burst.answered++;
    }
    this.#lastDelay = sample.delayMs;
    this.#est.add(sample);
    if (burst) this.#maybeFinish(burst);
  }

  /**
   * A reply with our nonce ignored for what it says (its t1, its timestamps): the request stays
   * open, so the controller's own answer that follows is still taken (§14.2).
   */
  #refused(burst: Burst | null, id: string): void {
    if (!burst || !this.deps.breaks.has('time-refused-uses-nonce')) return;
    if (burst.pending.delete(id)) this.#maybeFinish(burst);
  }

  #begin(): void {
    const burst: Burst = { sent: 0, answered: 0, sending: true, pending: new Map() };
    this.#burst = burst;
    this.#sendNext(burst);
  }

  #sendNext(burst: Burst): void {
    if (this.#burst !== burst) return;
    const bound = this.#est.current?.boundMs ?? Number.POSITIVE_INFINITY;
    const enough = burst.answered >= this.#o.minSamples && bound <= this.#o.targetBoundMs;
    if (enough || burst.sent >= this.#o.maxSamples) {
      burst.sending = false;
      // Bounded: the answers still awaited have replyTimeoutMs to come.
      this.#finishTimer = setTimeout(() => this.#finish(burst), this.#o.replyTimeoutMs);
      this.#maybeFinish(burst);
      return;
    }
    const id = randomBytes(8).toString('hex');
    const t1 = this.deps.now();
    burst.pending.set(id, t1);
    burst.sent++;
    const req: TimeRequest = { v: PROTOCOL_VERSION, id, t1 };
    this.deps.send(this.deps.topics.receiverTime(this.deps.receiverId), JSON.stringify(req));
    this.#timer = setTimeout(() => this.#sendNext(burst), this.#o.spacingMs);
  }

  #maybeFinish(burst: Burst): void {
    if (!burst.sending && burst.pending.size === 0) this.#finish(burst);
  }

  #finish(burst: Burst): void {
    if (this.#burst !== burst) return;
    clearTimeout(this.#finishTimer);
    clearTimeout(this.#timer);
    this.#burst = null;
    this.#retire(burst);
    // Fewer answers than asked for (a rate limit, a lossy link) still make an estimate if a few came.
    if (burst.answered >= Math.min(3, this.#o.minSamples) && this.#est.current) {
      this.#est.endBurst();
      this.#bursts++;
      this.#synced = true;
      const state = this.state;
      this.deps.log.debug({ ...state, sent: burst.sent, answered: burst.answered }, 'sim: clock synced');
      const loose = state.errorBoundMs > this.#o.followUpBoundMs && this.#followUps < this.#o.maxFollowUps;
      if (loose) this.#followUps++;
      this.#timer = setTimeout(
        () => this.#begin(),
        loose ? this.#o.followUpMs : this.deps.realMs(this.#o.resyncMs),
      );
      this.deps.onSynced(state);
    } else {
      this.deps.log.info(
        { sent: burst.sent, answered: burst.answered },
        'sim: time exchange got too few answers',
      );
      this.#timer = setTimeout(() => this.#begin(), this.#o.retryMs);
    }
  }

  /** Nonces of an ended burst stay known (as late) until the next burst ends. */
  #retire(burst: Burst): void {
    if (this.#expired.size > 4 * this.#o.maxSamples) this.#expired = new Map();
    for (const [id, t1] of burst.pending) this.#expired.set(id, t1);
    burst.pending.clear();
  }
}

/** A reply taken without its signature checked (the `accept-forged-clock` break). */
function unverifiedReply(payload: Buffer): { ok: true; value: TimeReply; kid: string } | null {
  try {
    const outer = JSON.parse(payload.toString('utf8')) as { body?: unknown };
    const body = typeof outer.body === 'string' ? JSON.parse(outer.body) : outer;
    const reply = timeReplySchema.safeParse(body);
    return reply.success ? { ok: true, value: reply.data, kid: 'unverified' } : null;
  } catch {
    return null;
  }
}
