/**
 * The schedule a receiver holds and keeps by its own clock (docs/protocol.md §13): takes signed
 * documents, fetches each airing's audio ahead, starts each airing at its instant with no message
 * needed at that moment, joins late or skips per policy, and shares the loudspeaker with the
 * bulletin player by priority. Reports go through the AiringReporter.
 */
import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { AudioRef, Priority, StopCommand } from '../../src/contract/mqtt.js';
import {
  type AiringReason,
  LATE_TOLERANCE_MS,
  type ScheduleAsset,
  type ScheduleDoc,
} from '../../src/contract/schedule.js';
import { at, type Clock, type Timer } from '../../src/time/clock.js';
import type { SimBreak } from '../breaks.js';
import type { AudioCache } from '../cache.js';
import type { DownloadResult } from '../download.js';
import { ScheduleMemory, verifyScheduleDoc } from './document.js';
import { Prefetcher } from './prefetch.js';
import { RELAY_LEAD_MS, RelayLine } from './relayline.js';
import type { AiringReporter } from './reports.js';
import { AiringRun, type RunHost } from './run.js';
import { arbitrate, type Holder, pickWaiting } from './speaker.js';
import { assetsOf, inQuiet, joinPoint, quietApplies, type Timeline, timelineOf } from './timeline.js';

/** The bulletin player, as the schedule sees it. */
export interface BulletinSide {
  /** the bulletin sounding now, if any */
  playing(): Holder | null;
  /** the bulletin sounding is preempted by airing `by` (the player reports it) */
  yieldTo(by: string): void;
  /** the schedule has let go of the loudspeaker: play the queue */
  resume(): void;
}

export interface EngineHost {
  id: string;
  /** this receiver's schedule topic: documents are verified against it */
  topic: string;
  trusted(): ReadonlyMap<string, KeyObject>;
  /** the controller's time scale as the receiver estimates it (controllerNow), for every instant */
  clock: Clock;
  cache: AudioCache;
  download(audio: AudioRef, signal: AbortSignal): Promise<DownloadResult>;
  reporter: AiringReporter;
  bulletins: BulletinSide;
  log: Logger;
  /** how long a relay may take to answer before its fallback plays (default 5 s, controller time) */
  relayConnectTimeoutMs?: number;
  /** how long ahead of its slot a relay connects (default RELAY_LEAD_MS, controller time) */
  relayLeadMs?: number;
  /** deliberate protocol violations (../breaks.ts), for the conformance kit's tests; empty normally */
  breaks?: ReadonlySet<SimBreak>;
  /** whether the link to the broker is up (only the `airing-needs-link` break asks) */
  linkUp?: () => boolean;
}

/** An airing due but waiting for the loudspeaker (never started), or an interrupted one. */
type Waiter = { priority: Priority; at: number; id: string } & (
  | { kind: 'due'; tl: Timeline }
  | { kind: 'paused'; run: AiringRun }
);

/** How long the ids of airings dealt with are kept after their window (replays of old documents). */
const HANDLED_KEEP_MS = 7 * 24 * 3600 * 1000;

export class ScheduleEngine {
  /** kept across stop()/start(), as a firmware keeps it in flash */
  readonly memory = new ScheduleMemory();
  #running = false;
  readonly #timers = new Map<string, Timer[]>();
  readonly #prefetch: Prefetcher;
  #onAir: AiringRun | null = null;
  #waiting: Waiter[] = [];
  /** airings due whose downloads are still running: begun when they settle */
  readonly #awaiting = new Map<string, 'on_time' | 'late'>();
  readonly #readySent = new Set<string>();
  /** airings whose prefetch has begun in this run of the engine */
  readonly #fetching = new Set<string>();
  /** while the engine itself picks what sounds: a run ending does not hand the speaker back */
  #deciding = false;
  readonly #runHost: RunHost;
  /** airings whose first item is a relay: its connection, opened ahead of the instant */
  readonly #lines = new Map<string, RelayLine>();
  readonly #breaks: ReadonlySet<SimBreak>;
  /** airings due while the link was down (only with the `airing-needs-link` break) */
  #heldForLink: Timeline[] = [];

