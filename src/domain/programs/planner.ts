/**
 * From programs to airings: each program's recurrence expanded in the station's time zone over a
 * window, its items resolved, and the officer's order applied where two programs overlap on the
 * same receivers. Pure: the service writes what this computes.
 */
import { randomUUID } from 'node:crypto';
import type { AudioLookup } from './items.js';
import { resolveItems, totalMs } from './items.js';
import { expand } from './recurrence.js';
import type { AiringFields, ProgramRecord } from './repo.js';
import type { ProgramInput, ProgramTarget } from './schema.js';

/** An airing as planned (not yet written), with the id it keeps if it exists already. */
export type PlannedAiring = AiringFields;

/** Expands one program's definition into airings whose instant is in [from, to). */
export function planProgram(
  programId: string,
  version: number,
  body: ProgramInput,
  timeZone: string,
  from: number,
  to: number,
  lookup: AudioLookup,
): PlannedAiring[] {
  if (!body.enabled) return [];
  const { items, problems } = resolveItems(body.items, lookup);
  const durationMs = totalMs(items);
  const graceMs = body.grace * 1000;
  return expand(body.recurrence, timeZone, new Date(from), new Date(to)).map((o) => ({
    id: randomUUID(),
    programId,
    occurrence: o.date,
    programVersion: version,
    title: body.title,
    priority: body.priority,
    at: o.instant,
    local: o.local,
    windowEnd: new Date(Date.parse(o.instant) + durationMs + graceMs).toISOString(),
    durationMs,
    items,
    problems,
    target: body.target,
    graceMs,
    late: body.late,
    resume: body.resume,
    volume: body.volume ?? null,
    adjusted: o.adjusted ?? null,
  }));
}

/** Whether two targets can share a receiver (`receiversOf` resolves zones to receiver ids). */
export function targetsOverlap(
  a: ProgramTarget,
  b: ProgramTarget,
  zoneOf: (receiverId: string) => string | null,
): boolean {
  if (a.all || b.all) return true;
  const zonesA = new Set(a.zones ?? []);
  const zonesB = new Set(b.zones ?? []);
  for (const z of zonesA) if (zonesB.has(z)) return true;
  const rxB = new Set(b.receivers ?? []);
  for (const r of a.receivers ?? []) {
    if (rxB.has(r)) return true;
    const z = zoneOf(r);
    if (z && zonesB.has(z)) return true;
  }
  for (const r of b.receivers ?? []) {
    const z = zoneOf(r);
    if (z && zonesA.has(z)) return true;
  }
  return false;
}

export interface Clash {
  programId: string;
  title: string;
  /** the other program's airing */
  at: string;
  end: string;
  /** this program's airing it overlaps */
  with: { at: string; end: string };
}

const end = (a: { at: string; durationMs: number }) => Date.parse(a.at) + a.durationMs;
const overlaps = (a: PlannedAiring, b: PlannedAiring) =>
  Date.parse(a.at) < end(b) && Date.parse(b.at) < end(a);

/** Airings of `mine` that overlap airings of other programs on shared receivers and have no order. */
export function findClashes(
  mine: { id: string; body: ProgramInput; airings: PlannedAiring[] },
  others: { program: ProgramRecord; airings: PlannedAiring[] }[],
  zoneOf: (receiverId: string) => string | null,
): Clash[] {
  const out: Clash[] = [];
  for (const o of others) {
    if (o.program.id === mine.id || !o.program.body) continue;
    if (mine.body.clashes[o.program.id] || o.program.body.clashes[mine.id]) continue;
    if (!targetsOverlap(mine.body.target, o.program.body.target, zoneOf)) continue;
    for (const a of mine.airings) {
      for (const b of o.airings) {
        if (!overlaps(a, b)) continue;
        out.push({
          programId: o.program.id,
          title: o.program.title,
          at: b.at,
          end: new Date(end(b)).toISOString(),
          with: { at: a.at, end: new Date(end(a)).toISOString() },
        });
      }
    }
  }
  return out.sort((x, y) => Date.parse(x.with.at) - Date.parse(y.with.at)).slice(0, 100);
}

/**
 * Applies the officers' orders to overlapping airings, in place: an airing that goes `after`
 * another starts at its end; one to `skip` is dropped. Returns the airings to drop (by program and
 * occurrence). A chain of orders is followed once, in start order.
 */
export function applyOrders(
  plans: Map<string, { body: ProgramInput; airings: PlannedAiring[] }>,
  zoneOf: (receiverId: string) => string | null,
): Set<string> {
  const skipped = new Set<string>();
  // Normalise every order to "X follows Y" or "X is skipped when it meets Y".
  const rules: { follower: string; leader: string; mode: 'after' | 'skip' }[] = [];
  for (const [id, p] of plans) {
    for (const [other, mode] of Object.entries(p.body.clashes)) {
      if (!plans.has(other)) continue;
      if (mode === 'first') rules.push({ follower: other, leader: id, mode: 'after' });
      else rules.push({ follower: id, leader: other, mode });
    }
  }
  for (const rule of rules) {
    const f = plans.get(rule.follower)!;
    const l = plans.get(rule.leader)!;
    if (!targetsOverlap(f.body.target, l.body.target, zoneOf)) continue;
    for (const a of f.airings) {
      for (const b of l.airings) {
        if (!overlaps(a, b)) continue;
        if (rule.mode === 'skip') {
          skipped.add(`${a.programId}/${a.occurrence}`);
          continue;
        }
        const start = end(b);
        a.at = new Date(start).toISOString();
        a.windowEnd = new Date(start + a.durationMs + a.graceMs).toISOString();
        a.adjusted = 'after_clash';
      }
    }
  }
  return skipped;
}
