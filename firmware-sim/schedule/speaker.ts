/**
 * One loudspeaker, two sources: the bulletin player (play commands) and the schedule (airings).
 * The receiver is the judge of who sounds (docs/protocol.md §13.8), by the one rule of the
 * contract, `preempts(incoming, playing)`: higher preempts lower, an emergency preempts anything,
 * equal normal or priority items wait their turn.
 */
import { type Priority, preempts, priorityRank } from '../../src/contract/mqtt.js';

/** What holds the loudspeaker: a bulletin's command or an airing. */
export interface Holder {
  id: string;
  priority: Priority;
}

/** An airing due now, against what sounds: start at once, take over from it, or wait for it. */
export function arbitrate(incoming: Priority, holder: Holder | null): 'start' | 'preempt' | 'wait' {
  if (!holder) return 'start';
  return preempts(incoming, holder.priority) ? 'preempt' : 'wait';
}

/** A waiting airing, as the choice below sees it. */
export interface Waiting {
  priority: Priority;
  /** scheduled instant, epoch ms: the earlier goes first among equals */
  at: number;
}

/**
 * The loudspeaker is free: the waiting airing to sound now, or null when none waits or the next
 * queued bulletin (`nextBulletin`) would preempt it anyway, in which case the bulletin goes first.
 * An interrupted airing thus resumes before bulletins of its own priority that queued behind it.
 */
export function pickWaiting<T extends Waiting>(
  waiting: readonly T[],
  nextBulletin: Priority | null,
): T | null {
  let best: T | null = null;
  for (const w of waiting) {
    if (!best) best = w;
    else {
      const d = priorityRank(w.priority) - priorityRank(best.priority);
      if (d > 0 || (d === 0 && w.at < best.at)) best = w;
    }
  }
  if (!best) return null;
  if (nextBulletin && preempts(nextBulletin, best.priority)) return null;
  return best;
}
