/**
 * The schedule at fleet scale (issue 8, "Performance"), on one controller (a child process, its
 * embedded broker) and N simulated receivers in two worker processes:
 *
 * - **propagation**: one program change (PUT /api/programs/:id) that concerns all N receivers,
 *   timed until every receiver has acknowledged its new signed schedule document (`applied`, on
 *   `rx/<id>/airing`, watched by the bench's own MQTT client), against a **floor** in the same
 *   run on the same broker: the bench publishes N retained QoS 1 messages of the same size, one
 *   per topic, each to one raw MQTT client that answers on its own topic; rounds interleaved.
 *   After each change the controller's database must hold every receiver's acknowledgement of
 *   the version it sent (receiver_schedules.applied_version = version). Controller CPU per change
 *   from /proc/<pid>/stat around it.
 * - **controller timers**: a probe loaded into the controller process (bench/schedule-probe.ts)
 *   runs a node-cron task every second and an at() timer every second; their lateness while the
 *   controller is idle (nothing connected), with N receivers connected and idle, and while the N
 *   receivers republish their status every second.
 *
 *     npx tsx bench/schedule-fleet.ts [N] [seconds per timer phase]
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { connectAsync, type MqttClient } from 'mqtt';
import { parseReceiverTopic, topics } from '../src/contract/mqtt.js';
import { CONTROLLER_USERNAME } from '../src/mqtt/broker.js';
import { Api } from './api.js';
import { rawClientOptions } from './ipc.js';
import { cpuMs, killAll, startControllerProcess } from './procs.js';
import { absSummary, onceProgramBody, registerBenchFleet, uploadTone, waitUntil } from './schedule-common.js';
import { percentile, round1 } from './stats.js';
import { split, startFleetOnWorkers, Worker } from './workers.js';

const PROBE = fileURLToPath(new URL('./schedule-probe.ts', import.meta.url));
const WORKERS = 2;
const DOC_PREFIX = 'bench/doc/';
const DOC_PONG_PREFIX = 'bench/dpong/';

export interface FleetBenchOptions {
  receivers?: number;
  /** timed propagation rounds of each kind (default 5), after `warmup` untimed ones (default 1) */
  rounds?: number;
  warmup?: number;
  /** seconds of each timer phase (default 20) */
  timerSeconds?: number;
  /** the whole run gives up after this (default 360 s) */
  timeoutMs?: number;
  log?: (line: string) => void;
}

type Summary = ReturnType<typeof absSummary>;
export interface TimerPhase {
  /** node-cron task `* * * * * *` in the controller process: callback − slot, ms */
  cron: Summary & { count: number };
  /** at() of src/time/clock.ts in the controller process: callback − instant, ms */
  at: Summary & { count: number };
}

export interface FleetBenchResult {
  receivers: number;
  rounds: number;
  /** bytes of one receiver's sealed schedule document (the floor's message size) */
  docBytes: number | null;
  /** PUT → every receiver acknowledged the new document, per change */
  p50Ms: number | null;
  p99Ms: number | null;
  /** N retained messages of docBytes published → every client answered */
  floorP50Ms: number | null;
  floorP99Ms: number | null;
  ratioP50: number | null;
  /** the PUT's response time */
  putP50Ms: number | null;
  /** controller CPU (user + system) from the PUT until all acknowledged, per change, ms */
  ctlCpuP50Ms: number | null;
  ctlCpuMaxMs: number | null;
  /** changes after which the controller's database held all N acknowledgements */
  verifiedRounds: number;
  samplesMs: number[];
  floorSamplesMs: number[];
  timers: { idle: TimerPhase; connected: TimerPhase; loaded: TimerPhase };
}

