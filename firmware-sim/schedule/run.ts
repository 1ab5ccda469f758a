/**
 * One airing on the loudspeaker (docs/protocol.md §13.5–13.8): its items in order on the airing's
 * timeline, each item's start, end and outcome reported; interrupted (preempted) and resumed per
 * its `resume` policy; cut by a stop, its window or quiet hours. Every timer is an instant on the
 * controller's time scale, so receivers with the same schedule stay in step.
 */
import type { Logger } from 'pino';
import type { AiringReason, ScheduleItem } from '../../src/contract/schedule.js';
import { at, type Clock, type Timer } from '../../src/time/clock.js';
import { type AudioCache, sha256Of } from '../cache.js';
import { type Opened, RelayLine } from './relayline.js';
import type { AiringFields } from './reports.js';
import { quietApplies, type Timeline } from './timeline.js';

export interface RunHost {
  /** the controller's time scale, as the receiver estimates it */
  clock: Clock;
  cache: AudioCache;
  /** `atMs`: the instant it happened (controller time), if not now */
  report(fields: AiringFields, atMs?: number): void;
  /** whether `now` is inside the document's quiet hours */
  quietAt(now: number): boolean;
  /** planned duration of an asset (a relay's fallback), ms */
  assetDurationMs(sha256: string): number | undefined;
  relayConnectTimeoutMs: number;
  /** how long ahead of its slot a relay connects (controller time) */
  relayLeadMs: number;
  /** the airing is over: the loudspeaker is free */
  done(run: AiringRun): void;
  log: Logger;
}

type Phase = 'idle' | 'sounding' | 'silent' | 'paused' | 'over';

/** An airing from its first item to its `ended`. */
export class AiringRun {
  #phase: Phase = 'idle';
  /** the instant item 0 would have started: item k's slot is [anchor + starts[k], + its duration) */
  #anchor = 0;
  #k = 0;
  #timer: Timer | null = null;
  /** the current relay item's connection */
  #line: RelayLine | null = null;
  /** a relay's connection opened ahead of its slot (item k), and the timer that will open it */
  #pre: { k: number; line: RelayLine } | null = null;
  #preTimer: Timer | null = null;
  /** whether the current item has been reported `started` */
  #itemStarted = false;
  /** bumped at every transition, so a late async callback of an earlier one does nothing */
  #token = 0;
  #paused: { k: number; pos: number; sounding: boolean } | null = null;
  #startedAny = false;
  #cutAny = false;

  constructor(
    readonly tl: Timeline,
    private readonly host: RunHost,
  ) {}

  get id(): string {
    return this.tl.airing.id;
  }
  get priority() {
    return this.tl.airing.priority;
  }
  get over(): boolean {
    return this.#phase === 'over';
  }
  get paused(): boolean {
    return this.#phase === 'paused';
  }
  /** When an interrupted airing could still resume: its window's end. */
  get windowEnd(): number {
    return this.tl.windowEnd;
  }

  /**
   * Starts at item `k`, `offsetMs` into it (a late join), at `now`; items before `k` are reported
   * `skipped` with `skipReason`. With `anchorAt`, the timeline is the scheduled one (a start on
   * time: a timer a few ms late does not shift the neighbours' step). `pre`: item k's relay
   * connection, opened ahead of the instant by the engine; the run now owns it.
   */
  begin(
    k: number,
    offsetMs: number,
    now: number,
    skipReason: AiringReason = 'late',
    anchorAt?: number,
    pre?: RelayLine,
  ): void {
    for (let j = 0; j < k; j++)
      this.host.report({ airingId: this.id, item: j, state: 'skipped', reason: skipReason });
    this.#anchor = anchorAt ?? now - (this.tl.starts[k] ?? 0) - offsetMs;
    if (pre) this.#pre = { k, line: pre };
    this.#enter(k, offsetMs, false);
  }

