/**
 * What a simulated receiver's hardware does to time: its own clock (an offset and a drift from the
 * true time scale) and its network link (one-way delays on the way up and down).
 *
 * These model the world, not the firmware: `timesync.ts` is what a firmware does about them.
 */

/** One-way network delays in milliseconds of real time, drawn per message. */
export interface OneWayDelays {
  /** receiver → broker → controller */
  upMs: () => number;
  /** controller → broker → receiver */
  downMs: () => number;
}

/**
 * The receiver's own clock reading for a true instant: `true + offset + drift·(true − t0)`.
 * `driftPpm` > 0 runs fast (a crystal of +50 ppm gains 4.3 s a day).
 */
export function ownTime(trueNow: number, offsetMs: number, driftPpm: number, t0: number): number {
  return trueNow + offsetMs + driftPpm * 1e-6 * (trueNow - t0);
}

/**
 * A one-way delay that keeps order, as a TCP connection does: each message is handed on `delay()`
 * real ms after it entered, but never before the one that entered before it (head-of-line
 * blocking). Messages still held when `clear()` is called (the connection died) are lost.
 */
export class DelayLine {
  /** held messages, in order of entry (so also of due time) */
  readonly #queue: { due: number; deliver: () => void }[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly delay: () => number) {}

  /** Hands `deliver` on after the delay. */
  push(deliver: () => void): void {
    const d = this.delay();
    const now = performance.now();
    const last = this.#queue.at(-1)?.due ?? 0;
    this.#queue.push({ due: Math.max(now + (Number.isFinite(d) && d > 0 ? d : 0), last), deliver });
    if (this.#queue.length === 1) this.#arm();
  }

  /** Drops everything held. */
  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
  }

  #arm(): void {
    const head = this.#queue[0];
    if (!head) return;
    this.#timer = setTimeout(() => this.#drain(), Math.max(0, head.due - performance.now()));
  }

  #drain(): void {
    this.#timer = undefined;
    const now = performance.now();
    // Bounded by the queue's length; a deliver() that pushes again lands behind.
    for (let n = this.#queue.length; n > 0 && this.#queue[0]!.due <= now + 0.5; n--) {
      const { deliver } = this.#queue.shift()!;
      try {
        deliver();
      } catch {
        // a receiver's handler contains its own errors; nothing to do here
      }
    }
    this.#arm();
  }
}