export async function measureScheduleFleet(opts: FleetBenchOptions = {}): Promise<FleetBenchResult> {
  const n = opts.receivers ?? 1000;
  const rounds = opts.rounds ?? 5;
  const warmup = opts.warmup ?? 1;
  const phaseMs = (opts.timerSeconds ?? 20) * 1000;
  const log = opts.log ?? (() => {});
  const deadline = Date.now() + (opts.timeoutMs ?? 360_000);
  const left = () => {
    const ms = deadline - Date.now();
    if (ms <= 0) throw new Error('the schedule fleet bench ran out of time');
    return ms;
  };
  const probeDir = mkdtempSync(join(tmpdir(), 'loalang-probe-'));
  const probeFile = join(probeDir, 'timers.jsonl');
  const cleanups: (() => Promise<unknown>)[] = [
    async () => rmSync(probeDir, { recursive: true, force: true }),
  ];
  const windows: Record<keyof FleetBenchResult['timers'], [number, number]> = {
    idle: [0, 0],
    connected: [0, 0],
    loaded: [0, 0],
  };
  const phase = async (name: keyof typeof windows) => {
    const from = Date.now();
    await sleep(Math.min(phaseMs, left()));
    windows[name] = [from, Date.now()];
    log(`timer phase "${name}": ${((Date.now() - from) / 1000).toFixed(0)} s`);
  };
  try {
    const ctl = await startControllerProcess({
      nodeArgs: ['--import', 'tsx', '--import', PROBE],
      env: { BENCH_TIMER_PROBE_FILE: probeFile },
    });
    let stopped = false;
    const stopController = async () => {
      if (stopped) return;
      stopped = true;
      await ctl.stop();
    };
    cleanups.push(stopController);
    log(`controller pid ${ctl.pid} with the timer probe; idle phase`);
    await phase('idle');

    // ---- the fleet
    const api = new Api(ctl.httpUrl);
    await api.login(ctl.adminPassword);
    const { rxIds, passwords } = await registerBenchFleet(api, n, 'sf');
    const auth = { username: CONTROLLER_USERNAME, password: ctl.brokerSecret() };
    const watch = await Watcher.connect(ctl.mqttUrl, auth, rxIds[0]!);
    cleanups.push(() => watch.close());
    const workers = Array.from({ length: WORKERS }, (_, i) => new Worker(`sw${i + 1}`));
    cleanups.push(() => Promise.all(workers.map((w) => w.stop())));
    await startFleetOnWorkers(
      workers,
      ctl,
      { rxIds, passwords },
      {
        timeFactor: 1,
        timeoutMs: Math.min(150_000, left()),
      },
    );
    log(`${n} receivers online and adopted in ${WORKERS} workers; connected phase`);
    await phase('connected');

    // ---- one program for all, its first documents acknowledged (untimed)
    const audio = await uploadTone(api);
    const body = (title: string) =>
      onceProgramBody({ title, audioId: audio.id, items: 3, at: '12:00', now: Date.now() });
    const first = watch.expectApplied(rxIds);
    await api.json('POST', '/api/programs', { id: 'bench-fleet', ...body('Bench propagation') });
    await first.done(Math.min(120_000, left()));
    const docBytes = watch.docBytes;
    log(`program for all: first documents (${docBytes} bytes each) acknowledged by all ${n}`);

    // ---- the floor clients
    const floorIds = Array.from({ length: n }, (_, i) => `bench-sfloor-${i + 1}`);
    await Promise.all(
      workers.map((w, i) =>
        w.request(
          {
            op: 'floorStart',
            url: ctl.mqttUrl,
            ...auth,
            clientIds: split(floorIds, WORKERS)[i] ?? [],
            pingTopic: 'bench/sping',
            pongPrefix: 'bench/spong/',
            docPrefix: DOC_PREFIX,
            docPongPrefix: DOC_PONG_PREFIX,
            concurrency: 50,
          },
          Math.min(120_000, left()),
        ),
      ),
    );

    // ---- the rounds, interleaved
    const dbPath = join(ctl.dataDir, 'loalang.db');
    const samples: number[] = [];
    const floorSamples: number[] = [];
    const puts: number[] = [];
    const cpu: number[] = [];
    let verified = 0;
    for (let r = -warmup; r < rounds; r++) {
      await sleep(300);
      const floorMs = await watch.floorRound(
        floorIds,
        `f${r + warmup}`,
        docBytes ?? 1000,
        Math.min(30_000, left()),
      );
      await sleep(300);
      const waiting = watch.expectApplied(rxIds);
      const sentAt = new Date().toISOString();
      const cpu0 = cpuMs(ctl.pid);
      const t0 = performance.now();
      await api.json('PUT', '/api/programs/bench-fleet', body(`Bench propagation ${r + warmup}`));
      const putMs = performance.now() - t0;
      const ms = (await waiting.done(Math.min(30_000, left()))) - t0;
      const cpuMsUsed = cpuMs(ctl.pid) - cpu0;
      const ok = await dbAcknowledged(dbPath, sentAt, n, Math.min(10_000, left()));
      if (r < 0) continue;
      samples.push(round1(ms) ?? 0);
      floorSamples.push(round1(floorMs) ?? 0);
      puts.push(putMs);
      cpu.push(cpuMsUsed);
      if (ok) verified++;
      log(
        `round ${r + 1}: floor ${floorMs.toFixed(0)} ms, change ${ms.toFixed(0)} ms, ctl CPU ${cpuMsUsed} ms`,
      );
    }
    await Promise.all(workers.map((w) => w.request({ op: 'floorStop' }, 30_000)));

    // ---- status every second from every receiver
    await Promise.all(workers.map((w) => w.request({ op: 'statusEvery', ms: 1000 }, 10_000)));
    await sleep(2000);
    log(`${n} receivers publishing their status every second; loaded phase`);
    await phase('loaded');
    await Promise.all(workers.map((w) => w.request({ op: 'statusEvery', ms: 60_000 }, 10_000)));
    await Promise.all(workers.map((w) => w.request({ op: 'fleetStop' }, 60_000)));
    await stopController(); // the probe writes what it holds on SIGTERM

    const p50 = percentile(samples, 50);
    const f50 = percentile(floorSamples, 50);
    return {
      receivers: n,
      rounds,
      docBytes,
      p50Ms: p50,
      p99Ms: percentile(samples, 99),
      floorP50Ms: f50,
      floorP99Ms: percentile(floorSamples, 99),
      ratioP50: p50 !== null && f50 ? Math.round((p50 / f50) * 100) / 100 : null,
      putP50Ms: round1(percentile(puts, 50)),
      ctlCpuP50Ms: percentile(cpu, 50),
      ctlCpuMaxMs: cpu.length ? Math.max(...cpu) : null,
      verifiedRounds: verified,
      samplesMs: samples,
      floorSamplesMs: floorSamples,
      timers: timerPhases(probeFile, windows),
    };
  } finally {
    for (const c of cleanups.reverse()) await c().catch((err: unknown) => log(`cleanup: ${String(err)}`));
  }
}