  constructor(private readonly host: EngineHost) {
    this.#breaks = host.breaks ?? new Set();
    this.#prefetch = new Prefetcher({
      clock: host.clock,
      cache: host.cache,
      download: host.download,
      log: host.log,
    });
    this.#runHost = {
      clock: host.clock,
      cache: host.cache,
      report: (f, atMs) => host.reporter.airing(f, atMs),
      quietAt: (now) => this.quietAt(now),
      assetDurationMs: (sha) => this.#asset(sha)?.durationMs,
      relayConnectTimeoutMs: host.relayConnectTimeoutMs ?? 5000,
      relayLeadMs: host.relayLeadMs ?? RELAY_LEAD_MS,
      done: (run) => this.#runDone(run),
      log: host.log,
    };
  }

  /** The airing on the loudspeaker now, if any. */
  get onAir(): Holder | null {
    return this.#onAir ? { id: this.#onAir.id, priority: this.#onAir.priority } : null;
  }

  /** Whether `now` (controller time) is inside the quiet hours of the document held. */
  quietAt(now: number): boolean {
    if (this.#breaks.has('ignore-quiet-hours')) return false;
    return inQuiet(this.memory.doc, now);
  }

  /** The link is up again (only the `airing-needs-link` break waits for it). */
  linkRestored(): void {
    const held = this.#heldForLink;
    this.#heldForLink = [];
    for (const tl of held) this.#due(tl, 'late');
  }

  /** Arms the document held (after a restart: no message needed). Idempotent. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#armAll();
  }

  /** Silences everything and cancels every timer; the document and the airings dealt with are kept. */
  shutdown(): void {
    if (!this.#running) return;
    this.#running = false;
    for (const list of this.#timers.values()) for (const t of list) t.cancel();
    this.#timers.clear();
    this.#dropLines();
    this.#prefetch.shutdown();
    this.#awaiting.clear();
    this.#fetching.clear();
    const now = this.host.clock.now();
    // Started airings are over for good (they never play twice); a firmware that loses power
    // reports this at its next boot instead.
    this.#onAir?.cut('other', now, 'receiver stopped');
    this.#onAir = null;
    for (const w of this.#waiting) if (w.kind === 'paused') w.run.cut('other', now, 'receiver stopped');
    this.#waiting = [];
  }

  /** A payload on the schedule topic. Never throws. */
  onDocument(payload: Buffer): void {
    if (this.#breaks.has('ignore-schedule')) return;
    const verdict = verifyScheduleDoc(
      this.host.trusted(),
      this.host.topic,
      this.host.id,
      payload,
      this.#breaks.has('ignore-stale-version') ? null : this.memory.version,
      {
        forged: this.#breaks.has('accept-forged-schedule'),
        otherReceiver: this.#breaks.has('accept-other-receiver-schedule'),
      },
    );
    if (!verdict.ok) {
      this.host.log.warn({ reason: verdict.reason, error: verdict.error }, 'sim: schedule refused');
      if (verdict.version !== undefined)
        this.host.reporter.schedule({
          version: verdict.version,
          state: 'rejected',
          reason: verdict.reason,
          detail: verdict.error.slice(0, 500),
        });
      return;
    }
    const { doc } = verdict;
    if (!verdict.same) this.#take(doc);
    this.host.reporter.schedule({ version: doc.version, state: 'applied' });
  }

  /**
   * A stop command without bulletinId (all-stop or zone stop) issued after the document cuts what
   * of the schedule has begun (on air, interrupted, or waiting for the loudspeaker); later airings
   * stay. The caller then lets the player apply the stop and resume its queue.
   */
  stop(cmd: StopCommand): void {
    if (cmd.bulletinId !== undefined) return;
    const version = this.memory.version;
    if (version === null || cmd.seq <= version) return;
    const now = this.host.clock.now();
    this.#deciding = true;
    try {
      this.#onAir?.cut('stopped', now);
      this.#onAir = null;
      for (const w of this.#waiting) {
        if (w.kind === 'paused') w.run.cut('stopped', now);
        else this.#missed(w.tl, 'stopped');
      }
      this.#waiting = [];
    } finally {
      this.#deciding = false;
    }
  }

  /** A bulletin takes the loudspeaker from the airing on air (the player judged it preempts). */
  preemptedBy(commandId: string): void {
    const run = this.#onAir;
    if (!run) return;
    run.preempt(commandId, this.host.clock.now());
    this.#onAir = null;
    this.#waiting.push({ kind: 'paused', run, id: run.id, priority: run.priority, at: run.tl.at });
  }

  /**
   * The player has nothing sounding. Returns true when the schedule holds the loudspeaker (an
   * airing on air, resumed or started now): the player then keeps its queue waiting.
   */
  speakerFree(nextBulletin: Priority | null): boolean {
    if (this.#onAir) return true;
    if (!this.#running) return false;
    this.#deciding = true;
    try {
      for (let guard = this.#waiting.length + 1; guard > 0; guard--) {
        const w = pickWaiting(this.#waiting, nextBulletin);
        if (!w) return false;
        this.#waiting = this.#waiting.filter((x) => x !== w);
        const now = this.host.clock.now();
        if (w.kind === 'paused') {
          this.#onAir = w.run;
          w.run.resume(now);
        } else {
          this.#startWaiting(w.tl, now);
        }
        if (this.#onAir && !this.#onAir.over) return true;
        this.#onAir = null;
      }
      return false;
    } finally {
      this.#deciding = false;
    }
  }

  #take(doc: ScheduleDoc): void {
    const now = this.host.clock.now();
    const listed = new Set(doc.airings.map((a) => a.id));
    this.memory.doc = doc;
    this.memory.prune(now, HANDLED_KEEP_MS);
    if (!this.#running) return;
    for (const list of this.#timers.values()) for (const t of list) t.cancel();
    this.#timers.clear();
    this.#dropLines();
    // Airings the new document no longer lists do not air, or stop airing.
    let freed = false;
    this.#deciding = true;
    try {
      if (this.#onAir && !listed.has(this.#onAir.id)) {
        this.#onAir.cut('stopped', now);
        this.#onAir = null;
        freed = true;
      }
      for (const w of this.#waiting) if (!listed.has(w.id) && w.kind === 'paused') w.run.cut('stopped', now);
      this.#waiting = this.#waiting.filter((w) => listed.has(w.id));
    } finally {
      this.#deciding = false;
    }
    this.#armAll();
    if (freed) this.host.bulletins.resume();
  }

  #armAll(): void {
    const doc = this.memory.doc;
    if (!doc) return;
    for (const airing of doc.airings) this.#arm(timelineOf(airing), doc);
  }

  #active(id: string): boolean {
    return this.#onAir?.id === id || this.#waiting.some((w) => w.id === id) || this.#awaiting.has(id);
  }

  #arm(tl: Timeline, doc: ScheduleDoc): void {
    const id = tl.airing.id;
    if (this.memory.isHandled(id) || this.#active(id)) return;
    const now = this.host.clock.now();
    const timers: Timer[] = [];
    if (now < tl.windowEnd) {
      timers.push(at(this.host.clock, Math.max(now, tl.at - doc.prefetchMs), () => void this.#fetch(tl)));
    }
    const onTime = now < tl.at;
    const first = tl.airing.items[0];
    if (onTime && first?.kind === 'relay') {
      const lead = this.#runHost.relayLeadMs;
      timers.push(
        at(this.host.clock, Math.max(now, tl.at - lead), () => {
          if (!this.#running || this.memory.isHandled(id) || this.#lines.has(id)) return;
          this.#lines.set(id, new RelayLine(first.url, this.#runHost.relayConnectTimeoutMs));
        }),
      );
    }
    const lateBy = this.#breaks.has('schedule-late-start') ? 600 : 0;
    timers.push(
      at(this.host.clock, onTime ? tl.at + lateBy : now, () => this.#due(tl, onTime ? 'on_time' : 'late')),
    );
    this.#timers.set(id, timers);
  }

  #dropLines(): void {
    for (const line of this.#lines.values()) line.close();
    this.#lines.clear();
  }

  #assets(tl: Timeline): ScheduleAsset[] {
    return assetsOf(tl.airing).flatMap((sha) => this.#asset(sha) ?? []);
  }

  #asset(sha: string): ScheduleAsset | undefined {
    return this.memory.doc?.assets.find((a) => a.sha256 === sha);
  }

  #fetch(tl: Timeline): Promise<void> {
    const shas = assetsOf(tl.airing);
    this.#fetching.add(tl.airing.id);
    const done = this.#prefetch.fetch(this.#assets(tl), tl.windowEnd).then(() => {
      if (!this.#running) return;
      if (this.#prefetch.holds(shas) && !this.#readySent.has(tl.airing.id)) {
        this.#readySent.add(tl.airing.id);
        this.host.reporter.airing({ airingId: tl.airing.id, state: 'ready' });
      }
      const cause = this.#awaiting.get(tl.airing.id);
      if (cause === undefined) return;
      this.#awaiting.delete(tl.airing.id);
      // Already late when due (started, or got the document, after the instant): still `late`.
      this.#begin(tl, cause === 'late' ? 'late' : 'downloads');
    });
    return done;
  }

  #due(tl: Timeline, cause: 'on_time' | 'late'): void {
    if (!this.#running || this.memory.isHandled(tl.airing.id) || this.#active(tl.airing.id)) return;
    if (this.#breaks.has('airing-needs-link') && this.host.linkUp && !this.host.linkUp()) {
      this.#heldForLink.push(tl);
      return;
    }
    const shas = assetsOf(tl.airing);
    if (!this.#prefetch.holds(shas) && this.host.clock.now() < tl.windowEnd) {
      if (!this.#fetching.has(tl.airing.id)) {
        this.#awaiting.set(tl.airing.id, cause);
        void this.#fetch(tl);
        return;
      }
      if (!this.#prefetch.settled(shas)) {
        // Still downloading: start when the downloads settle (then late, per the `late` policy).
        this.#awaiting.set(tl.airing.id, cause);
        return;
      }
    }
    this.#begin(tl, cause);
  }

  /** The airing's instant has come (or passed): decide whether, where and how it starts. */
  #begin(tl: Timeline, cause: 'on_time' | 'late' | 'downloads'): void {
    const pre = this.#lines.get(tl.airing.id);
    this.#lines.delete(tl.airing.id);
    // the connection opened ahead serves a start on time only; else the relay connects anew
    if (!this.#decide(tl, cause, cause === 'on_time' ? pre : undefined)) pre?.close();
  }

  /** Returns whether the run took `pre`. */
  #decide(tl: Timeline, cause: 'on_time' | 'late' | 'downloads', pre: RelayLine | undefined): boolean {
    if (!this.#running || this.memory.isHandled(tl.airing.id)) return false;
    const { airing } = tl;
    const now = this.host.clock.now();
    if (quietApplies(airing.priority) && this.quietAt(now)) {
      this.#missed(tl, 'quiet_hours');
      return false;
    }
    let point = { item: 0, offsetMs: 0 };
    if (cause !== 'on_time' && !this.#breaks.has('late-from-top')) {
      const jp = joinPoint(tl, now, LATE_TOLERANCE_MS);
      if (!jp.ok) {
        this.#missed(tl, cause === 'downloads' || !this.#playable(tl) ? 'not_ready' : 'late');
        return false;
      }
      point = jp;
    }
    if (!this.#playable(tl)) {
      this.#missed(tl, 'not_ready');
      return false;
    }
    const holder = this.#onAir ? this.onAir : this.host.bulletins.playing();
    const verdict = arbitrate(airing.priority, holder);
    if (verdict === 'wait') {
      this.#waiting.push({ kind: 'due', tl, id: airing.id, priority: airing.priority, at: tl.at });
      return false;
    }
    if (verdict === 'preempt') {
      if (this.#onAir) {
        const run = this.#onAir;
        run.preempt(airing.id, now);
        this.#onAir = null;
        this.#waiting.push({ kind: 'paused', run, id: run.id, priority: run.priority, at: run.tl.at });
      } else {
        this.host.bulletins.yieldTo(airing.id);
      }
    }
    this.memory.markHandled(airing.id, tl.windowEnd);
    const run = new AiringRun(tl, this.#runHost);
    this.#onAir = run;
    const onTime = cause === 'on_time';
    const anchored = onTime && !this.#breaks.has('schedule-late-start');
    run.begin(point.item, point.offsetMs, now, 'late', anchored ? tl.at : undefined, pre);
    return pre !== undefined;
  }

  /** A due airing that waited for the loudspeaker starts from its first item, if its window allows. */
  #startWaiting(tl: Timeline, now: number): void {
    const first = tl.airing.items[0]?.durationMs ?? 0;
    if (quietApplies(tl.airing.priority) && this.quietAt(now)) {
      this.#missed(tl, 'quiet_hours');
      return;
    }
    if (now + first > tl.windowEnd) {
      this.#missed(tl, 'preempted');
      return;
    }
    this.memory.markHandled(tl.airing.id, tl.windowEnd);
    const run = new AiringRun(tl, this.#runHost);
    this.#onAir = run;
    run.begin(0, 0, now);
  }

  /** Whether anything of the airing can sound: a relay or pause, or an audio item whose file is held. */
  #playable(tl: Timeline): boolean {
    return tl.airing.items.some((i) => i.kind !== 'audio' || this.host.cache.has(i.sha256));
  }

  #missed(tl: Timeline, reason: AiringReason): void {
    const id = tl.airing.id;
    this.memory.markHandled(id, tl.windowEnd);
    this.host.reporter.airing({ airingId: id, state: 'missed', reason });
    this.host.reporter.airing({ airingId: id, state: 'ended', outcome: 'missed' });
  }

  #runDone(run: AiringRun): void {
    if (this.#onAir === run) {
      this.#onAir = null;
      if (this.#running && !this.#deciding) this.host.bulletins.resume();
    } else {
      this.#waiting = this.#waiting.filter((w) => w.kind !== 'paused' || w.run !== run);
    }
  }
}
