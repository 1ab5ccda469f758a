/**
 * The rest of Today, around the live receivers: what airs next (GET /api/airings), what just aired
 * (the as-run log, GET /api/asrun, grouped per bulletin or airing), stops still reaching receivers
 * (GET /api/stops), and requests waiting for an approver (GET /api/approvals). Each part keeps its
 * last good answer when a refresh fails, so a dropped connection leaves the page as it was.
 */
import { signal } from '@preact/signals';
import type { AsRunRow } from '../../../../contract/asrun';
import { api } from '../api';
import type { Approval } from '../types';

export interface NextAiring {
  id: string;
  programId: string;
  title: string;
  priority: string;
  at: string;
  durationMs: number;
}

/** One bulletin or airing of the as-run log, its receivers counted by outcome. */
export interface Aired {
  key: string;
  kind: 'airing' | 'bulletin';
  title: string;
  /** its first start (or when it was due, when nothing started) */
  at: string;
  total: number;
  aired: number;
  cut: number;
  missed: number;
}

export interface StopItem {
  id: string;
  kind: 'cancel' | 'stop';
  target: { all?: boolean; zones?: string[]; receivers?: string[] };
  createdAt: string;
  status: 'accepted' | 'sent' | 'confirmed' | 'ended';
  receivers: { total: number; confirmed: number };
}

const HOUR = 3_600_000;

/** The as-run rows grouped per bulletin or airing, latest first, only those that began or ended. */
export function groupAired(rows: AsRunRow[], limit = 3): Aired[] {
  const groups = new Map<string, Aired>();
  for (const r of rows) {
    const key = `${r.kind}:${r.id}`;
    let g = groups.get(key);
    if (!g) {
      g = {
        key,
        kind: r.kind,
        title: r.title,
        at: r.started ?? r.scheduled,
        total: 0,
        aired: 0,
        cut: 0,
        missed: 0,
      };
      groups.set(key, g);
    }
    g.total++;
    if (r.outcome === 'aired' || r.outcome === 'cut' || r.outcome === 'missed') g[r.outcome]++;
    if (r.started && (g.at === r.scheduled || r.started < g.at)) g.at = r.started;
  }
  return [...groups.values()]
    .filter((g) => g.aired + g.cut + g.missed > 0)
    .sort((a, b) => (a.at < b.at ? 1 : -1))
    .slice(0, limit);
}

export function startDashboard(opts: { approvals: boolean }) {
  const next = signal<NextAiring[] | null>(null);
  const aired = signal<Aired[] | null>(null);
  const stops = signal<StopItem[]>([]);
  const approvals = signal<Approval[]>([]);
  /** the words of the last failed refresh ('' when all went well) */
  const error = signal('');
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let soon: ReturnType<typeof setTimeout> | null = null;

  async function part<T>(load: () => Promise<T>, set: (v: T) => void): Promise<boolean> {
    try {
      const v = await load();
      if (!stopped) set(v);
      return true;
    } catch (err) {
      if (!stopped) error.value = (err as Error).message;
      return false;
    }
  }

  async function refresh(): Promise<void> {
    const now = Date.now();
    const results = await Promise.all([
      part(
        () =>
          api<{ items: NextAiring[] }>(
            'GET',
            `/api/airings?status=scheduled&from=${encodeURIComponent(new Date(now - 2 * HOUR).toISOString())}&to=${encodeURIComponent(new Date(now + 48 * HOUR).toISOString())}`,
          ),
        (r) => {
          next.value = r.items
            .filter((a) => Date.parse(a.at) + a.durationMs > Date.now())
            .sort((a, b) => (a.at < b.at ? -1 : 1))
            .slice(0, 3);
        },
      ),
      part(
        () =>
          api<{ items: AsRunRow[] }>(
            'GET',
            `/api/asrun?limit=2000&from=${encodeURIComponent(new Date(now - 12 * HOUR).toISOString())}&to=${encodeURIComponent(new Date(now + 60_000).toISOString())}`,
          ),
        (r) => {
          aired.value = groupAired(r.items);
        },
      ),
      part(
        () => api<{ items: StopItem[] }>('GET', '/api/stops?limit=20'),
        (r) => {
          stops.value = r.items.filter((s) => s.status === 'accepted' || s.status === 'sent');
        },
      ),
      opts.approvals
        ? part(
            () => api<{ items: Approval[] }>('GET', '/api/approvals?status=pending&limit=20'),
            (r) => {
              approvals.value = r.items;
            },
          )
        : Promise.resolve(true),
    ]);
    if (stopped) return;
    if (results.every(Boolean)) error.value = '';
    // A stop on its way is followed closely; otherwise twice a minute is enough (3G, battery).
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void refresh(), stops.value.length > 0 ? 3000 : 30_000);
  }

  // The live receivers go first on a slow link: these start once they are shown, or after 1.5 s.
  let started = false;
  const begin = () => {
    if (started || stopped) return;
    started = true;
    if (timer) clearTimeout(timer);
    void refresh();
  };
  timer = setTimeout(begin, 1500);
  return {
    /** Starts the first refresh now (the live receivers are on the page). */
    begin,
    next,
    aired,
    stops,
    approvals,
    error,
    /** Refreshes shortly (a play began or ended: the as-run log moved), once for a burst. */
    refreshSoon() {
      if (stopped || soon || !started) return;
      soon = setTimeout(() => {
        soon = null;
        void refresh();
      }, 1200);
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (soon) clearTimeout(soon);
    },
  };
}
export type Dashboard = ReturnType<typeof startDashboard>;
