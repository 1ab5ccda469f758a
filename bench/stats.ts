/** Percentiles, CPU accounting and the result of one configuration. */
import { cpuMs } from './procs.js';

export type BrokerKind = 'embedded' | 'mosquitto';

/** CPU time (ms) used by each part during the timed windows, divided by the number of rounds. */
export interface CpuPerRound {
  controller: number;
  broker: number | null;
  workers: number;
  bench: number;
}

export interface RunResult {
  n: number;
  broker: BrokerKind;
  status: 'ok' | 'failed' | 'skipped';
  error?: string;
  rounds: number;
  floor_p50_ms: number | null;
  floor_p99_ms: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  ratio_p50: number | null;
  /** floor: when the first and the last client answered the ping (its own clock), ms after the ping; p50 over rounds */
  floor_first_answer_p50_ms: number | null;
  floor_last_answer_p50_ms: number | null;
  /** loalang: the first and the last receiver's own `started` timestamp, ms after the POST; p50 over rounds */
  rx_first_started_p50_ms: number | null;
  rx_last_started_p50_ms: number | null;
  /** time until the POST /api/bulletins response (the controller's own work before answering) */
  post_p50_ms: number | null;
  /** controller-recorded: last delivery recorded `playing` minus the bulletin's createdAt */
  ctl_p50_ms: number | null;
  ctl_p99_ms: number | null;
  /** rounds in which the controller recorded all N deliveries as playing or done */
  ctl_verified_rounds: number;
  /** controller RSS just after start, no receiver connected */
  rss_start_mb: number | null;
  /** controller RSS with N receivers connected and idle, before the warm-up */
  rss_mb: number | null;
  /** controller RSS peak (VmHWM) over the whole configuration */
  rss_peak_mb: number | null;
  /** Mosquitto's RSS with N receivers connected (null on the embedded broker) */
  broker_rss_mb: number | null;
  cpu_ms_per_round: { floor: CpuPerRound | null; loalang: CpuPerRound | null; direct?: CpuPerRound | null };
  /** with --direct: the signed command published by the bench on all/cmd, until all N started */
  direct?: {
    p50_ms: number | null;
    p99_ms: number | null;
    last_started_p50_ms: number | null;
    samples_ms: number[];
  };
  /** warn/error lines the controller logged */
  controller_warnings: number;
  floor_samples_ms: number[];
  samples_ms: number[];
}

export function emptyResult(n: number, broker: BrokerKind, rounds: number): RunResult {
  return {
    n,
    broker,
    status: 'failed',
    rounds,
    floor_p50_ms: null,
    floor_p99_ms: null,
    p50_ms: null,
    p99_ms: null,
    ratio_p50: null,
    floor_first_answer_p50_ms: null,
    floor_last_answer_p50_ms: null,
    rx_first_started_p50_ms: null,
    rx_last_started_p50_ms: null,
    post_p50_ms: null,
    ctl_p50_ms: null,
    ctl_p99_ms: null,
    ctl_verified_rounds: 0,
    rss_start_mb: null,
    rss_mb: null,
    rss_peak_mb: null,
    broker_rss_mb: null,
    cpu_ms_per_round: { floor: null, loalang: null },
    controller_warnings: 0,
    floor_samples_ms: [],
    samples_ms: [],
  };
}

/** Nearest-rank percentile (p in 0–100) of `values`; with 10 samples p99 is the largest. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? null;
}

const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

export const round1 = (v: number | null): number | null => (v === null ? null : Math.round(v * 10) / 10);

/** Adds up the CPU time the processes of a configuration use over several timed windows. */
export class CpuMeter {
  #total: CpuPerRound = { controller: 0, broker: 0, workers: 0, bench: 0 };
  #start: CpuPerRound | null = null;
  #windows = 0;
  #begunAt = 0;
  /** the timed windows, [start, end] in µs of the monotonic clock (the clock of V8 CPU profiles) */
  readonly windows: [number, number][] = [];

  constructor(private readonly pids: { controller: number; broker: number | null; workers: number[] }) {}

  #read(): CpuPerRound {
    const u = process.cpuUsage();
    return {
      controller: cpuMs(this.pids.controller),
      broker: this.pids.broker === null ? 0 : cpuMs(this.pids.broker),
      workers: this.pids.workers.reduce((sum, pid) => sum + cpuMs(pid), 0),
      bench: (u.user + u.system) / 1000,
    };
  }

  begin(): void {
    this.#start = this.#read();
    this.#begunAt = monotonicUs();
  }

  end(): void {
    if (!this.#start) return;
    const now = this.#read();
    this.#total.controller += now.controller - this.#start.controller;
    this.#total.broker = (this.#total.broker ?? 0) + ((now.broker ?? 0) - (this.#start.broker ?? 0));
    this.#total.workers += now.workers - this.#start.workers;
    this.#total.bench += now.bench - this.#start.bench;
    this.#start = null;
    this.#windows += 1;
    this.windows.push([this.#begunAt, monotonicUs()]);
  }

  perWindow(): CpuPerRound | null {
    if (this.#windows === 0) return null;
    const per = (v: number) => Math.round(v / this.#windows);
    return {
      controller: per(this.#total.controller),
      broker: this.pids.broker === null ? null : per(this.#total.broker ?? 0),
      workers: per(this.#total.workers),
      bench: per(this.#total.bench),
    };
  }
}
