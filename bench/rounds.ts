/**
 * One timed round of each kind, and what the rounds add up to.
 * - floor: one QoS 1 publish to N raw clients, until their N QoS 1 replies reached one client;
 * - loalang: POST /api/bulletins (emergency, all receivers, audio cached), until the controller's
 *   progress stream says all N receivers reported `started`; then, untimed, until every delivery
 *   is final, and a check that the controller recorded all N deliveries as playing or done.
 */
import { topics } from '../src/contract/mqtt.js';
import type { Api, AsRunEntry, Bulletin } from './api.js';
import type { Observer, RoundTrip } from './observer.js';
import { type CpuMeter, percentile, type RunResult, round1 } from './stats.js';

const ROUND_TIMEOUT_MS = 30_000;

export interface LoalangSample {
  /** POST start → the observer has `started` from all N receivers */
  ms: number;
  /** POST start → its response */
  postMs: number;
  /** POST start → the first and the last receiver's own `started` timestamp */
  rxFirstMs: number;
  rxLastMs: number;
  /** bulletin createdAt → the controller recorded the last delivery `playing` (its as-run log) */
  recordedMs: number;
}

/** A floor round; `cpu`, when given, meters the timed window. */
export async function floorRound(observer: Observer, r: number, cpu: CpuMeter | null): Promise<RoundTrip> {
  cpu?.begin();
  const trip = await observer.ping(r, ROUND_TIMEOUT_MS);
  cpu?.end();
  return trip;
}

/**
 * A loalang round; `cpu`, when given, meters the timed window. The clock stops when the
 * controller's live progress stream (GET /api/bulletins/:id/progress) says every receiver has
 * reported `started`: what the officer sees, with the controller's own ingestion included, and
 * with no second subscriber doubling the broker's fan-out of receiver events.
 * Throws when the controller's record is short.
 */
export async function loalangRound(
  ctx: { api: Api; audioId: string; n: number; pin: string },
  r: number,
  cpu: CpuMeter | null,
): Promise<LoalangSample> {
  const { api, n } = ctx;
  type Progress = { status: string; summary: Bulletin['summary'] };
  // The officer's PIN, entered as the "every village" dialog opens (a deliberately slow scrypt check),
  // is not part of the send: the round starts when they press send with the one-time confirmation.
  const confirm = await api.json<{ token: string }>('POST', '/api/auth/confirm', { pin: ctx.pin });
  cpu?.begin();
  const t0 = performance.now();
  const b = await api.json<Bulletin>('POST', '/api/bulletins', {
    title: `bench round ${r}`,
    audioId: ctx.audioId,
    target: { all: true },
    priority: 'emergency',
    repeat: 1,
    gapSeconds: 0,
    confirm: { token: confirm.token },
  });
  const tPost = performance.now();
  let tAll = Number.NaN;
  await api.stream(
    `/api/bulletins/${b.id}/progress`,
    (event, data) => {
      const p = data as Progress;
      if (Number.isNaN(tAll) && event === 'progress' && p.summary.played >= n) {
        tAll = performance.now();
        cpu?.end();
      }
      // Untimed: the round is over when every delivery is final, so that rounds never overlap.
      return event === 'end';
    },
    ROUND_TIMEOUT_MS,
  );
  if (Number.isNaN(tAll)) throw new Error(`round ${r}: the progress stream ended before all ${n} started`);
  const final = await api.json<Bulletin>('GET', `/api/bulletins/${b.id}`);
  if (final.summary.total !== n || final.summary.played !== n) {
    throw new Error(
      `round ${r}: the controller recorded ${final.summary.played} of ${n} deliveries as playing or done: ` +
        JSON.stringify(final.summary.byState),
    );
  }
  const log = await api.json<{ items: AsRunEntry[] }>('GET', `/api/bulletins/${b.id}/log`);
  const started = log.items.filter((e) => e.state === 'playing');
  const recorded = started.map((e) => Date.parse(e.at));
  const rxStamps = started.map((e) => Date.parse(e.receiverTs ?? e.at));
  const epoch0 = performance.timeOrigin + t0;
  return {
    ms: tAll - t0,
    postMs: tPost - t0,
    rxFirstMs: Math.min(...rxStamps) - epoch0,
    rxLastMs: Math.max(...rxStamps) - epoch0,
    recordedMs: Math.max(...recorded) - Date.parse(b.createdAt),
  };
}

/**
 * A direct round (see bench/direct.ts): the bench publishes a signed play command on all/cmd
 * itself; until all N receivers reported `started` (then, untimed, `finished`).
 */
export async function directRound(
  ctx: { observer: Observer; command: (r: number) => { bulletinId: string; payload: string } },
  r: number,
  cpu: CpuMeter | null,
): Promise<RoundTrip> {
  const { observer } = ctx;
  observer.clearEvents();
  const { bulletinId, payload } = ctx.command(r);
  cpu?.begin();
  const t0 = performance.now();
  await observer.publish(topics().allCommand(), payload);
  const tAll = await observer.allReported(bulletinId, 'started', ROUND_TIMEOUT_MS);
  cpu?.end();
  await observer.allReported(bulletinId, 'finished', ROUND_TIMEOUT_MS);
  const stamps = observer.startedStamps(bulletinId);
  const epoch0 = performance.timeOrigin + t0;
  return {
    ms: tAll - t0,
    firstAnswerMs: (stamps?.first ?? Number.NaN) - epoch0,
    lastAnswerMs: (stamps?.last ?? Number.NaN) - epoch0,
  };
}

/** Fills the figures of `result` from the timed rounds' samples. */
export function summarize(
  result: RunResult,
  floor: RoundTrip[],
  loalang: LoalangSample[],
  direct: RoundTrip[],
): void {
  const p = (values: number[], q: number) => round1(percentile(values, q));
  const median = (values: number[]) => p(values, 50);
  if (direct.length > 0) {
    const ms = direct.map((t) => t.ms);
    result.direct = {
      p50_ms: median(ms),
      p99_ms: p(ms, 99),
      last_started_p50_ms: median(direct.map((t) => t.lastAnswerMs)),
      samples_ms: ms.map((v) => round1(v) ?? v),
    };
  }
  result.floor_samples_ms = floor.map((t) => round1(t.ms) ?? t.ms);
  result.samples_ms = loalang.map((s) => round1(s.ms) ?? s.ms);
  result.floor_p50_ms = median(result.floor_samples_ms);
  result.floor_p99_ms = p(result.floor_samples_ms, 99);
  result.floor_first_answer_p50_ms = median(floor.map((t) => t.firstAnswerMs));
  result.floor_last_answer_p50_ms = median(floor.map((t) => t.lastAnswerMs));
  result.p50_ms = median(result.samples_ms);
  result.p99_ms = p(result.samples_ms, 99);
  result.post_p50_ms = median(loalang.map((s) => s.postMs));
  result.rx_first_started_p50_ms = median(loalang.map((s) => s.rxFirstMs));
  result.rx_last_started_p50_ms = median(loalang.map((s) => s.rxLastMs));
  const recorded = loalang.map((s) => s.recordedMs);
  result.ctl_p50_ms = median(recorded);
  result.ctl_p99_ms = p(recorded, 99);
  result.ctl_verified_rounds = loalang.length;
  if (result.p50_ms !== null && result.floor_p50_ms) {
    result.ratio_p50 = Math.round((result.p50_ms / result.floor_p50_ms) * 100) / 100;
  }
}
