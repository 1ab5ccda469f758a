/**
 * Wall-clock dates and times in the station's time zone (not the phone's): what the calendar
 * shows, and the instants an officer's date and time inputs mean there.
 */
import { locale } from '../i18n';

const wall = (timeZone: string) =>
  new Intl.DateTimeFormat('sv-SE', { timeZone, dateStyle: 'short', timeStyle: 'short' });

/** A local date YYYY-MM-DD in `timeZone`, `offsetDays` from now. */
export function localDate(timeZone: string, offsetDays = 0, now = Date.now()): string {
  return new Intl.DateTimeFormat('sv-SE', { timeZone, dateStyle: 'short' }).format(
    new Date(now + offsetDays * 86_400_000),
  );
}

/** The local date and time YYYY-MM-DDTHH:MM of an instant in `timeZone`. */
export const localAt = (iso: string | number, timeZone: string): string =>
  wall(timeZone).format(new Date(iso)).replace(' ', 'T');

/** The instant (ISO 8601 UTC) a local date and time YYYY-MM-DDTHH:MM is in `timeZone`. */
export function localInstant(local: string, timeZone: string): string {
  const guess = Date.parse(`${local}:00Z`);
  const offset = Date.parse(`${localAt(guess, timeZone)}:00Z`) - guess;
  return new Date(guess - offset).toISOString();
}

/** The instant a local date begins in `timeZone`, ISO 8601 UTC. */
export const startOfLocalDay = (date: string, timeZone: string): string =>
  localInstant(`${date}T00:00`, timeZone);

/** The date after a date YYYY-MM-DD. */
export const nextDate = (d: string): string =>
  new Date(Date.parse(`${d}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);

/** An instant as the officer reads it, "06:30 4/12/2026", on the station's clock. */
export const formatLocal = (iso: string, timeZone: string): string =>
  new Intl.DateTimeFormat(locale.value, { timeZone, dateStyle: 'short', timeStyle: 'short' }).format(
    new Date(iso),
  );

/** The date of an instant as the officer reads it, "4/12/2026", on the station's clock. */
export const formatLocalDay = (iso: string | number, timeZone: string): string =>
  new Intl.DateTimeFormat(locale.value, { timeZone, dateStyle: 'short' }).format(new Date(iso));
