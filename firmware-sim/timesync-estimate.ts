/**
 * The arithmetic of the time exchange (docs/protocol.md §14.3), kept apart from the messaging so
 * a firmware author can read it alone.
 *
 * Offset θ = controller time − own time. One exchange (t1, t4 on the own clock, t2, t3 on the
 * controller's) proves, whatever the two one-way delays were, that
 *
 *     t3 − t4  ≤  θ  ≤  t2 − t1
 *
 * (the request cannot arrive before it left, nor the reply). Intersecting these intervals over
 * many exchanges takes the shortest way up from one exchange and the shortest way down from
 * another, so it is much tighter than the single exchange of lowest round-trip delay, and it
 * needs no assumption that the delays are symmetric. The midpoint of the intersection is the
 * estimate, its half-width a hard bound on the error (while the drift stays within its bound).
 *
 * Drift: θ changes slowly as the crystals differ. Each burst ends with a point (own time, θ); a
 * least-squares line over the last points gives the rate once they span long enough. Older
 * exchanges are moved to the reference instant along that line and widened by the rate's
 * uncertainty times their age, so they fade out instead of misleading.
 */

/** One completed exchange, all epoch ms: t1, t4 on the receiver's clock, t2, t3 on the controller's. */
export interface TimeSample {
  t1: number;
  t2: number;
  t3: number;
  t4: number;
  /** ((t2 − t1) + (t3 − t4)) / 2 */
  offsetMs: number;
  /** (t4 − t1) − (t3 − t2) */
  delayMs: number;
}

/** The sample of an exchange, or null when its timestamps are impossible (negative delay, t3 < t2). */
export function sampleOf(t1: number, t2: number, t3: number, t4: number): TimeSample | null {
  const sample = rawSample(t1, t2, t3, t4);
  if (!(t3 >= t2) || !(t4 >= t1) || !(sample.delayMs >= 0)) return null;
  return sample;
}

/** The sample of four timestamps as they are, possible or not (sampleOf checks them). */
export function rawSample(t1: number, t2: number, t3: number, t4: number): TimeSample {
  return { t1, t2, t3, t4, offsetMs: (t2 - t1 + (t3 - t4)) / 2, delayMs: t4 - t1 - (t3 - t2) };
}

export interface EstimatorOptions {
  /** exchanges kept (default 64) */
  window: number;
  /** burst points the drift is fitted on (default 8) */
  driftPoints: number;
  /** own-clock span the points must cover before a drift is believed (default 60 s) */
  minDriftSpanMs: number;
  /** largest drift believed, and the uncertainty before one is fitted (default 200 ppm) */
  maxDriftPpm: number;
}

export const ESTIMATOR_DEFAULTS: EstimatorOptions = {
  window: 64,
  driftPoints: 8,
  minDriftSpanMs: 60_000,
  maxDriftPpm: 200,
};

/** The estimate at the reference instant `refOwn` (own clock). */
export interface Estimate {
  refOwn: number;
  offsetMs: number;
  /** half-width of the interval: |error| ≤ this at refOwn */
  boundMs: number;
  /** exchanges it rests on */
  samples: number;
}

export class OffsetEstimator {
  readonly #opts: EstimatorOptions;
  readonly #samples: TimeSample[] = [];
  readonly #points: { own: number; offset: number; bound: number }[] = [];
  /** dθ/d(own), dimensionless; 0 until fitted */
  #slope = 0;
  /** uncertainty of #slope, dimensionless */
  #slopeErr: number;
  #fitted = false;
  #current: Estimate | null = null;

  constructor(opts: Partial<EstimatorOptions> = {}) {
    this.#opts = { ...ESTIMATOR_DEFAULTS, ...opts };
    this.#slopeErr = this.#opts.maxDriftPpm * 1e-6;
  }