  /** Something of higher priority takes the loudspeaker (`by`: its command or airing id). */
  preempt(by: string, now: number): void {
    if (this.#phase !== 'sounding' && this.#phase !== 'silent') return;
    const pos = this.#position(now);
    const sounding = this.#phase === 'sounding';
    if (sounding)
      this.host.report({ airingId: this.id, item: this.#k, state: 'preempted', offsetMs: pos, by });
    this.#silence();
    this.#dropPre();
    this.#paused = { k: this.#k, pos, sounding };
    this.#phase = 'paused';
  }

  /** The loudspeaker is free again: go on per the `resume` policy (docs/protocol.md §13.7). */
  resume(now: number): void {
    const p = this.#paused;
    if (this.#phase !== 'paused' || !p) return;
    this.#paused = null;
    if (!p.sounding) {
      // Interrupted in a silent slot (an item skipped or failed): the next item follows at once.
      this.#anchor = now - (this.tl.starts[p.k + 1] ?? this.tl.total);
      this.#enter(p.k + 1, 0, false);
      return;
    }
    const from = this.tl.airing.resume === 'where_stopped' ? p.pos : 0;
    this.#anchor = now - (this.tl.starts[p.k] ?? 0) - from;
    this.#enter(p.k, from, true);
  }

  /** Ends the airing now: what sounds (or waits to resume) and everything after it are `cut`. */
  cut(reason: AiringReason, now: number, detail?: string): void {
    if (this.#phase === 'over') return;
    let next = this.#k;
    if (this.#phase === 'sounding' || (this.#phase === 'paused' && this.#paused?.sounding)) {
      const offsetMs = this.#phase === 'paused' ? (this.#paused?.pos ?? 0) : this.#position(now);
      this.host.report({ airingId: this.id, item: this.#k, state: 'cut', reason, offsetMs, detail });
      next = this.#k + 1;
    } else if (this.#phase === 'silent' || this.#phase === 'paused') {
      next = this.#k + 1;
    }
    this.#silence();
    this.#cutRest(next, reason, detail);
  }

  #position(now: number): number {
    const dur = this.tl.airing.items[this.#k]?.durationMs ?? 0;
    return Math.min(dur, Math.max(0, Math.round(now - this.#anchor - (this.tl.starts[this.#k] ?? 0))));
  }

  #slotEnd(k: number): number {
    return this.#anchor + (this.tl.starts[k] ?? this.tl.total) + (this.tl.airing.items[k]?.durationMs ?? 0);
  }

  /**
   * Item `k` begins, `offsetMs` into it, at `now` (the instant its timer fired: what the reports
   * say, whatever the reporting itself then costs).
   */
  #enter(k: number, offsetMs: number, resumed: boolean, now = this.host.clock.now()): void {
    this.#silence();
    this.#k = k;
    this.#itemStarted = false;
    if (this.#pre && this.#pre.k !== k) this.#dropPre();
    const item = this.tl.airing.items[k];
    if (!item) {
      this.#end();
      return;
    }
    const slotEnd = this.#slotEnd(k);
    if (quietApplies(this.priority) && this.host.quietAt(now)) {
      this.#cutRest(k, 'quiet_hours');
      return;
    }
    if (slotEnd > this.tl.windowEnd) {
      this.#cutRest(k, 'window');
      return;
    }
    this.#prepare(k + 1, slotEnd);
    const base = { airingId: this.id, item: k };
    /** reported at `atMs`: the slot's timer instant, or when a late stream answered */
    const started = (extra: Partial<AiringFields> = {}, atMs = now) => {
      this.#startedAny = true;
      this.#itemStarted = true;
      this.host.report(
        { ...base, state: 'started', offsetMs, ...(resumed ? { resumed } : {}), ...extra },
        atMs,
      );
    };
    if (item.kind === 'pause') {
      started();
      this.#phase = 'sounding';
      this.#until(slotEnd, (t) => this.#finish({}, t));
      return;
    }
    if (item.kind === 'audio') {
      const bytes = this.host.cache.get(item.sha256);
      if (!bytes) {
        // The timeline goes on without it, in step with the neighbours that have it.
        this.host.report({ ...base, state: 'skipped', reason: 'not_ready' });
        this.#silentUntil(slotEnd);
        return;
      }
      const sha256 = sha256Of(bytes);
      started();
      this.#phase = 'sounding';
      this.#until(slotEnd, (t) => this.#finish({ sha256 }, t));
      return;
    }
    this.#relay(item, slotEnd, offsetMs, now, started);
  }

  /**
   * A relay item at its slot: the stream connected ahead of the slot sounds at once; one that
   * answers only later joins live then (`offsetMs` the position reached in the slot). A stream
   * that fails plays the fallback from its start, or leaves the slot silent (`failed`).
   */
  #relay(
    item: Extract<ScheduleItem, { kind: 'relay' }>,
    slotEnd: number,
    offsetMs: number,
    now: number,
    started: (extra?: Partial<AiringFields>, atMs?: number) => void,
  ): void {
    const k = this.#k;
    const pre = this.#pre?.k === k ? this.#pre.line : null;
    if (pre) this.#pre = null;
    const line = pre ?? new RelayLine(item.url, this.host.relayConnectTimeoutMs);
    this.#line = line;
    // Connecting counts as sounding: an interruption now is reported at its position in the slot.
    this.#phase = 'sounding';
    this.#until(slotEnd, (t) => {
      if (this.#itemStarted) this.#finish({}, t);
      else {
        // the stream never answered within its slot
        this.host.report({ ...this.#base(), state: 'failed', reason: 'stream_failed' }, t);
        this.#enter(k + 1, 0, false, t);
      }
    });
    const token = this.#token;
    const answered = (opened: Opened, t: number) => {
      if (opened.ok) {
        started({ offsetMs: offsetMs + Math.max(0, Math.round(t - now)) }, t);
        void opened.stream.ended.then((why) => {
          if (token === this.#token)
            this.host.log.warn({ airing: this.id, item: k, why }, 'sim: relay stream ended before its slot');
        });
        return;
      }
      this.host.log.warn(
        { airing: this.id, url: item.url, detail: opened.detail },
        'sim: relay stream failed',
      );
      const fallback = item.fallback ? this.host.cache.get(item.fallback) : undefined;
      if (!fallback || !item.fallback) {
        const detail = opened.detail.slice(0, 500);
        this.host.report({ ...this.#base(), state: 'failed', reason: 'stream_failed', detail }, t);
        this.#silentUntil(slotEnd);
        return;
      }
      const sha256 = sha256Of(fallback);
      started({ fallback: true, offsetMs: 0 }, t);
      const end = Math.min(slotEnd, t + (this.host.assetDurationMs(item.fallback) ?? item.durationMs));
      this.#until(end, (t2) => {
        this.host.report({ ...this.#base(), state: 'finished', fallback: true, sha256 }, t2);
        if (end < slotEnd) this.#silentUntil(slotEnd);
        else this.#enter(k + 1, 0, false, t2);
      });
    };
    if (line.result) answered(line.result, now);
    else
      void line.settled.then((opened) => {
        if (token === this.#token) answered(opened, this.host.clock.now());
      });
  }

  #base(): { airingId: string; item: number } {
    return { airingId: this.id, item: this.#k };
  }

  /** Item `j` is a relay: connect it `relayLeadMs` before its slot (which starts at `slotStart`). */
  #prepare(j: number, slotStart: number): void {
    const next = this.tl.airing.items[j];
    this.#preTimer?.cancel();
    this.#preTimer = null;
    if (next?.kind !== 'relay' || this.#slotEnd(j) > this.tl.windowEnd) return;
    this.#preTimer = at(this.host.clock, slotStart - this.host.relayLeadMs, () => {
      this.#preTimer = null;
      if (this.#phase === 'over' || this.#phase === 'paused') return;
      this.#pre?.line.close();
      this.#pre = { k: j, line: new RelayLine(next.url, this.host.relayConnectTimeoutMs) };
    });
  }

  #dropPre(): void {
    this.#preTimer?.cancel();
    this.#preTimer = null;
    this.#pre?.line.close();
    this.#pre = null;
  }

  #finish(extra: Partial<AiringFields>, now: number): void {
    this.host.report({ airingId: this.id, item: this.#k, state: 'finished', ...extra }, now);
    this.#enter(this.#k + 1, 0, false, now);
  }

  /** Silence for the rest of a slot whose item did not sound, then the next item. */
  #silentUntil(slotEnd: number): void {
    this.#silence();
    this.#phase = 'silent';
    this.#until(slotEnd, (t) => this.#enter(this.#k + 1, 0, false, t));
  }

  #until(instant: number, fn: (firedAt: number) => void): void {
    this.#timer?.cancel();
    const token = this.#token;
    this.#timer = at(this.host.clock, instant, () => {
      if (token === this.#token) fn(this.host.clock.now());
    });
  }

  /** Stops whatever sounds and every timer; reports nothing. */
  #silence(): void {
    this.#token += 1;
    this.#timer?.cancel();
    this.#timer = null;
    this.#line?.closeSoon();
    this.#line = null;
  }

  #cutRest(from: number, reason: AiringReason, detail?: string): void {
    for (let j = from; j < this.tl.airing.items.length; j++) {
      this.host.report({ airingId: this.id, item: j, state: 'cut', reason, detail });
    }
    this.#cutAny = true;
    this.#end();
  }

  #end(): void {
    this.#silence();
    this.#dropPre();
    if (this.#phase === 'over') return;
    this.#phase = 'over';
    const outcome = this.#cutAny ? 'cut' : this.#startedAny ? 'aired' : 'missed';
    this.host.report({ airingId: this.id, state: 'ended', outcome });
    this.host.done(this);
  }

  /** The receiver stops: silence, nothing reported (the engine decides what to say). */
  halt(): void {
    this.#silence();
    this.#dropPre();
  }
}
