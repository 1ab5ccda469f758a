/** Seeded randomness for fleets and fault schedules: the same seed gives the same run. */

/** mulberry32: small, fast, and the same sequence for the same seed; values in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A source of values drawn uniformly from [lo, hi) with `rnd`. */
export const uniform =
  (rnd: () => number, lo: number, hi: number): (() => number) =>
  () =>
    lo + rnd() * (hi - lo);