/** Whether the controller's database holds, for all N, the acknowledgement of a document sent since `since`. */
async function dbAcknowledged(path: string, since: string, n: number, timeoutMs: number): Promise<boolean> {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const count = db.prepare<[string], { c: number }>(
      'SELECT count(*) AS c FROM receiver_schedules WHERE sent_at >= ? AND applied_version = version',
    );
    const end = Date.now() + timeoutMs;
    for (let i = 0; i < 1000 && Date.now() < end; i++) {
      if ((count.get(since)?.c ?? 0) >= n) return true;
      await sleep(50);
    }
    return false;
  } finally {
    db.close();
  }
}

/** The probe's samples, split into the phases' windows. */
function timerPhases(
  file: string,
  windows: Record<keyof FleetBenchResult['timers'], [number, number]>,
): FleetBenchResult['timers'] {
  const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n') : [];
  const all = lines.flatMap((l) => {
    try {
      const s = JSON.parse(l) as { m: string; t: number; late: number };
      return typeof s.t === 'number' && typeof s.late === 'number' ? [s] : [];
    } catch {
      return [];
    }
  });
  const of = (w: [number, number], m: string) => {
    const late = all.filter((s) => s.m === m && s.t >= w[0] && s.t <= w[1]).map((s) => s.late);
    return { ...absSummary(late), count: late.length };
  };
  const phase = (w: [number, number]): TimerPhase => ({ cron: of(w, 'cron'), at: of(w, 'at') });
  return { idle: phase(windows.idle), connected: phase(windows.connected), loaded: phase(windows.loaded) };
}

/**
 * The bench's MQTT client: receivers' acknowledgements of their schedule documents (kind
 * `schedule`, state `applied`, on `rx/+/airing`), the size of one receiver's document, and the
 * floor's documents and answers.
 */
