/**
 * The schedule benchmarks in `npm run bench`: runs them (bench/schedule-start.ts,
 * bench/schedule-fleet.ts) and prints their Markdown tables; their figures go into the run's
 * final JSON line under `schedule`.
 */
import { type FleetBenchResult, measureScheduleFleet } from './schedule-fleet.js';
import { measureStartAccuracy, type StartBenchResult } from './schedule-start.js';

export interface ScheduleBenchOptions {
  /** receivers of the start-accuracy run (default 100) */
  startN: number;
  /** receivers of the propagation and timer run (default 1000) */
  fleetN: number;
  rounds: number;
  timerSeconds: number;
  log: (line: string) => void;
}

export interface ScheduleBenchResult {
  start: (StartBenchResult & { status: 'ok' }) | { status: 'failed'; error: string };
  fleet: (FleetBenchResult & { status: 'ok' }) | { status: 'failed'; error: string };
  targets: Record<string, { limit_ms: number; value_ms: number | null; met: boolean }>;
}

const failed = (err: unknown) => ({
  status: 'failed' as const,
  error: err instanceof Error ? err.message : String(err),
});

export async function runScheduleBench(opts: ScheduleBenchOptions): Promise<ScheduleBenchResult> {
  opts.log(`[schedule start] ${opts.startN} receivers`);
  const start = await measureStartAccuracy({
    receivers: opts.startN,
    log: (l) => opts.log(`[schedule start] ${l}`),
  }).then((r) => ({ ...r, status: 'ok' as const }), failed);
  opts.log(`[schedule fleet] ${opts.fleetN} receivers`);
  const fleet = await measureScheduleFleet({
    receivers: opts.fleetN,
    rounds: opts.rounds,
    timerSeconds: opts.timerSeconds,
    log: (l) => opts.log(`[schedule fleet] ${l}`),
  }).then((r) => ({ ...r, status: 'ok' as const }), failed);
  const target = (limit: number, value: number | null | undefined) => ({
    limit_ms: limit,
    value_ms: value ?? null,
    met: value !== null && value !== undefined && value <= limit,
  });
  const s = start.status === 'ok' ? start : null;
  const f = fleet.status === 'ok' ? fleet : null;
  return {
    start,
    fleet,
    targets: {
      start_error_p99: target(20, s?.error.p99),
      start_spread_p99: target(20, s?.spreadP99Ms),
      cron_idle_p99: target(10, f?.timers.idle.cron.p99),
      cron_loaded_p99: target(25, f?.timers.loaded.cron.p99),
    },
  };
}

const fmt = (v: number | null | undefined, digits = 1) =>
  v === null || v === undefined ? '–' : v.toFixed(digits);

function markdown(rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(rows[0] ?? []), line(rows[0]?.map(() => '---') ?? []), ...rows.slice(1).map(line)].join('\n');
}

/** The schedule figures as Markdown: start accuracy, propagation, controller timers, targets. */
export function scheduleTables(r: ScheduleBenchResult): string {
  const out: string[] = [];
  const trio = (s: { p50: number | null; p99: number | null; max: number | null }) =>
    `${fmt(s.p50)} / ${fmt(s.p99)} / ${fmt(s.max)}`;
  if (r.start.status === 'ok') {
    const s = r.start;
    out.push(
      markdown([
        [
          'N',
          'airings × items',
          'aired',
          '|error| ms p50 / p99 / max',
          'spread ms p50 / p99 / max',
          '|error| all items p50 / p99 / max',
          'parts p99 ms: clock estimate / timer / loop',
          'bare timer late p99 ms',
        ],
        [
          String(s.receivers),
          `${s.airings} × ${s.items}`,
          `${s.aired}/${s.expected}`,
          trio(s.error),
          `${fmt(s.spreadP50Ms)} / ${fmt(s.spreadP99Ms)} / ${fmt(s.spreadMaxMs)}`,
          trio(s.errorAllItems),
          `${fmt(s.parts.sync.p99)} / ${fmt(s.parts.timer.p99)} / ${fmt(s.parts.loop.p99)}`,
          fmt(s.probeTimer.p99),
        ],
      ]),
    );
  } else out.push(`schedule start accuracy FAILED: ${r.start.error}`);
  out.push('');
  if (r.fleet.status === 'ok') {
    const f = r.fleet;
    out.push(
      markdown([
        [
          'N',
          'rounds',
          'doc bytes',
          'floor p50 / p99 ms',
          'change → all applied p50 / p99 ms',
          'ratio p50',
          'PUT p50 ms',
          'ctl CPU ms/change p50 / max',
          'DB verified',
        ],
        [
          String(f.receivers),
          String(f.rounds),
          String(f.docBytes ?? '–'),
          `${fmt(f.floorP50Ms)} / ${fmt(f.floorP99Ms)}`,
          `${fmt(f.p50Ms)} / ${fmt(f.p99Ms)}`,
          fmt(f.ratioP50, 2),
          fmt(f.putP50Ms),
          `${fmt(f.ctlCpuP50Ms, 0)} / ${fmt(f.ctlCpuMaxMs, 0)}`,
          `${f.verifiedRounds}/${f.rounds}`,
        ],
      ]),
    );
    out.push('');
    const row = (name: string, p: FleetBenchResult['timers']['idle']) => [
      name,
      `${trio(p.cron)} (${p.cron.count})`,
      `${trio(p.at)} (${p.at.count})`,
    ];
    out.push(
      markdown([
        [
          'controller timers, late ms',
          'node-cron p50 / p99 / max (samples)',
          'at() p50 / p99 / max (samples)',
        ],
        row('idle', f.timers.idle),
        row(`${f.receivers} connected, idle`, f.timers.connected),
        row(`${f.receivers} publishing status every 1 s`, f.timers.loaded),
      ]),
    );
  } else out.push(`schedule propagation and timers FAILED: ${r.fleet.error}`);
  out.push('');
  for (const [name, t] of Object.entries(r.targets))
    out.push(`target ${name} ≤ ${t.limit_ms} ms → ${fmt(t.value_ms)} ms ${t.met ? 'MET' : 'NOT MET'}`);
  return out.join('\n');
}
