/** A bulletin's deliveries counted by state: what the officer's progress bar shows. */
import { DELIVERY_STATES, type DeliveryState } from './states.js';

export interface BulletinSummary {
  total: number;
  byState: Record<DeliveryState, number>;
  /** deliveries in a final state */
  finished: number;
  /** deliveries that reached the receiver's speaker (playing or done) */
  played: number;
}

/** Counts deliveries by state. */
export function summarize(deliveries: Iterable<{ state: DeliveryState }>): BulletinSummary {
  const byState = Object.fromEntries(DELIVERY_STATES.map((s) => [s, 0])) as Record<DeliveryState, number>;
  let total = 0;
  for (const d of deliveries) {
    byState[d.state] += 1;
    total += 1;
  }
  const finished = byState.done + byState.failed + byState.expired + byState.preempted + byState.cancelled;
  return { total, byState, finished, played: byState.playing + byState.done };
}
