/**
 * The Programs screens' view of the API (src/http/routes/programs.ts): the shapes they read, the
 * form an officer fills (kept as a draft on the phone until it is saved) and its translation to
 * the program body the API validates (src/domain/programs/schema.ts).
 */
import { api } from '../api';
import type { Priority } from '../types';
import { localDate } from './local-time';

export type { Priority };
export type Order = 'first' | 'after' | 'skip';
export const WEEKDAYS = ['mo', 'tu', 'we', 'th', 'fr', 'sa', 'su'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface AiringItem {
  kind: 'audio' | 'relay' | 'pause';
  durationMs: number;
  audioId?: string;
  name?: string;
  url?: string;
}
export interface Airing {
  id: string;
  programId: string;
  title: string;
  priority: Priority;
  at: string;
  /** local start in the station's time zone, YYYY-MM-DDTHH:MM */
  local: string;
  windowEnd: string;
  durationMs: number;
  items: AiringItem[];
  problems: string[];
  status: 'scheduled' | 'cancelled' | 'suspended';
  /** the villages it targets whose schedule is suspended at its start */
  suspendedIn: string[];
  /** moved by an officer: `at` is its start, `local` the planned one */
  shifted: boolean;
  /** past the receivers' horizon: planned, not written yet (no readiness) */
  planned?: boolean;
}
export interface AiringReceiver {
  receiverId: string;
  state: string;
  outcome: 'aired' | 'cut' | 'missed' | null;
  reason: string | null;
}
export interface AiringDetail extends Airing {
  receivers: AiringReceiver[];
}
export interface Program {
  id: string;
  title: string;
  body: ProgramBody | null;
  version: number;
  source: 'api' | 'file';
  sourceFile: string | null;
  next?: Airing[];
}
export interface Clash {
  programId: string;
  title: string;
  at: string;
  end: string;
  with: { at: string; end: string };
}
export interface Planned {
  at: string;
  local: string;
  durationMs: number;
  problems: string[];
}
export interface AudioFile {
  id: string;
  name: string;
  durationMs: number | null;
}
export interface ZoneRef {
  id: string;
  name: string;
}
/** The names of villages `ids` (an unknown one by its id), joined for a sentence. */
export const villageNames = (zones: ZoneRef[], ids: string[]): string =>
  ids.map((id) => zones.find((z) => z.id === id)?.name ?? id).join(', ');
export interface ReceiverRef {
  id: string;
  name: string;
  zoneId: string | null;
  adoption: string;
}
type BodyItem =
  | { kind: 'audio'; audio: string }
  | { kind: 'relay'; url: string; duration: number | string; fallback?: string }
  | { kind: 'pause'; duration: number | string };
export interface ProgramBody {
  title: string;
  priority: Priority;
  target: { all?: boolean; zones?: string[]; receivers?: string[] };
  recurrence: {
    kind: 'once' | 'daily' | 'weekly';
    at: string;
    from: string;
    until?: string;
    days?: Weekday[];
    every?: number;
    except?: string[];
    moved?: unknown[];
  };
  items: BodyItem[];
  clashes: Record<string, Order>;
  [more: string]: unknown;
}

/** One row of the items list in the form. Durations are whole minutes (relay) or seconds (pause). */
export interface FormItem {
  kind: 'audio' | 'relay' | 'pause';
  audio: string;
  url: string;
  minutes: string;
  fallback: string;
  seconds: string;
}
export interface ProgramForm {
  title: string;
  priority: Priority;
  all: boolean;
  zones: string[];
  kind: 'once' | 'daily' | 'weekly';
  days: Weekday[];
  at: string;
  from: string;
  until: string;
  items: FormItem[];
  clashes: Record<string, Order>;
  /** what the form does not show (grace, late, volume, receivers, except…), kept as it was */
  rest: Record<string, unknown>;
}

export const newItem = (kind: FormItem['kind'] = 'audio'): FormItem => ({
  kind,
  audio: '',
  url: '',
  minutes: '15',
  fallback: '',
  seconds: '5',
});

export function emptyForm(timeZone: string): ProgramForm {
  return {
    title: '',
    priority: 'normal',
    all: false,
    zones: [],
    kind: 'daily',
    days: ['mo', 'tu', 'we', 'th', 'fr'],
    at: '17:00',
    from: localDate(timeZone),
    until: '',
    items: [newItem()],
    clashes: {},
    rest: {},
  };
}

/** The form of a saved program, to edit it. */
export function formOf(body: ProgramBody, timeZone: string): ProgramForm {
  const { title, priority, target, recurrence, items, clashes, ...rest } = body;
  const r = recurrence;
  const { receivers, ...t } = target;
  const { kind: _k, at: _a, from: _f, until: _u, days: _d, ...rRest } = r;
  return {
    ...emptyForm(timeZone),
    title,
    priority,
    all: t.all === true,
    zones: t.zones ?? [],
    kind: r.kind,
    days: r.days ?? [],
    at: r.at,
    from: r.from,
    until: r.until ?? '',
    items: items.map((i) =>
      i.kind === 'audio'
        ? { ...newItem('audio'), audio: i.audio }
        : i.kind === 'relay'
          ? {
              ...newItem('relay'),
              url: i.url,
              minutes: String(Math.round(Number(i.duration) / 60)),
              fallback: i.fallback ?? '',
            }
          : { ...newItem('pause'), seconds: String(i.duration) },
    ),
    clashes: { ...clashes },
    rest: { ...rest, ...(receivers?.length ? { receivers } : {}), recurrence: rRest },
  };
}

/** The body the API takes from a form (with the clash orders chosen). */
export function bodyOf(f: ProgramForm): ProgramBody {
  const {
    receivers,
    recurrence: rRest,
    ...rest
  } = f.rest as {
    receivers?: string[];
    recurrence?: Record<string, unknown>;
  };
  return {
    ...rest,
    title: f.title.trim(),
    priority: f.priority,
    target: f.all ? { all: true } : { zones: f.zones, ...(receivers ? { receivers } : {}) },
    recurrence: {
      ...(f.kind === 'once' ? {} : (rRest ?? {})),
      kind: f.kind,
      at: f.at,
      from: f.from,
      ...(f.until && f.kind !== 'once' ? { until: f.until } : {}),
      ...(f.kind === 'weekly' ? { days: f.days } : {}),
    },
    items: f.items.map((i): BodyItem => {
      if (i.kind === 'audio') return { kind: 'audio', audio: i.audio };
      if (i.kind === 'relay')
        return {
          kind: 'relay',
          url: i.url.trim(),
          duration: Math.max(1, Math.round(Number(i.minutes) * 60)),
          ...(i.fallback ? { fallback: i.fallback } : {}),
        };
      return { kind: 'pause', duration: Math.max(1, Math.round(Number(i.seconds))) };
    }),
    clashes: f.clashes,
  };
}

/** What still keeps the form from being previewed (a key of the screen's words), or null. */
export function missing(f: ProgramForm): 'needTitle' | 'needTarget' | 'needDays' | 'needItems' | null {
  if (!f.title.trim()) return 'needTitle';
  if (!f.all && f.zones.length === 0) return 'needTarget';
  if (f.kind === 'weekly' && f.days.length === 0) return 'needDays';
  const ok = (i: FormItem) =>
    i.kind === 'audio'
      ? i.audio !== ''
      : i.kind === 'relay'
        ? /^https?:\/\/.+/.test(i.url.trim()) && Number(i.minutes) > 0
        : Number(i.seconds) > 0;
  if (f.items.length === 0 || !f.items.every(ok)) return 'needItems';
  return null;
}

const items = <T>(r: { items?: T[] } | T[]): T[] => (Array.isArray(r) ? r : (r.items ?? []));
export const loadZones = async () => items(await api<{ items?: ZoneRef[] } | ZoneRef[]>('GET', '/api/zones'));
export const loadReceivers = async () =>
  items(await api<{ items?: ReceiverRef[] } | ReceiverRef[]>('GET', '/api/receivers'));
/** The airings of [now − 1 day, now + 8 days), those past the receivers' horizon too. */
export async function loadWeek(program?: string): Promise<Airing[]> {
  const q = new URLSearchParams({
    from: new Date(Date.now() - 86_400_000).toISOString(),
    to: new Date(Date.now() + 8 * 86_400_000).toISOString(),
    planned: 'true',
  });
  if (program) q.set('program', program);
  return (await api<{ items: Airing[] }>('GET', `/api/airings?${q}`)).items;
}
export const loadAudio = async () => items(await api<{ items: AudioFile[] }>('GET', '/api/audio'));

/** Minutes and seconds of a duration, "12:05". */
export function clock(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const mmss = `${String(m).padStart(h ? 2 : 1, '0')}:${String(s % 60).padStart(2, '0')}`;
  return h ? `${h}:${mmss}` : mmss;
}

/** The drafts of the program form on this phone, by program id ("new" for a new one). */
export const drafts = {
  key: (id: string) => `draft:program:${id}`,
  load(id: string): ProgramForm | null {
    try {
      const raw = localStorage.getItem(this.key(id));
      return raw ? (JSON.parse(raw) as ProgramForm) : null;
    } catch {
      return null;
    }
  },
  save(id: string, f: ProgramForm): void {
    localStorage.setItem(this.key(id), JSON.stringify(f));
  },
  clear(id: string): void {
    localStorage.removeItem(this.key(id));
  },
};
