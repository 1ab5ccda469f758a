/**
 * The play queue: emergency before priority before normal, then first come first served
 * (Circular 39/2020/TT-BTTTT priority levels, see `PRIORITIES` in the contract).
 */
import { type Priority, priorityRank } from '../../src/contract/mqtt.js';

/** What the queue orders by. */
export interface Queueable {
  priority: Priority;
  /** arrival order, increasing */
  arrival: number;
}

/** Items waiting to play, in play order. */
export class PlayQueue<T extends Queueable> {
  readonly #items: T[] = [];

  /**
   * Inserts `item` after every item of higher or equal priority (stable for equal ones).
   * `arrivalOnly` is the simulator's break `fifo-queue` (../breaks.ts): priority ignored.
   */
  push(item: T, arrivalOnly = false): void {
    const rank = (x: T) => (arrivalOnly ? 0 : priorityRank(x.priority));
    let at = this.#items.findIndex(
      (other) => rank(other) < rank(item) || (rank(other) === rank(item) && other.arrival > item.arrival),
    );
    if (at < 0) at = this.#items.length;
    this.#items.splice(at, 0, item);
  }

  /** Takes the item to play next. */
  shift(): T | undefined {
    return this.#items.shift();
  }

  /** Removes `item` if queued; returns whether it was. */
  remove(item: T): boolean {
    const at = this.#items.indexOf(item);
    if (at < 0) return false;
    this.#items.splice(at, 1);
    return true;
  }

  /** A copy, in play order. */
  items(): T[] {
    return [...this.#items];
  }

  clear(): void {
    this.#items.length = 0;
  }

  get size(): number {
    return this.#items.length;
  }
}
