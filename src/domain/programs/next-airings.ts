/**
 * The next airings of a recurrence after an instant, and their local wall-clock form, for
 * summaries (`npm run schedules -- check`) and previews. Builds on `expand` (./recurrence.ts).
 */
import { Temporal } from 'temporal-polyfill';
import { expand, type Occurrence, type Recurrence } from './recurrence.js';

const DAY = 86_400_000;
/** Widening windows: most programs air within two weeks; a yearly one within 400 days. */
const WINDOWS_DAYS = [15, 400, 3 * 366];

/**
 * The first `count` airings of `r` at or after `now`, in `timeZone`. Bounded: looks at most three
 * years ahead (a program with none in that time returns fewer).
 */
export function nextAirings(r: Recurrence, timeZone: string, now: Date, count: number): Occurrence[] {
  let found: Occurrence[] = [];
  for (const days of WINDOWS_DAYS) {
    found = expand(r, timeZone, now, new Date(now.getTime() + days * DAY), count);
    if (found.length >= count) break;
  }
  return found.slice(0, count);
}

export interface LocalTime {
  /** YYYY-MM-DD */
  date: string;
  /** Mon … Sun */
  weekday: string;
  /** HH:MM */
  time: string;
  /** +07:00 */
  offset: string;
}

const WEEKDAY_NAMES = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/** An instant as the station's clock on the wall shows it. */
export function localTime(instant: string, timeZone: string): LocalTime {
  const z = Temporal.Instant.from(instant).toZonedDateTimeISO(timeZone);
  return {
    date: z.toPlainDate().toString(),
    weekday: WEEKDAY_NAMES[z.dayOfWeek - 1]!,
    time: z.toPlainTime().toString({ smallestUnit: 'minute' }),
    offset: z.offset,
  };
}
