/**
 * Start accuracy and skew of scheduled airings (issue 8, "Performance"): a controller (embedded
 * broker, in this process, real time) and N simulated receivers whose clocks are off by up to
 * ±2 s and drift up to ±50 ppm, behind links with random one-way delays of 5–200 ms drawn
 * independently up and down. Each receiver syncs its clock with the time exchange, receives its
 * signed schedule document, fetches the audio over HTTP and starts every airing by its own clock.
 *
 * The airings: A programs made through the API (3 items of the fixture MP3 each), once each,
 * then shifted (POST /api/airings/:id/shift) to instants a few seconds apart, so nothing waits for
 * a minute boundary. For every airing, receiver and item, the start on the TRUE clock (the
 * receiver's local `airing` record, taken when it is made) minus the scheduled instant of that
 * item. Each error is also split into its parts: the receiver's clock estimate error at that
 * moment, the lateness of its timer on its own (estimated) time scale, and the rest (the wait for
 * the one event loop that hosts every receiver).
 *
 *     npx tsx bench/schedule-start.ts [N] [child|in-process]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type Fleet,
  fleetIds,
  optionsFromBundle,
  registerReceivers,
  type SimReceiver,
  startFleet,
} from '../firmware-sim/index.js';
import { loadConfig } from '../src/config.js';
import { startController } from '../src/controller.js';
import { createLogger } from '../src/log.js';
import { at, type Clock, scaledClock, systemClock, type Timer } from '../src/time/clock.js';
import { Api } from './api.js';
import { killAll, startControllerProcess } from './procs.js';
import {
  type AiringView,
  absSummary,
  createOnceProgram,
  prng,
  uploadTone,
  waitUntil,
} from './schedule-common.js';

export interface StartBenchOptions {
  receivers?: number;
  /** airings, a few seconds apart (default 10) */
  airings?: number;
  /** audio items per airing (default 3, 1.5 s each) */
  items?: number;
  maxOffsetMs?: number;
  maxDriftPpm?: number;
  delayMs?: [min: number, max: number];
  /** check every outgoing report against the contract in the simulator (default false, as bench/ does) */
  checkOwnPayloads?: boolean;
  seed?: number;
  /**
   * 'child' (default): the controller runs in a process of its own, as in production, where it
   * is not on the receivers' CPU; 'in-process': in this process, sharing one event loop with
   * all N receivers (a diagnosis: see bench/README.md)
   */
  controller?: 'child' | 'in-process';
  /** a second time exchange per receiver, a group at a time, before the airings (default true) */
  resync?: boolean;
  /** write the item-start moments (monotonic µs) here, for bench/profile.ts --windows */
  windowsFile?: string;
  /** the whole run gives up after this (default 180 s) */
  timeoutMs?: number;
  log?: (line: string) => void;
}

/** One item start of one receiver. */
interface StartSample {
  airing: number;
  item: number;
  /** true start − scheduled instant, ms */
  errorMs: number;
  /** the receiver's estimate of controller time − true time, at that moment */
  syncMs: number;
  /** the instant its timer fired on its estimated scale − scheduled instant */
  timerMs: number;
}

export interface StartBenchResult {
  receivers: number;
  airings: number;
  items: number;
  /** airings × receivers that aired (every item started) */
  aired: number;
  expected: number;
  /** |true start − scheduled| of the first item, over airings × receivers */
  error: Summary;
  /** the same for every item (items after the first follow the previous item's end timer) */
  errorAllItems: Summary;
  /** max − min of the first item's start across receivers, per airing */
  spreadP50Ms: number | null;
  spreadP99Ms: number | null;
  spreadMaxMs: number | null;
  /** where the first item's error comes from (|parts|): clock estimate, timer, event-loop wait */
  parts: { sync: Summary; timer: Summary; loop: Summary };
  /**
   * lateness of a bare timer (src/time/clock.ts at()) armed in the receivers' process for each
   * item's scheduled instant on the true clock: what any timer there suffers at that moment
   */
  probeTimer: Summary;
  controller: 'child' | 'in-process';
  /** real ms from the first receiver online to the last synced */
  syncSpanMs: number;
  error_samples_ms: number[];
}
type Summary = ReturnType<typeof absSummary>;