  get samples(): readonly TimeSample[] {
    return this.#samples;
  }
  get current(): Estimate | null {
    return this.#current;
  }
  /** The own clock's rate against the controller's, ppm (positive: the own clock runs fast); null until fitted. */
  get driftPpm(): number | null {
    return this.#fitted ? -this.#slope * 1e6 : null;
  }

  add(sample: TimeSample): Estimate | null {
    this.#samples.push(sample);
    if (this.#samples.length > this.#opts.window) this.#samples.shift();
    this.#current = this.#intersect(this.#samples) ?? this.#fallback();
    return this.#current;
  }

  /** The end of a burst: notes a drift point and refits the drift. */
  endBurst(): void {
    const e = this.#current;
    if (!e) return;
    this.#points.push({ own: e.refOwn, offset: e.offsetMs, bound: e.boundMs });
    if (this.#points.length > this.#opts.driftPoints) this.#points.shift();
    this.#fitDrift();
  }

  /** θ at own instant `own`. */
  offsetAt(own: number): number {
    const e = this.#current;
    return e ? e.offsetMs + this.#slope * (own - e.refOwn) : 0;
  }

  /** The error bound at own instant `own`. */
  boundAt(own: number): number {
    const e = this.#current;
    return e ? e.boundMs + this.#slopeErr * Math.abs(own - e.refOwn) : Number.POSITIVE_INFINITY;
  }

  #intersect(samples: readonly TimeSample[]): Estimate | null {
    if (samples.length === 0) return null;
    let ref = Number.NEGATIVE_INFINITY;
    for (const s of samples) ref = Math.max(ref, s.t4);
    const b = this.#slope;
    const u = this.#slopeErr;
    let lo = Number.NEGATIVE_INFINITY;
    let hi = Number.POSITIVE_INFINITY;
    for (const s of samples) {
      lo = Math.max(lo, s.t3 - s.t4 + (b - u) * (ref - s.t4));
      hi = Math.min(hi, s.t2 - s.t1 + (b + u) * (ref - s.t1));
    }
    if (lo > hi) return null;
    return { refOwn: ref, offsetMs: (lo + hi) / 2, boundMs: (hi - lo) / 2, samples: samples.length };
  }

  /**
   * The intervals do not meet: a clock stepped (the controller's was corrected) or the drift left
   * its bound. Forget all but the newest exchanges that still agree, newest first.
   */
  #fallback(): Estimate | null {
    const newest = this.#samples.at(-1)!;
    this.#points.length = 0;
    this.#slope = 0;
    this.#slopeErr = this.#opts.maxDriftPpm * 1e-6;
    this.#fitted = false;
    let keep = 1;
    while (keep < this.#samples.length && this.#intersect(this.#samples.slice(-(keep + 1)))) keep++;
    this.#samples.splice(0, this.#samples.length - keep);
    return this.#intersect(this.#samples) ?? this.#intersect([newest]);
  }

  #fitDrift(): void {
    const pts = this.#points;
    const max = this.#opts.maxDriftPpm * 1e-6;
    const span = pts.length >= 2 ? pts.at(-1)!.own - pts[0]!.own : 0;
    if (span < this.#opts.minDriftSpanMs) {
      this.#slope = 0;
      this.#slopeErr = max;
      this.#fitted = false;
      return;
    }
    const mx = pts.reduce((a, p) => a + p.own, 0) / pts.length;
    const my = pts.reduce((a, p) => a + p.offset, 0) / pts.length;
    let sxy = 0;
    let sxx = 0;
    for (const p of pts) {
      sxy += (p.own - mx) * (p.offset - my);
      sxx += (p.own - mx) ** 2;
    }
    const slope = sxx > 0 ? sxy / sxx : 0;
    this.#slope = Math.max(-max, Math.min(max, slope));
    this.#fitted = true;
    // The two ends' bounds over the span bound the rate's error; 2 ppm for what a line misses.
    this.#slopeErr = Math.min(max, (pts[0]!.bound + pts.at(-1)!.bound) / span + 2e-6);
  }
}
