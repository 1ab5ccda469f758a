/**
 * A program's items as they will air: each audio reference looked up in the library (id,
 * `sha256:<hex>` or name), each duration in milliseconds. What cannot be resolved is left out of
 * the airing and named in its problems, so the officer sees it and the rest still airs.
 */
import { Temporal } from 'temporal-polyfill';
import type { Db } from '../../storage/db.js';
import type { ProgramItemInput, QuietHours } from './schema.js';

export interface AiringAudio {
  audioId: string;
  name: string;
  sha256: string;
  size: number;
  durationMs: number;
  mime: string;
}

export type AiringItem =
  | ({ kind: 'audio' } & AiringAudio)
  | { kind: 'relay'; url: string; durationMs: number; fallback?: AiringAudio }
  | { kind: 'pause'; durationMs: number };

export interface Resolved {
  items: AiringItem[];
  problems: string[];
}

interface AudioRow {
  id: string;
  name: string;
  sha256: string;
  size: number;
  duration_ms: number;
  mime: string;
}

export type AudioLookup = (ref: string) => AiringAudio | null;

/** Looks audio up by id, `sha256:<hex>`, or name (the newest file of that name), skipping deleted files. */
export function audioLookup(db: Db): AudioLookup {
  const byId = db.prepare<[string], AudioRow>(
    'SELECT id, name, sha256, size, duration_ms, mime FROM audio WHERE id = ? AND deleted_at IS NULL',
  );
  const bySha = db.prepare<[string], AudioRow>(
    'SELECT id, name, sha256, size, duration_ms, mime FROM audio WHERE sha256 = ? AND deleted_at IS NULL',
  );
  const byName = db.prepare<[string], AudioRow>(
    `SELECT id, name, sha256, size, duration_ms, mime FROM audio
     WHERE name = ? AND deleted_at IS NULL ORDER BY created_at DESC, id LIMIT 1`,
  );
  const to = (r: AudioRow | undefined): AiringAudio | null =>
    r
      ? {
          audioId: r.id,
          name: r.name,
          sha256: r.sha256,
          size: r.size,
          durationMs: r.duration_ms,
          mime: r.mime,
        }
      : null;
  return (ref) => {
    if (ref.startsWith('sha256:')) return to(bySha.get(ref.slice(7).toLowerCase()));
    return to(byId.get(ref)) ?? to(byName.get(ref));
  };
}

/** The items of a program, resolved; playable audio only (a file with no duration is a problem). */
export function resolveItems(items: readonly ProgramItemInput[], lookup: AudioLookup): Resolved {
  const out: AiringItem[] = [];
  const problems: string[] = [];
  items.forEach((item, i) => {
    const n = i + 1;
    if (item.kind === 'pause') {
      out.push({ kind: 'pause', durationMs: item.duration * 1000 });
      return;
    }
    if (item.kind === 'relay') {
      const fallback = item.fallback ? lookup(item.fallback) : null;
      if (item.fallback && !fallback)
        problems.push(`item ${n}: fallback audio "${item.fallback}" is not in the library`);
      out.push({
        kind: 'relay',
        url: item.url,
        durationMs: item.duration * 1000,
        ...(fallback ? { fallback } : {}),
      });
      return;
    }
    const audio = lookup(item.audio);
    if (!audio) problems.push(`item ${n}: audio "${item.audio}" is not in the library; left out`);
    else if (audio.durationMs <= 0)
      problems.push(`item ${n}: audio "${item.audio}" has no duration; left out`);
    else out.push({ kind: 'audio', ...audio });
  });
  return { items: out, problems };
}

export const totalMs = (items: readonly AiringItem[]): number => items.reduce((s, i) => s + i.durationMs, 0);

/**
 * Quiet hours of a zone as instants overlapping [from, to): each local `from`–`to` (spanning
 * midnight when `from` > `to`) on every local date, placed in `timeZone`.
 */
export function quietIntervals(
  quiet: readonly QuietHours[],
  timeZone: string,
  from: number,
  to: number,
): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  if (quiet.length === 0) return out;
  const day = Temporal.Instant.fromEpochMilliseconds(from - 86_400_000)
    .toZonedDateTimeISO(timeZone)
    .toPlainDate();
  const last = Temporal.Instant.fromEpochMilliseconds(to + 86_400_000)
    .toZonedDateTimeISO(timeZone)
    .toPlainDate();
  for (let d = day; Temporal.PlainDate.compare(d, last) <= 0; d = d.add({ days: 1 })) {
    for (const q of quiet) {
      if (q.from === q.to) continue;
      const start = d.toZonedDateTime({ timeZone, plainTime: q.from }).epochMilliseconds;
      const endDay = q.from > q.to ? d.add({ days: 1 }) : d;
      const end = endDay.toZonedDateTime({ timeZone, plainTime: q.to }).epochMilliseconds;
      if (end > from && start < to) out.push({ start, end });
    }
  }
  return out.sort((a, b) => a.start - b.start);
}
