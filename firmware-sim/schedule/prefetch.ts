/**
 * Prefetch (docs/protocol.md §13.4): each airing's audio is fetched `prefetchMs` ahead of its
 * instant, into the receiver's audio cache, with the receiver's credentials and the same
 * download, checks and retries as a command's audio. One download per file, however many airings
 * use it; retried until the last airing needing it has closed its window.
 */
import type { Logger } from 'pino';
import type { AudioRef } from '../../src/contract/mqtt.js';
import type { ScheduleAsset } from '../../src/contract/schedule.js';
import { at, type Clock, type Timer } from '../../src/time/clock.js';
import { type AudioCache, intern } from '../cache.js';
import type { DownloadResult } from '../download.js';

interface Fetch {
  abort: AbortController;
  deadline: number;
  deadlineTimer: Timer;
  done: Promise<void>;
}

export interface PrefetchHost {
  /** controller time scale (instants of the document) */
  clock: Clock;
  cache: AudioCache;
  download(audio: AudioRef, signal: AbortSignal): Promise<DownloadResult>;
  log: Logger;
}

/** Downloads in flight, by sha256. */
export class Prefetcher {
  readonly #inFlight = new Map<string, Fetch>();
  /** files whose last download failed for good (the item is `skipped`/`not_ready` at its turn) */
  readonly #failed = new Set<string>();

  constructor(private readonly host: PrefetchHost) {}

  /** Whether every one of `shas` is held. */
  holds(shas: readonly string[]): boolean {
    return shas.every((sha) => this.host.cache.has(sha));
  }

  /** Whether nothing of `shas` is still being fetched (each is held or has failed). */
  settled(shas: readonly string[]): boolean {
    return shas.every((sha) => !this.#inFlight.has(sha));
  }

  /**
   * Fetches every asset of `assets` not held, trying until `deadline` (controller time); resolves
   * when all have settled (held or failed for good).
   */
  fetch(assets: readonly ScheduleAsset[], deadline: number): Promise<void> {
    return Promise.all(assets.map((a) => this.#one(a, deadline))).then(() => undefined);
  }

  /** Aborts every download (the receiver stops). */
  shutdown(): void {
    for (const f of this.#inFlight.values()) {
      f.deadlineTimer.cancel();
      f.abort.abort();
    }
    this.#inFlight.clear();
  }

  #one(asset: ScheduleAsset, deadline: number): Promise<void> {
    if (this.host.cache.has(asset.sha256)) return Promise.resolve();
    const running = this.#inFlight.get(asset.sha256);
    if (running) {
      if (deadline > running.deadline) {
        running.deadline = deadline;
        running.deadlineTimer.cancel();
        running.deadlineTimer = at(this.host.clock, deadline, () => running.abort.abort());
      }
      return running.done;
    }
    const abort = new AbortController();
    const f: Fetch = {
      abort,
      deadline,
      deadlineTimer: at(this.host.clock, deadline, () => abort.abort()),
      done: Promise.resolve(),
    };
    this.#inFlight.set(asset.sha256, f);
    this.#failed.delete(asset.sha256);
    f.done = this.host
      .download(asset, abort.signal)
      .catch(
        (err: unknown): DownloadResult => ({
          ok: false,
          reason: 'download_failed',
          detail: String(err),
          aborted: false,
        }),
      )
      .then((result) => {
        f.deadlineTimer.cancel();
        if (this.#inFlight.get(asset.sha256) === f) this.#inFlight.delete(asset.sha256);
        if (result.ok) {
          this.host.cache.set(asset.sha256, intern(asset.sha256, result.bytes));
          return;
        }
        this.#failed.add(asset.sha256);
        this.host.log.warn(
          { sha256: asset.sha256, reason: result.reason, detail: result.detail },
          'sim: schedule audio not fetched',
        );
      });
    return f.done;
  }
}
