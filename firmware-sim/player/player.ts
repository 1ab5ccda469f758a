/**
 * What a receiver does with a verified, fresh, first-seen command: acknowledge, fetch, check,
 * queue, play, preempt, resume and cancel, reporting each step. No audio comes out: a play is a
 * timer of the bulletin's duration, scaled by the receiver's time factor.
 *
 * An interrupted bulletin is not lost (docs/protocol.md §7.3): it waits in the queue, ahead of the
 * bulletins of its priority that never started (the one interrupted last first), and plays again
 * from the start of the interrupted play — speech cut mid-sentence is useless — with the repeats
 * it had left, unless it expires or is stopped meanwhile. Decided here, from what the receiver
 * holds: it works with the controller unreachable.
 */
import {
  type AudioRef,
  type EventState,
  type PlayCommand,
  type Priority,
  preempts,
  type ReceiverEvent,
  type StopCommand,
} from '../../src/contract/mqtt.js';
import type { SimBreak } from '../breaks.js';
import { type AudioCache, intern, sha256Of } from '../cache.js';
import type { DownloadResult } from '../download.js';
import { iso, MAX_TIMER_MS } from '../util.js';
import { PlayQueue } from './queue.js';

/** The fields an event adds to `{v, commandId, bulletinId, state, session, ts}`. */
export type EventExtra = Partial<
  Pick<
    ReceiverEvent,
    'reason' | 'detail' | 'play' | 'by' | 'bytes' | 'sha256' | 'resumes' | 'resumed' | 'offsetMs'
  >
>;

/** One bulletin played to the end, as `SimReceiver.played` lists it. */
export interface PlayedEntry {
  commandId: string;
  bulletinId: string;
  /** sha256 of the bytes actually played */
  sha256: string;
  /** plays made (the command's repeat count) */
  plays: number;
  priority: Priority;
  /** receiver clock when the last play ended */
  at: string;
  /** output volume used */
  volume: number;
  /** how many times it was interrupted on the way (and resumed) */
  interruptions: number;
}

/** What the player is playing, in the shape of the status message's `nowPlaying`. */
export interface NowPlaying {
  commandId: string;
  bulletinId: string;
  priority: Priority;
  play: number;
  startedAt: string;
}

/** The receiver services the player relies on. */
export interface PlayerHost {
  /** deliberate protocol violations (../breaks.ts), for the conformance kit's tests */
  breaks: ReadonlySet<SimBreak>;
  /** receiver clock, epoch ms */
  now(): number;
  /** playback time = duration × timeFactor */
  timeFactor(): number;
  /** the receiver's own volume, used when a command carries none */
  volume(): number;
  cache: AudioCache;
  download(audio: AudioRef, signal: AbortSignal): Promise<DownloadResult>;
  report(cmd: PlayCommand, state: EventState, extra?: EventExtra): void;
  played(entry: PlayedEntry): void;
  /** another source sharing the loudspeaker (the schedule); absent: the player is alone */
  speaker?: SharedSpeaker | undefined;
  /** whether it is inside the quiet hours now (docs/protocol.md §13.10); absent: never */
  quiet?: (() => boolean) | undefined;
}

/**
 * The other side of the loudspeaker (firmware-sim/schedule/speaker.ts has the rules): what it
 * sounds, how to take the loudspeaker from it, and the moment the player has nothing to sound.
 */
export interface SharedSpeaker {
  /** what the other source sounds now, if anything */
  holder(): { id: string; priority: Priority } | null;
  /** the bulletin `commandId` takes over (it preempts the holder) */
  preempt(commandId: string): void;
  /**
   * The player has nothing sounding; `next` is the priority of its next queued bulletin. Returns
   * true when the other source sounds now: the player's queue then waits until resume().
   */
  free(next: Priority | null): boolean;
}

interface Item {
  cmd: PlayCommand;
  priority: Priority;
  /** queue order among equal priorities: arrival, increasing; an interrupted item's is negative */
  arrival: number;
  stage: 'new' | 'downloading' | 'queued' | 'playing' | 'done';
  bytes?: Buffer;
  sha256?: string;
  abort?: AbortController;
  expiryTimer?: NodeJS.Timeout;
  timer?: NodeJS.Timeout;
  /** the play sounding (or, in a gap, the one just ended), 1-based */
  play: number;
  startedAt: string;
  /** real (monotonic) ms when the current play began; null in a gap between plays */
  playBegan: number | null;
  /** the play to start with when it (re)starts */
  firstPlay: number;
  /** times it was interrupted and put back in the queue to resume */
  interruptions: number;
  /** break `resume-mid-play` only: ms of the resumed play skipped (where the sound was cut) */
  skipMs?: number;
}