const GAP_MS = 7000;
const LEAD_MS = 12_000;
const RESYNC_GROUP = 20;

export async function measureStartAccuracy(opts: StartBenchOptions = {}): Promise<StartBenchResult> {
  const n = opts.receivers ?? 100;
  const nAirings = opts.airings ?? 10;
  const nItems = opts.items ?? 3;
  const maxOffset = opts.maxOffsetMs ?? 2000;
  const maxDrift = opts.maxDriftPpm ?? 50;
  const [dMin, dMax] = opts.delayMs ?? [5, 200];
  const timeoutMs = opts.timeoutMs ?? 180_000;
  const log = opts.log ?? (() => {});
  const rnd = prng(opts.seed ?? 8);
  const between = (lo: number, hi: number) => () => lo + rnd() * (hi - lo);
  const where = opts.controller ?? 'child';
  // The true time scale: the system clock, which a child controller also runs on (same host).
  const clock: Clock = where === 'child' ? systemClock : scaledClock(1);
  const controller = where === 'child' ? await childController() : await inProcessController(clock);
  let fleet: Fleet | null = null;
  const probes: Timer[] = [];
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1000, deadline - Date.now());
  try {
    const api = new Api(controller.httpUrl);
    await api.login(controller.password);
    await api.json('POST', '/api/zones', { id: 'bench', name: 'Bench' });
    const bundles = await registerReceivers({
      apiUrl: controller.httpUrl,
      token: api.token,
      ids: fleetIds(n, 'st'),
      zoneId: 'bench',
    });
    const byId = new Map(bundles.map((b) => [b.receiverId, b]));

    // ---- the airings' ids are known only later: collect every item start, sort them out after
    const starts: {
      rx: SimReceiver;
      airingId: string;
      item: number;
      trueAt: number;
      reportAt: number;
      sync: number;
    }[] = [];
    const ended = new Map<string, number>();
    let synced = 0;
    const pokes = new Set<() => void>();
    const poke = () => {
      for (const p of pokes) p();
    };
    const subscribe = (p: () => void) => {
      pokes.add(p);
      return () => pokes.delete(p);
    };
    const t0 = performance.now();
    let lastSynced = t0;
    fleet = await startFleet({
      ...optionsFromBundle(bundles[0]!),
      count: n,
      idPrefix: 'st',
      clock,
      // A burst goes on until its bound is 4 ms or it has sent 48 requests (default: 10 ms).
      timeSync: { targetBoundMs: 4 },
      configGraceMs: 50,
      checkOwnPayloads: opts.checkOwnPayloads ?? false,
      configure: (id) => ({
        ...optionsFromBundle(byId.get(id)!),
        clockOffsetMs: (rnd() * 2 - 1) * maxOffset,
        driftPpm: (rnd() * 2 - 1) * maxDrift,
        delay: { upMs: between(dMin, dMax), downMs: between(dMin, dMax) },
      }),
      onCreate: (rx) => {
        rx.once('synced', () => {
          synced++;
          lastSynced = performance.now();
          poke();
        });
        rx.on('airing', (r) => {
          if (r.kind !== 'airing' || !r.airingId) return;
          if (r.state === 'started' && r.item !== undefined) {
            // the true instant now, finer than the record's ISO `at` (the same moment)
            const trueAt = clock.now();
            starts.push({
              rx,
              airingId: r.airingId,
              item: r.item,
              trueAt,
              reportAt: r.report.kind === 'airing' ? Date.parse(r.report.at) : Number.NaN,
              sync: rx.controllerNow() - trueAt,
            });
          } else if (r.state === 'ended') {
            ended.set(r.airingId, (ended.get(r.airingId) ?? 0) + 1);
            poke();
          }
        });
      },
    });
    await waitUntil(
      () => synced === n,
      left(),
      () => `only ${synced} of ${n} receivers synced their clocks`,
      subscribe,
    );
    const syncSpanMs = Math.round(lastSynced - t0);
    await Promise.all(fleet.receivers.map((rx) => rx.waitForConfig((c) => c.adopted, left())));
    log(`${n} receivers online, adopted, clocks synced in ${(syncSpanMs / 1000).toFixed(1)} s`);

    // ---- the programs, then their airings moved to instants a few seconds apart
    const audio = await uploadTone(api);
    const planned: AiringView[] = [];
    for (let a = 0; a < nAirings; a++) {
      const hh = String(8 + Math.floor(a / 6)).padStart(2, '0');
      const mm = String((a % 6) * 10).padStart(2, '0');
      const { airing } = await createOnceProgram(api, {
        id: `bench-start-${a + 1}`,
        title: `Bench start ${a + 1}`,
        audioId: audio.id,
        items: nItems,
        at: `${hh}:${mm}`,
        now: clock.now(),
      });
      planned.push(airing);
    }
    // A second, quiet exchange for every clock, a group at a time: the first bursts ran all at
    // once while N receivers came online on one event loop, so their samples carry its lag.
    const resync = Date.now();
    if (opts.resync ?? true) await resyncInGroups(fleet.receivers, RESYNC_GROUP, left());
    const bounds = fleet.receivers.map((rx) => rx.sync.errorBoundMs);
    log(
      `second time exchange in groups of ${RESYNC_GROUP}: ${((Date.now() - resync) / 1000).toFixed(1)} s; ` +
        `error bound p50 ${absSummary(bounds).p50} ms, p99 ${absSummary(bounds).p99} ms`,
    );
    // Whole seconds from LEAD_MS ahead, once every program exists: the shifts are quick.
    const first = Math.ceil((clock.now() + LEAD_MS) / 1000) * 1000;
    const airings: AiringView[] = [];
    for (const [a, airing] of planned.entries()) {
      const at = new Date(first + a * GAP_MS).toISOString();
      airings.push(await api.json<AiringView>('POST', `/api/airings/${airing.id}/shift`, { at }));
    }
    const index = new Map(airings.map((a, i) => [a.id, i]));
    const probeLate: number[] = [];
    const windows: [number, number][] = [];
    const monoUs = (ms: number) => Number(process.hrtime.bigint() / 1000n) + (ms - clock.now()) * 1000;
    for (const a of airings) {
      let slot = Date.parse(a.at);
      for (const item of a.items) {
        const due = slot;
        probes.push(at(clock, due, () => probeLate.push(clock.now() - due)));
        windows.push([monoUs(due - 30), monoUs(due + 200)]);
        slot += item.durationMs;
      }
    }
    // For bench/profile.ts --windows <file> --phase starts: the moments around each item's start.
    if (opts.windowsFile) writeFileSync(opts.windowsFile, JSON.stringify({ starts: windows }));
    const lastEnd = Date.parse(airings.at(-1)!.at) + nItems * audio.durationMs;
    log(
      `${nAirings} airings of ${nItems} × ${audio.durationMs} ms, ${GAP_MS / 1000} s apart, the first at ` +
        `${new Date(first).toISOString()} (${((first - clock.now()) / 1000).toFixed(1)} s ahead)`,
    );
    await waitUntil(
      () => airings.every((a) => (ended.get(a.id) ?? 0) >= n),
      Math.min(left(), lastEnd - clock.now() + 30_000),
      () =>
        `not every receiver ended every airing: ${airings.map((a) => ended.get(a.id) ?? 0).join(', ')} of ${n}`,
      subscribe,
    );

    // ---- the figures
    const samples: StartSample[] = [];
    for (const s of starts) {
      const a = index.get(s.airingId);
      if (a === undefined) continue;
      const airing = airings[a]!;
      const slot =
        Date.parse(airing.at) + airing.items.slice(0, s.item).reduce((sum, i) => sum + i.durationMs, 0);
      samples.push({
        airing: a,
        item: s.item,
        errorMs: s.trueAt - slot,
        syncMs: s.sync,
        timerMs: s.reportAt - slot,
      });
    }
    const firsts = samples.filter((s) => s.item === 0);
    const spreads = airings.map((_, a) => {
      const e = firsts.filter((s) => s.airing === a).map((s) => s.errorMs);
      return e.length ? Math.max(...e) - Math.min(...e) : Number.NaN;
    });
    const spread = absSummary(spreads.filter(Number.isFinite));
    const aired = airings.reduce((sum, a) => {
      const per = new Map<SimReceiver, number>();
      for (const s of starts) if (s.airingId === a.id) per.set(s.rx, (per.get(s.rx) ?? 0) + 1);
      return sum + [...per.values()].filter((c) => c === nItems).length;
    }, 0);
    return {
      receivers: n,
      airings: nAirings,
      items: nItems,
      aired,
      expected: n * nAirings,
      error: absSummary(firsts.map((s) => s.errorMs)),
      errorAllItems: absSummary(samples.map((s) => s.errorMs)),
      spreadP50Ms: spread.p50,
      spreadP99Ms: spread.p99,
      spreadMaxMs: spread.max,
      parts: {
        sync: absSummary(firsts.map((s) => s.syncMs)),
        timer: absSummary(firsts.map((s) => s.timerMs)),
        // true start = timer instant on the estimated scale − estimate error + the wait after it
        loop: absSummary(firsts.map((s) => s.errorMs - (s.timerMs - s.syncMs))),
      },
      probeTimer: absSummary(probeLate),
      controller: where,
      syncSpanMs,
      error_samples_ms: firsts.map((s) => Math.round(s.errorMs * 10) / 10),
    };
  } finally {
    for (const p of probes) p.cancel();
    await fleet?.stop();
    await controller.stop();
  }
}

