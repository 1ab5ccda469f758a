/**
 * The receiver's audio cache: checked bytes by sha256, least recently used evicted first.
 * A real receiver keeps this on flash; the simulator keeps it in memory.
 */
import { createHash } from 'node:crypto';

/**
 * Process-wide pool of verified audio by sha256. A thousand simulated receivers in one process
 * each download and check their own copy of a bulletin, but then keep one shared Buffer:
 * otherwise a fleet-wide 2 MB alert would hold 2 GB.
 */
const pool = new Map<string, WeakRef<Buffer>>();
const reclaimed = new FinalizationRegistry<string>((sha256) => {
  if (!pool.get(sha256)?.deref()) pool.delete(sha256);
});

/**
 * The shared Buffer for content `sha256`. Only for bytes already checked against `sha256`:
 * the pool trusts the key.
 */
export function intern(sha256: string, bytes: Buffer): Buffer {
  const known = pool.get(sha256)?.deref();
  if (known && known.byteLength === bytes.byteLength) return known;
  pool.set(sha256, new WeakRef(bytes));
  reclaimed.register(bytes, sha256);
  return bytes;
}

const hashes = new WeakMap<Buffer, string>();

/** sha256 of `bytes`, remembered per Buffer (cached audio is never modified after its check). */
export function sha256Of(bytes: Buffer): string {
  let hash = hashes.get(bytes);
  if (hash === undefined) {
    hash = createHash('sha256').update(bytes).digest('hex');
    hashes.set(bytes, hash);
  }
  return hash;
}
/** A bounded LRU map sha256 → checked bytes: one receiver's cache. */
export class AudioCache {
  readonly #items = new Map<string, Buffer>();
  #bytes = 0;

  /**
   * @param maxItems most files kept (the status message lists at most 200)
   * @param maxBytes most bytes kept, so a fleet of a thousand simulated receivers stays small
   */
  constructor(
    readonly maxItems = 50,
    readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  /** The bytes for `sha256`, marking them recently used; undefined when absent. */
  get(sha256: string): Buffer | undefined {
    const bytes = this.#items.get(sha256);
    if (bytes) {
      // Re-inserting moves the key to the end of the Map's iteration order: most recent.
      this.#items.delete(sha256);
      this.#items.set(sha256, bytes);
    }
    return bytes;
  }

  has(sha256: string): boolean {
    return this.#items.has(sha256);
  }

  /** Stores checked bytes, evicting the least recently used files beyond the bounds. */
  set(sha256: string, bytes: Buffer): void {
    const old = this.#items.get(sha256);
    if (old) {
      this.#bytes -= old.byteLength;
      this.#items.delete(sha256);
    }
    this.#items.set(sha256, bytes);
    this.#bytes += bytes.byteLength;
    for (const [key, value] of this.#items) {
      if (this.#items.size <= this.maxItems && this.#bytes <= this.maxBytes) break;
      if (key === sha256) continue;
      this.#items.delete(key);
      this.#bytes -= value.byteLength;
    }
  }

  delete(sha256: string): void {
    const old = this.#items.get(sha256);
    if (!old) return;
    this.#bytes -= old.byteLength;
    this.#items.delete(sha256);
  }

  clear(): void {
    this.#items.clear();
    this.#bytes = 0;
  }

  /** sha256 of every cached file, least recently used first. */
  keys(): string[] {
    return [...this.#items.keys()];
  }

  get size(): number {
    return this.#items.size;
  }
}