/** How many bulletin stops are remembered to cancel plays that arrive after their stop. */
const REMEMBERED_STOPS = 1000;

/** One receiver's playback: downloads in flight, the queue and the item playing. */
export class Player {
  #current: Item | null = null;
  readonly #queue = new PlayQueue<Item>();
  readonly #downloading = new Set<Item>();
  #arrivals = 0;
  /** interruptions so far: the newest interrupted item resumes first among equal priorities */
  #interruptions = 0;
  #allStop: { seq: number; id: string } | null = null;
  readonly #bulletinStops = new Map<string, { seq: number; id: string }>();

  constructor(private readonly host: PlayerHost) {}

  get nowPlaying(): NowPlaying | null {
    const item = this.#current;
    if (!item) return null;
    const { cmd } = item;
    return {
      commandId: cmd.id,
      bulletinId: cmd.bulletinId,
      priority: cmd.priority,
      play: item.play,
      startedAt: item.startedAt,
    };
  }

  /** The volume the speaker plays at now: the playing command's, else the receiver's. */
  get outputVolume(): number {
    return this.#current?.cmd.volume ?? this.host.volume();
  }

  /** Ids of the commands waiting to play, in play order. */
  get queued(): string[] {
    return this.#queue.items().map((item) => item.cmd.id);
  }

  /** Takes a play command that is authentic, not expired and seen for the first time. */
  play(cmd: PlayCommand): void {
    const item: Item = {
      cmd,
      priority: cmd.priority,
      arrival: ++this.#arrivals,
      stage: 'new',
      play: 0,
      startedAt: '',
      playBegan: null,
      firstPlay: 1,
      interruptions: 0,
    };
    const stoppedBy = this.#stoppedBy(cmd);
    if (stoppedBy) {
      // Issued before a stop that already arrived (topics do not keep order between them).
      this.host.report(cmd, 'cancelled', { by: stoppedBy });
      return;
    }
    if (this.host.breaks.has('cannot-play-opus') && cmd.audio.mime === 'audio/ogg') {
      this.host.report(cmd, 'received');
      this.host.report(cmd, 'failed', { reason: 'unsupported_format', detail: 'no Opus decoder' });
      return;
    }
    const cached = this.host.breaks.has('redownload-cached')
      ? undefined
      : this.host.cache.get(cmd.audio.sha256);
    if (cached && this.#canStartNow(cmd.priority)) {
      // `started` is the only acknowledgement: one message per receiver in a fleet-wide alert.
      item.bytes = cached;
      this.#admit(item);
      return;
    }
    if (!this.host.breaks.has('skip-received')) this.host.report(cmd, 'received');
    if (cached) {
      item.bytes = cached;
      this.host.report(cmd, 'ready');
      this.#admit(item);
      return;
    }
    void this.#fetch(item);
  }

