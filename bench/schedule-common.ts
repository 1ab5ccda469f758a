/**
 * What the schedule benchmarks share: the fixture audio, programs created through the API, local
 * dates in the station's time zone, a seeded random source, and a bounded wait for a condition
 * that events make true.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Api, AudioInfo } from './api.js';
import { prng } from './random.js';

/** test/fixtures/audio/tone.mp3: a real 1.5 s MP3 (16 kbit/s mono, 3.3 KB) */
export const TONE_MP3 = fileURLToPath(new URL('../test/fixtures/audio/tone.mp3', import.meta.url));

export const STATION_TZ = 'Asia/Ho_Chi_Minh';

/** Uploads the fixture MP3 to the controller's library. */
export function uploadTone(api: Api): Promise<AudioInfo> {
  return api.uploadAudio(readFileSync(TONE_MP3), 'bench-tone.mp3');
}

/** The local date (YYYY-MM-DD) in `timeZone` of the instant `ms`. */
export function localDate(ms: number, timeZone = STATION_TZ): string {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(new Date(ms));
}

export interface AiringView {
  id: string;
  at: string;
  items: { kind: string; durationMs: number }[];
}
interface ProgramView {
  id: string;
  version: number;
  next?: AiringView[];
}

/** The body of such a program (POST and PUT /api/programs take the same). */
export function onceProgramBody(opts: {
  title: string;
  audioId: string;
  items: number;
  at: string;
  now: number;
}) {
  return {
    title: opts.title,
    priority: 'normal',
    target: { all: true },
    recurrence: { kind: 'once', at: opts.at, from: localDate(opts.now + 86_400_000) },
    items: Array.from({ length: opts.items }, () => ({ kind: 'audio', audio: opts.audioId })),
  };
}

/**
 * Creates a program for every receiver, once, tomorrow (local) at `at` (HH:MM): `items` audio
 * items of `audioId`. Tomorrow is always inside the controller's 48 h horizon and never now.
 * Returns the program and its one airing.
 */
export async function createOnceProgram(
  api: Api,
  opts: { id: string; title: string; audioId: string; items: number; at: string; now: number },
): Promise<{ program: ProgramView; airing: AiringView }> {
  const program = await api.json<ProgramView>('POST', '/api/programs', {
    id: opts.id,
    ...onceProgramBody(opts),
  });
  const withNext = await api.json<ProgramView>('GET', `/api/programs/${program.id}?limit=1`);
  const airing = withNext.next?.[0];
  if (!airing) throw new Error(`program ${program.id}: no airing planned (is tomorrow inside the horizon?)`);
  return { program: withNext, airing };
}

/**
 * Resolves once `done()` is true, checked whenever `poke` is called (an event) and every
 * `intervalMs` as a safety net; rejects after `timeoutMs` with `describe()`.
 */
export function waitUntil(
  done: () => boolean,
  timeoutMs: number,
  describe: () => string,
  subscribe: (poke: () => void) => () => void,
  intervalMs = 250,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let unsubscribe = () => {};
    const finish = (err?: Error) => {
      clearTimeout(timer);
      clearInterval(ticker);
      unsubscribe();
      if (err) reject(err);
      else resolve();
    };
    const check = () => {
      if (done()) finish();
    };
    const timer = setTimeout(() => finish(new Error(describe())), timeoutMs);
    const ticker = setInterval(check, intervalMs);
    unsubscribe = subscribe(check);
    check();
  });
}

/** |values| summary: p50, p99 (nearest rank) and max, one decimal. */
export function absSummary(values: readonly number[]): {
  p50: number | null;
  p99: number | null;
  max: number | null;
} {
  if (values.length === 0) return { p50: null, p99: null, max: null };
  const sorted = values.map(Math.abs).sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1] ?? null;
  const r1 = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
  return { p50: r1(rank(50)), p99: r1(rank(99)), max: r1(sorted.at(-1) ?? null) };
}

export { prng };

/**
 * Makes zone `bench` and registers N receivers `<prefix>-0001`… in it (8 requests at a time);
 * answers their ids and MQTT passwords (from the provisioning bundles).
 */
export async function registerBenchFleet(
  api: Api,
  n: number,
  prefix: string,
): Promise<{ rxIds: string[]; passwords: Map<string, string> }> {
  await api.json('POST', '/api/zones', { id: 'bench', name: 'Bench village' });
  const width = Math.max(4, String(n).length);
  const rxIds = Array.from({ length: n }, (_, i) => `${prefix}-${String(i + 1).padStart(width, '0')}`);
  const passwords = new Map<string, string>();
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < rxIds.length) {
        const id = rxIds[next++]!;
        const rx = await api.json<{ provisioning: { mqtt: { password: string } } }>(
          'POST',
          '/api/receivers',
          {
            id,
            zoneId: 'bench',
          },
        );
        passwords.set(id, rx.provisioning.mqtt.password);
      }
    }),
  );
  return { rxIds, passwords };
}
