/**
 * The arithmetic of an airing's timeline (docs/protocol.md §13): where each item sits, the
 * window, where a late receiver joins, and quiet hours. Pure functions on controller-time
 * instants (epoch ms), so they can be read and tested apart from the timers.
 */
import type { Priority } from '../../src/contract/mqtt.js';
import type { ScheduleDoc, ScheduledAiring, ScheduleItem } from '../../src/contract/schedule.js';

/** An airing with its instants worked out once. */
export interface Timeline {
  airing: ScheduledAiring;
  /** scheduled start, epoch ms */
  at: number;
  /** starts[k]: planned offset of item k from `at` (the sum of the durations before it) */
  starts: number[];
  /** sum of the items' durations */
  total: number;
  /** nothing of the airing sounds after this instant: at + total + graceMs */
  windowEnd: number;
}

export function timelineOf(airing: ScheduledAiring): Timeline {
  const at = Date.parse(airing.at);
  const starts: number[] = [];
  let total = 0;
  for (const item of airing.items) {
    starts.push(total);
    total += item.durationMs;
  }
  return { airing, at, starts, total, windowEnd: at + total + airing.graceMs };
}

/** Where a receiver that can start only at `now` (after `at`) enters the airing. */
export type JoinPoint = { ok: true; item: number; offsetMs: number } | { ok: false; reason: 'late' };

/**
 * `late: 'join'`: the item whose slot holds `now`, at the offset due (items before it are
 * skipped); nothing left to join once the last slot has passed. `late: 'skip'`: from the start
 * when at most `toleranceMs` late, else nothing.
 */
export function joinPoint(t: Timeline, now: number, toleranceMs: number): JoinPoint {
  const late = now - t.at;
  if (late <= 0) return { ok: true, item: 0, offsetMs: 0 };
  if (t.airing.late === 'skip')
    return late <= toleranceMs ? { ok: true, item: 0, offsetMs: 0 } : { ok: false, reason: 'late' };
  for (let k = 0; k < t.starts.length; k++) {
    const start = t.at + (t.starts[k] ?? 0);
    const end = start + (t.airing.items[k]?.durationMs ?? 0);
    if (now < end) return { ok: true, item: k, offsetMs: Math.max(0, Math.round(now - start)) };
  }
  return { ok: false, reason: 'late' };
}

/** Quiet hours apply to normal and priority items; emergencies sound inside them. */
export function quietApplies(priority: Priority): boolean {
  return priority !== 'emergency';
}

/** Whether `now` falls inside one of the document's quiet intervals [start, end). */
export function inQuiet(doc: ScheduleDoc | null, now: number): boolean {
  if (!doc) return false;
  return doc.quiet.some((q) => now >= Date.parse(q.start) && now < Date.parse(q.end));
}

/** The sha256 of every asset an airing needs: its audio items and its relays' fallbacks. */
export function assetsOf(airing: ScheduledAiring): string[] {
  const need = new Set<string>();
  for (const item of airing.items) {
    if (item.kind === 'audio') need.add(item.sha256);
    else if (item.kind === 'relay' && item.fallback) need.add(item.fallback);
  }
  return [...need];
}

/** The asset an item plays from the cache, if any (a relay's is its fallback, used only on failure). */
export function assetOf(item: ScheduleItem): string | undefined {
  if (item.kind === 'audio') return item.sha256;
  if (item.kind === 'relay') return item.fallback;
  return undefined;
}