  /** Cancels the items a stop command covers: issued before it, of its bulletin if it names one. */
  stop(cmd: StopCommand): void {
    const b = this.host.breaks;
    if (!b.has('forget-stops')) this.#rememberStop(cmd);
    const hit = (item: Item) =>
      (item.cmd.seq < cmd.seq || b.has('stop-ignores-seq')) &&
      (cmd.bulletinId === undefined || item.cmd.bulletinId === cmd.bulletinId);
    // Between two plays of a repeat nothing sounds, but the item is still the one playing.
    const current = this.#current?.playBegan === null && b.has('stop-spares-gap') ? null : this.#current;
    const queued = this.#queue
      .items()
      .filter((item) => !b.has(item.interruptions > 0 ? 'stop-spares-interrupted' : 'stop-spares-queue'));
    const downloading = b.has('stop-spares-download') ? [] : [...this.#downloading];
    const victims = [...(current ? [current] : []), ...queued, ...downloading].filter(hit);
    for (const item of victims) {
      this.#drop(item);
      this.host.report(item.cmd, 'cancelled', { by: cmd.id });
    }
    if (current && hit(current)) {
      this.#startNext();
    }
  }

  /**
   * The bulletin sounding is preempted by `by` (an airing of higher priority): reported, and held
   * to resume when the schedule lets go of the loudspeaker (resume()).
   */
  yieldTo(by: string): void {
    const current = this.#current;
    if (!current) return;
    this.#interrupt(current, by);
  }

  /** The other source let go of the loudspeaker: play what waits. */
  resume(): void {
    if (!this.#current) this.#startNext();
  }

  /** Drops everything silently: the receiver is shutting down. */
  shutdown(): void {
    for (const item of [
      ...(this.#current ? [this.#current] : []),
      ...this.#queue.items(),
      ...this.#downloading,
    ]) {
      this.#drop(item);
    }
  }

  async #fetch(item: Item): Promise<void> {
    const { cmd } = item;
    item.stage = 'downloading';
    item.abort = new AbortController();
    this.#downloading.add(item);
    this.#armExpiry(item);
    this.host.report(cmd, 'downloading', { bytes: 0 });
    let result: DownloadResult;
    try {
      result = await this.host.download(cmd.audio, item.abort.signal);
    } catch (err) {
      result = { ok: false, reason: 'download_failed', detail: String(err), aborted: false };
    }
    // Expired, cancelled or shut down while downloading: that outcome was reported already.
    if (item.stage !== 'downloading') return;
    this.#downloading.delete(item);
    if (!result.ok) {
      this.#drop(item);
      this.host.report(cmd, 'failed', { reason: result.reason, detail: result.detail });
      return;
    }
    item.bytes = intern(cmd.audio.sha256, result.bytes);
    this.host.cache.set(cmd.audio.sha256, item.bytes);
    this.host.report(cmd, 'ready');
    this.#admit(item);
  }

  /** A ready item: play it now, preempt with it, or queue it. */
  #admit(item: Item): void {
    if (this.#expired(item)) {
      this.#drop(item);
      this.host.report(item.cmd, 'expired', { reason: 'expired' });
      return;
    }
    const current = this.#current;
    const other = current ? null : (this.host.speaker?.holder() ?? null);
    const playing = current ?? other;
    if (playing && !this.#preempts(item.priority, playing.priority)) {
      item.stage = 'queued';
      this.#queue.push(item, this.host.breaks.has('fifo-queue'));
      this.#armExpiry(item);
      return;
    }
    if (other) this.host.speaker?.preempt(item.cmd.id);
    if (current) this.#interrupt(current, item.cmd.id);
    this.#start(item);
  }

  /**
   * The item sounding gives way to `by`. Reported `preempted` with where it was; held in the
   * queue to play again from the start of the interrupted play (`resumes: true`), unless it has
   * expired already, in which case it is over here.
   */
  #interrupt(item: Item, by: string): void {
    const { cmd } = item;
    clearTimeout(item.timer);
    if (this.#current === item) this.#current = null;
    const inGap = item.playBegan === null;
    const offsetMs = inGap
      ? cmd.audio.durationMs
      : Math.min(
          cmd.audio.durationMs,
          Math.round((performance.now() - (item.playBegan ?? 0)) / Math.max(this.host.timeFactor(), 1e-9)),
        );
    const where = { by, play: item.play, offsetMs };
    if (this.#expired(item) || this.host.breaks.has('no-resume')) {
      this.#drop(item);
      this.host.report(cmd, 'preempted', { ...where, resumes: false });
      return;
    }
    // In a gap the interrupted play had ended: the next one is due. Mid-play: that play again.
    item.firstPlay = inGap && !this.host.breaks.has('resume-gap-replays') ? item.play + 1 : item.play;
    if (!inGap && this.host.breaks.has('resume-mid-play')) item.skipMs = offsetMs;
    item.interruptions += 1;
    if (!this.host.breaks.has('resume-fifo')) item.arrival = -++this.#interruptions;
    item.stage = 'queued';
    item.playBegan = null;
    this.#queue.push(item, this.host.breaks.has('fifo-queue'));
    if (!this.host.breaks.has('resume-after-expiry')) this.#armExpiry(item);
    this.host.report(cmd, 'preempted', { ...where, resumes: true });
  }

  #start(item: Item): void {
    clearTimeout(item.expiryTimer);
    item.stage = 'playing';
    const resumed = item.interruptions > 0;
    item.play = item.firstPlay - 1;
    // Hash what is about to play, not what the command announced: `finished` proves the bytes.
    item.sha256 = sha256Of(item.bytes ?? Buffer.alloc(0));
    this.#current = item;
    this.#playOnce(item, resumed);
  }

  #playOnce(item: Item, resumed = false): void {
    item.play += 1;
    item.startedAt = iso(this.host.now());
    item.playBegan = performance.now();
    this.host.report(item.cmd, 'started', { play: item.play, ...(resumed ? { resumed: true } : {}) });
    const skip = item.skipMs ?? 0;
    item.skipMs = 0;
    item.timer = setTimeout(() => this.#afterPlay(item), this.#scaled(item.cmd.audio.durationMs - skip));
  }

