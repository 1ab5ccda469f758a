/** Small building blocks shared by the receiver simulator. */
import type { EventEmitter } from 'node:events';

/** The longest delay `setTimeout` honours; longer ones fire at once, so callers must clamp. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * The command ids a receiver has handled, each kept until it can no longer be valid: its
 * `expiresAt` plus the clock-skew tolerance (after that, a replayed copy is refused as expired).
 * A command can reach a receiver twice legitimately (its own topic and a zone topic, a QoS 1
 * redelivery, a resend after a reconnection) and illegitimately (a replay); either way it is
 * handled once. A firmware keeps this memory in non-volatile storage, so that a reboot does not
 * reopen the window (docs/protocol.md §7.1); the simulator keeps it for the object's lifetime.
 */
export class ReplayMemory {
  /** id → receiver-clock instant after which it may be forgotten */
  readonly #ids = new Map<string, number>();
  #adds = 0;

  /** @param capacity beyond this many live ids, those expiring soonest are forgotten first */
  constructor(private readonly capacity = 10_000) {}

  has(id: string, now: number): boolean {
    const until = this.#ids.get(id);
    if (until === undefined) return false;
    if (until < now) {
      this.#ids.delete(id);
      return false;
    }
    return true;
  }

  /** Remembers `id` until `until` (receiver clock, epoch ms). */
  /** Forgets every id (a memory that did not survive a power cut: a deliberate violation). */
  clear(): void {
    this.#ids.clear();
  }

  add(id: string, until: number, now: number): void {
    this.#ids.set(id, until);
    if (++this.#adds % 256 === 0 || this.#ids.size > this.capacity) this.#prune(now);
  }

  get size(): number {
    return this.#ids.size;
  }

  #prune(now: number): void {
    for (const [id, until] of this.#ids) if (until < now) this.#ids.delete(id);
    while (this.#ids.size > this.capacity) {
      let soonest: string | undefined;
      let min = Number.POSITIVE_INFINITY;
      for (const [id, until] of this.#ids) {
        if (until < min) {
          min = until;
          soonest = id;
        }
      }
      if (soonest === undefined) break;
      this.#ids.delete(soonest);
    }
  }
}

/**
 * Runs async jobs one after another. Subscription changes (connect, config) must not interleave:
 * an unsubscribe racing a subscribe for the same topic would leave the receiver deaf or chatty.
 */
export class Serial {
  #tail: Promise<void> = Promise.resolve();

  run(job: () => Promise<void>): Promise<void> {
    const next = this.#tail.then(job);
    // The chain itself never rejects; each caller sees its own job's outcome.
    this.#tail = next.catch(() => undefined);
    return next;
  }
}

/**
 * Reconnect delay with exponential growth and full jitter: a thousand receivers losing the
 * broker at once must not all come back in the same millisecond.
 */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 20));
  return Math.round(minMs / 2 + random() * (ceiling - minMs / 2));
}

/** ISO-8601 text of an epoch-milliseconds instant. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** A short description of an unknown thrown value, for logs and event details. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    const code =
      cause && typeof cause === 'object' && 'code' in cause && typeof cause.code === 'string'
        ? cause.code
        : null;
    return code ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

/**
 * Resolves with the first value matching `predicate`, among `past` values first, then among
 * those `subscribe` delivers; rejects after `timeoutMs` with `describe()` as the message.
 */
export function waitForMatch<T>(
  subscribe: (listener: (value: T) => void) => () => void,
  predicate: (value: T) => boolean,
  timeoutMs: number,
  past: readonly T[],
  describe: () => string,
): Promise<T> {
  return new Promise((resolve, reject) => {
    try {
      const seen = past.find(predicate);
      if (seen !== undefined) return resolve(seen);
    } catch (err) {
      return reject(err);
    }
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(describe()));
    }, timeoutMs);
    const unsubscribe = subscribe((value) => {
      let hit: boolean;
      try {
        hit = predicate(value);
      } catch (err) {
        clearTimeout(timer);
        unsubscribe();
        return reject(err);
      }
      if (!hit) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(value);
    });
  });
}

/** `promise`, or a rejection after `ms`. */
export function bounded<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Runs `fn` over `items` with at most `limit` at a time; settles every item, like
 * Promise.allSettled, in input order.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      try {
        results[index] = { status: 'fulfilled', value: await fn(items[index] as T, index) };
      } catch (reason) {
        results[index] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/** Resolves with the name of the first of `names` that `emitter` emits; rejects after `timeoutMs`. */
export function firstOf<N extends string>(
  emitter: Pick<EventEmitter, 'on' | 'off'>,
  names: readonly N[],
  timeoutMs: number,
  describe: () => string,
): Promise<N> {
  const subscribe = (listener: (name: N) => void) => {
    const handlers = names.map((name) => [name, () => listener(name)] as const);
    for (const [name, handler] of handlers) emitter.on(name, handler);
    return () => {
      for (const [name, handler] of handlers) emitter.off(name, handler);
    };
  };
  return waitForMatch(subscribe, () => true, timeoutMs, [], describe);
}
