/**
 * When a program airs: its recurrence (one-off, daily, chosen weekdays every N weeks, within a date
 * range, with exception dates and single airings moved), expanded into instants in the station's
 * IANA time zone. The first layer of the schedules issue (issue 8); nothing calls it yet.
 *
 * The date pattern is RFC 5545 recurrence (rrule-temporal), evaluated on wall-clock dates; each
 * date and start time is then placed in the time zone, so a daylight-saving change never moves a
 * program off its local time. Stated policy for the two awkward cases (RFC 5545 would drop the
 * first, which for a broadcast would mean dead air):
 * - a local start time that does not exist that day (clocks jump forward over it) airs at the same
 *   time after the jump, e.g. 02:30 → 03:30 (`adjusted: 'gap'`);
 * - a local start time that occurs twice (clocks fall back) airs at the first (`adjusted: 'repeated'`).
 * Vietnam has no daylight saving; the policy matters for deployments elsewhere.
 */
import { RRuleTemporal } from 'rrule-temporal';
import { Temporal } from 'temporal-polyfill';
import { z } from 'zod';

const date = z.iso.date().describe('a local date, YYYY-MM-DD');
const time = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a local time HH:MM, 24-hour')
  .describe('local start time, HH:MM');
export const WEEKDAYS = ['mo', 'tu', 'we', 'th', 'fr', 'sa', 'su'] as const;

const common = {
  /** local start time of each airing */
  at: time,
  /** first date the program may air (inclusive) */
  from: date,
  /** last date (inclusive); absent: no end */
  until: date.optional(),
  /** dates on which it does not air */
  except: z.array(date).max(1000).default([]),
  /** single airings moved to another local date and time (or cancelled with `to: null`) */
  moved: z
    .array(z.object({ date, to: z.iso.datetime({ local: true }).nullable() }))
    .max(1000)
    .default([]),
};

export const recurrenceSchema = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('once'), ...common }),
    z.object({
      kind: z.literal('daily'),
      /** every N days */
      every: z.number().int().min(1).max(366).default(1),
      ...common,
    }),
    z.object({
      kind: z.literal('weekly'),
      days: z.array(z.enum(WEEKDAYS)).min(1).max(7),
      /** every N weeks, counted from the week of `from` */
      every: z.number().int().min(1).max(52).default(1),
      ...common,
    }),
  ])
  .refine((r) => !r.until || r.until >= r.from, { message: '"until" is before "from"', path: ['until'] });
export type Recurrence = z.infer<typeof recurrenceSchema>;

export interface Occurrence {
  /** the local date the airing belongs to (its key: at most one airing per program and date) */
  date: string;
  /** local wall-clock start as scheduled, YYYY-MM-DDTHH:MM */
  local: string;
  /** the instant, ISO 8601 UTC */
  instant: string;
  /** set when the local time had to be placed around a daylight-saving change, or was moved */
  adjusted?: 'gap' | 'repeated' | 'moved';
}

/** The RFC 5545 rule of a recurrence, on wall-clock dates (evaluated in UTC: no DST there). */
function ruleOf(r: Recurrence): RRuleTemporal {
  const [h, m] = r.at.split(':').map(Number) as [number, number];
  const [y, mo, d] = r.from.split('-').map(Number) as [number, number, number];
  const dtstart = { year: y, month: mo, day: d, hour: h, minute: m, timeZone: 'UTC' };
  const until = r.until
    ? { until: Temporal.PlainDate.from(r.until).toZonedDateTime({ timeZone: 'UTC', plainTime: '23:59:59' }) }
    : {};
  const base = { tzid: 'UTC', dtstart: Temporal.ZonedDateTime.from(dtstart), ...until };
  switch (r.kind) {
    case 'once':
      return new RRuleTemporal({ ...base, freq: 'DAILY', count: 1 } as never);
    case 'daily':
      return new RRuleTemporal({ ...base, freq: 'DAILY', interval: r.every } as never);
    case 'weekly':
      return new RRuleTemporal({
        ...base,
        freq: 'WEEKLY',
        interval: r.every,
        byDay: r.days.map((x) => x.toUpperCase()),
        wkst: 'MO',
      } as never);
  }
}

/** Places a local date and time in `timeZone` by the policy above. */
export function placeLocal(
  local: Temporal.PlainDateTime,
  timeZone: string,
): { instant: Temporal.Instant; adjusted?: 'gap' | 'repeated' } {
  const earlier = local.toZonedDateTime(timeZone, { disambiguation: 'earlier' });
  const later = local.toZonedDateTime(timeZone, { disambiguation: 'later' });
  const wallEarlier = earlier.toPlainDateTime();
  if (Temporal.PlainDateTime.compare(wallEarlier, local) !== 0) {
    // In a gap: 'later' is the same wall time after the jump (02:30 → 03:30 for a 1 h jump).
    return { instant: later.toInstant(), adjusted: 'gap' };
  }
  if (!earlier.toInstant().equals(later.toInstant()))
    return { instant: earlier.toInstant(), adjusted: 'repeated' };
  return { instant: earlier.toInstant() };
}

/**
 * The airings of `r` whose instant falls in [`fromInstant`, `toInstant`), in `timeZone`, in order.
 * Bounded: at most `limit` occurrences (default 10 000).
 */
export function expand(
  r: Recurrence,
  timeZone: string,
  fromInstant: Date,
  toInstant: Date,
  limit = 10_000,
): Occurrence[] {
  const except = new Set(r.except);
  const moved = new Map(r.moved.map((m) => [m.date, m.to]));
  // Local dates can be a day either side of the UTC window; widen, then filter by instant.
  const day = 86_400_000;
  const lo = Temporal.Instant.fromEpochMilliseconds(fromInstant.getTime() - 2 * day).toZonedDateTimeISO(
    'UTC',
  );
  const hi = Temporal.Instant.fromEpochMilliseconds(toInstant.getTime() + 2 * day).toZonedDateTimeISO('UTC');
  const rule = ruleOf(r);
  const wall = rule.between(lo as never, hi as never, true) as unknown as { toString(): string }[];
  const out: Occurrence[] = [];
  const push = (o: Occurrence) => {
    const t = Date.parse(o.instant);
    if (t >= fromInstant.getTime() && t < toInstant.getTime()) out.push(o);
  };
  for (const w of wall) {
    const local = Temporal.PlainDateTime.from(
      w
        .toString()
        .replace(/\[.*\]$/, '')
        .replace(/[+-]\d\d:\d\d$|Z$/, ''),
    );
    const dateKey = local.toPlainDate().toString();
    if (except.has(dateKey)) continue;
    if (moved.has(dateKey)) {
      const to = moved.get(dateKey);
      if (!to) continue;
      const target = Temporal.PlainDateTime.from(to);
      push({
        date: dateKey,
        local: target.toString({ smallestUnit: 'minute' }),
        instant: placeLocal(target, timeZone).instant.toString(),
        adjusted: 'moved',
      });
      continue;
    }
    const placed = placeLocal(local, timeZone);
    push({
      date: dateKey,
      local: local.toString({ smallestUnit: 'minute' }),
      instant: placed.instant.toString(),
      ...(placed.adjusted ? { adjusted: placed.adjusted } : {}),
    });
    if (out.length >= limit) break;
  }
  return out.sort((a, b) => Date.parse(a.instant) - Date.parse(b.instant));
}