  #afterPlay(item: Item): void {
    if (item.stage !== 'playing') return;
    item.playBegan = null;
    if (item.play < item.cmd.repeat) {
      item.timer = setTimeout(
        () => {
          if (item.stage === 'playing') this.#playOnce(item);
        },
        this.#scaled(this.host.breaks.has('ignore-gap') ? 0 : item.cmd.gapMs),
      );
      return;
    }
    const volume = this.outputVolume;
    this.#drop(item);
    const sha256 = item.sha256 ?? '';
    this.host.report(item.cmd, 'finished', { play: item.play, sha256 });
    this.host.played({
      commandId: item.cmd.id,
      bulletinId: item.cmd.bulletinId,
      sha256,
      plays: item.play,
      priority: item.priority,
      at: iso(this.host.now()),
      volume,
      interruptions: item.interruptions,
    });
    this.#startNext();
  }

  #startNext(): void {
    while (!this.#current) {
      // The other source first, if it has something waiting that the next bulletin does not preempt.
      if (this.host.speaker?.free(this.#queue.items()[0]?.priority ?? null)) return;
      const next = this.#queue.shift();
      if (!next) return;
      const resuming = next.interruptions > 0;
      if (this.#expired(next) && !(resuming && this.host.breaks.has('resume-after-expiry'))) {
        this.#drop(next);
        this.host.report(next.cmd, 'expired', { reason: 'expired' });
        continue;
      }
      const quiet = !this.host.breaks.has('resume-in-quiet-hours') && this.host.quiet?.();
      if (resuming && next.priority !== 'emergency' && quiet) {
        // Quiet hours began while it waited: a normal or priority item does not resume in them.
        this.#drop(next);
        this.host.report(next.cmd, 'failed', {
          reason: 'quiet_hours',
          detail: 'not resumed: the quiet hours began while it waited',
        });
        continue;
      }
      this.#start(next);
    }
  }

  /** Takes an item out of every structure and stops its timers and download; reports nothing. */
  #drop(item: Item): void {
    item.stage = 'done';
    clearTimeout(item.timer);
    clearTimeout(item.expiryTimer);
    item.abort?.abort();
    this.#queue.remove(item);
    this.#downloading.delete(item);
    if (this.#current === item) this.#current = null;
  }

  /** Reports `expired` the moment a waiting (downloading or queued) item passes its expiry. */
  #armExpiry(item: Item): void {
    clearTimeout(item.expiryTimer);
    const wait = Date.parse(item.cmd.expiresAt) - this.host.now() + 1;
    if (wait > MAX_TIMER_MS) return; // far away: checked again before it starts
    item.expiryTimer = setTimeout(
      () => {
        if (item.stage !== 'downloading' && item.stage !== 'queued') return;
        // The clock offset may have changed since the timer was set.
        if (!this.#expired(item)) return this.#armExpiry(item);
        this.#drop(item);
        this.host.report(item.cmd, 'expired', { reason: 'expired' });
      },
      Math.max(0, wait),
    );
  }

  #expired(item: Item): boolean {
    return this.host.now() > Date.parse(item.cmd.expiresAt);
  }

  #canStartNow(priority: Priority): boolean {
    const playing = this.#current ?? this.host.speaker?.holder();
    return !playing || this.#preempts(priority, playing.priority);
  }

  /** Whether a new item of `incoming` priority preempts one of `playing` (§7.3 step 3). */
  #preempts(incoming: Priority, playing: Priority): boolean {
    const b = this.host.breaks;
    if (incoming === playing) {
      if (b.has('preempt-equal')) return true;
      if (incoming === 'emergency' && b.has('emergency-waits')) return false;
    } else if (preempts(incoming, playing) && b.has('no-preempt')) return false;
    return preempts(incoming, playing);
  }

  #scaled(ms: number): number {
    return Math.min(MAX_TIMER_MS, Math.max(0, Math.round(ms * this.host.timeFactor())));
  }

  #rememberStop(cmd: StopCommand): void {
    const mark = { seq: cmd.seq, id: cmd.id };
    if (cmd.bulletinId === undefined) {
      if (!this.#allStop || this.#allStop.seq < cmd.seq) this.#allStop = mark;
      return;
    }
    const known = this.#bulletinStops.get(cmd.bulletinId);
    if (known && known.seq >= cmd.seq) return;
    this.#bulletinStops.delete(cmd.bulletinId);
    this.#bulletinStops.set(cmd.bulletinId, mark);
    if (this.#bulletinStops.size > REMEMBERED_STOPS) {
      const oldest = this.#bulletinStops.keys().next().value;
      if (oldest !== undefined) this.#bulletinStops.delete(oldest);
    }
  }

  /** The id of a stop already applied that covers `cmd`, if any. */
  #stoppedBy(cmd: PlayCommand): string | null {
    if (this.#allStop && cmd.seq < this.#allStop.seq) return this.#allStop.id;
    const stop = this.#bulletinStops.get(cmd.bulletinId);
    return stop && cmd.seq < stop.seq ? stop.id : null;
  }
}