/** Runs a time-exchange burst on each receiver, `group` at a time, each group until all synced. */
async function resyncInGroups(receivers: readonly SimReceiver[], group: number, timeoutMs: number) {
  for (let i = 0; i < receivers.length; i += group) {
    const part = receivers.slice(i, i + group);
    await Promise.all(
      part.map(
        (rx) =>
          new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`${rx.id}: no second sync`)), timeoutMs);
            rx.once('synced', () => {
              clearTimeout(timer);
              resolve();
            });
            rx.resync();
          }),
      ),
    );
  }
}

interface BenchController {
  httpUrl: string;
  password: string;
  stop(): Promise<void>;
}

async function childController(): Promise<BenchController> {
  const ctl = await startControllerProcess({});
  return { httpUrl: ctl.httpUrl, password: ctl.adminPassword, stop: () => ctl.stop() };
}

async function inProcessController(clock: Clock): Promise<BenchController> {
  const dataDir = mkdtempSync(join(tmpdir(), 'loalang-start-bench-'));
  const password = `bench-${Math.random().toString(36).slice(2)}-admin`;
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    MQTT_PORT: '0',
    MQTT_HOST: '127.0.0.1',
    LOALANG_DATA_DIR: dataDir,
    SCHEDULES_DIR: 'off',
    LOG_LEVEL: 'silent',
    ADMIN_PASSWORD: password,
  });
  const controller = await startController(config, createLogger('silent', false), { clock });
  return {
    httpUrl: controller.httpUrl,
    password,
    async stop() {
      await controller.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const n = Number(process.argv[2] ?? 100);
  const controller = process.argv[3] === 'in-process' ? 'in-process' : 'child';
  process.on('exit', killAll);
  const windowsFile = process.env.BENCH_WINDOWS_FILE;
  measureStartAccuracy({
    receivers: n,
    controller,
    ...(windowsFile ? { windowsFile } : {}),
    log: (l) => console.error(l),
  }).then(
    (r) => console.log(JSON.stringify({ ...r, error_samples_ms: r.error_samples_ms.length }, null, 2)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
