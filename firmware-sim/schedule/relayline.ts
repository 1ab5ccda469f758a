/**
 * A relay's connection, opened a moment ahead of its slot (docs/protocol.md §13.7) so that the
 * stream sounds at the slot instant instead of when a slow server first answers. One per relay
 * item; whoever holds it closes it, whether it was used or not.
 */
import { type OpenStream, openStream } from './relay.js';

export type Opened = { ok: true; stream: OpenStream } | { ok: false; detail: string };

/** How long ahead of its slot a relay connects by default (controller time). */
export const RELAY_LEAD_MS = 2000;

export class RelayLine {
  readonly #abort = new AbortController();
  #result: Opened | null = null;
  #closed = false;
  /** resolves once the server answered, or the connection failed (never rejects) */
  readonly settled: Promise<Opened>;

  constructor(
    readonly url: string,
    connectTimeoutMs: number,
  ) {
    this.settled = openStream(url, this.#abort.signal, connectTimeoutMs).then((r) => {
      if (this.#closed && r.ok) r.stream.close();
      this.#result = r;
      return r;
    });
  }

  /** The answer, once it came (null while connecting). */
  get result(): Opened | null {
    return this.#result;
  }

  /** Hangs up (or gives up connecting). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    if (this.#result?.ok) this.#result.stream.close();
  }

  /**
   * Hangs up after the current turn of the event loop: tearing a connection down costs a few
   * milliseconds, which must not delay what sounds next at its slot.
   */
  closeSoon(): void {
    setImmediate(() => this.close());
  }
}