class Watcher {
  readonly #applied = new Map<string, number>();
  #waiters = new Set<() => void>();
  #pongs = new Map<string, Set<string>>();
  docBytes: number | null = null;

  private constructor(
    readonly client: MqttClient,
    readonly sampleTopic: string,
  ) {
    client.on('message', (topic, payload) => this.#onMessage(topic, payload));
  }

  static async connect(url: string, auth: { username: string; password: string }, sampleRx: string) {
    const client = await connectAsync(url, rawClientOptions(`bench-sched-${process.pid}`, auth), false);
    const t = topics();
    const w = new Watcher(client, t.receiverSchedule(sampleRx));
    await client.subscribeAsync([`${t.root}/rx/+/airing`, w.sampleTopic, `${DOC_PONG_PREFIX}+`], { qos: 1 });
    return w;
  }

  #onMessage(topic: string, payload: Buffer): void {
    if (topic === this.sampleTopic) {
      if (payload.length > 0) this.docBytes = payload.length;
      return;
    }
    if (topic.startsWith(DOC_PONG_PREFIX)) {
      const round = payload.toString('utf8');
      const set = this.#pongs.get(round) ?? new Set<string>();
      set.add(topic.slice(DOC_PONG_PREFIX.length));
      this.#pongs.set(round, set);
    } else {
      const id = parseReceiverTopic(topics().root, topic)?.receiverId;
      if (!id) return;
      try {
        const r = JSON.parse(payload.toString('utf8')) as {
          kind?: unknown;
          state?: unknown;
          version?: unknown;
        };
        if (r.kind !== 'schedule' || r.state !== 'applied' || typeof r.version !== 'number') return;
        if (r.version > (this.#applied.get(id) ?? 0)) this.#applied.set(id, r.version);
      } catch {
        return;
      }
    }
    for (const w of this.#waiters) w();
  }

  #until(done: () => boolean, timeoutMs: number, describe: () => string): Promise<number> {
    let at = 0;
    return waitUntil(
      () => {
        if (at === 0 && done()) at = performance.now();
        return at !== 0;
      },
      timeoutMs,
      describe,
      (poke) => {
        this.#waiters.add(poke);
        return () => this.#waiters.delete(poke);
      },
    ).then(() => at);
  }

  /** From now: resolves (performance.now()) when every id acknowledged a newer version than now. */
  expectApplied(ids: readonly string[]): { done: (timeoutMs: number) => Promise<number> } {
    const before = new Map(ids.map((id) => [id, this.#applied.get(id) ?? 0]));
    const pending = new Set(ids);
    const done = () => {
      for (const id of pending) if ((this.#applied.get(id) ?? 0) > (before.get(id) ?? 0)) pending.delete(id);
      return pending.size === 0;
    };
    return {
      done: (timeoutMs) =>
        this.#until(done, timeoutMs, () => `${pending.size} of ${ids.length} receivers did not acknowledge`),
    };
  }

  /** Publishes one retained document of `bytes` to each floor client; ms until all answered. */
  async floorRound(
    clientIds: readonly string[],
    round: string,
    bytes: number,
    timeoutMs: number,
  ): Promise<number> {
    const body = Buffer.alloc(Math.max(bytes, round.length + 1), 0x78);
    body.write(`${round} `, 0, 'utf8');
    const t0 = performance.now();
    const all = this.#until(
      () => (this.#pongs.get(round)?.size ?? 0) >= clientIds.length,
      timeoutMs,
      () => `floor ${round}: ${this.#pongs.get(round)?.size ?? 0} of ${clientIds.length} answered`,
    );
    await Promise.all(
      clientIds.map((id) => this.client.publishAsync(`${DOC_PREFIX}${id}`, body, { qos: 1, retain: true })),
    );
    const at = await all;
    this.#pongs.delete(round);
    return at - t0;
  }

  async close(): Promise<void> {
    await this.client.endAsync().catch(() => this.client.end(true));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.on('exit', killAll);
  const n = Number(process.argv[2] ?? 1000);
  const timerSeconds = Number(process.argv[3] ?? 20);
  measureScheduleFleet({ receivers: n, timerSeconds, log: (l) => console.error(l) }).then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
