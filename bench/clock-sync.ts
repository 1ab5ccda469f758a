/**
 * Clock-sync accuracy: a controller (embedded broker, in process) and N simulated receivers whose
 * clocks are off by up to ±2 s and drift up to ±50 ppm, behind links with random one-way delays
 * of 5–200 ms drawn independently up and down (asymmetric), order kept per link. Once every
 * receiver has synced, each one's estimate of the controller's clock is compared with the true
 * time, which is known in process: |controllerNow() − true now|.
 *
 *     npx tsx bench/clock-sync.ts [N]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  fleetIds,
  optionsFromBundle,
  registerReceivers,
  type SimReceiver,
  type SyncState,
  startFleet,
} from '../firmware-sim/index.js';
import { loadConfig } from '../src/config.js';
import { startController } from '../src/controller.js';
import { createLogger } from '../src/log.js';
import { scaledClock } from '../src/time/clock.js';
import { Api } from './api.js';
import { prng } from './random.js';
import { percentile, round1 } from './stats.js';

export interface ClockSyncBenchOptions {
  receivers?: number;
  maxOffsetMs?: number;
  maxDriftPpm?: number;
  delayMs?: [min: number, max: number];
  /** the whole run gives up after this (default 120 s) */
  timeoutMs?: number;
  seed?: number;
}

export interface ClockSyncBenchResult {
  receivers: number;
  /** |estimate − true time|, ms */
  errorP50Ms: number | null;
  errorP99Ms: number | null;
  errorMaxMs: number | null;
  /** the receivers' own proven bounds on that error, ms */
  boundP50Ms: number | null;
  boundP99Ms: number | null;
  /** exchanges per receiver in its first sync, median */
  samplesP50: number | null;
  /** from the first receiver online to the last synced, ms */
  syncSpanMs: number;
}

export async function measureClockSync(opts: ClockSyncBenchOptions = {}): Promise<ClockSyncBenchResult> {
  const n = opts.receivers ?? 100;
  const maxOffset = opts.maxOffsetMs ?? 2000;
  const maxDrift = opts.maxDriftPpm ?? 50;
  const [dMin, dMax] = opts.delayMs ?? [5, 200];
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const rnd = prng(opts.seed ?? 12);
  const between = (lo: number, hi: number) => () => lo + rnd() * (hi - lo);
  const clock = scaledClock(1);
  const dataDir = mkdtempSync(join(tmpdir(), 'loalang-clock-bench-'));
  const password = 'bench-admin-password-123';
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
  let fleet: Awaited<ReturnType<typeof startFleet>> | null = null;
  try {
    const api = new Api(controller.httpUrl);
    await api.login(password);
    await api.json('POST', '/api/zones', { id: 'bench', name: 'Bench' });
    const bundles = await registerReceivers({
      apiUrl: controller.httpUrl,
      token: api.token,
      ids: fleetIds(n, 'cs'),
      zoneId: 'bench',
    });
    const byId = new Map(bundles.map((b) => [b.receiverId, b]));
    const syncedAt = new Map<string, { at: number; state: SyncState }>();
    let allSynced: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      allSynced = resolve;
    });
    const t0 = performance.now();
    const first = optionsFromBundle(bundles[0]!);
    fleet = await startFleet({
      ...first,
      count: n,
      idPrefix: 'cs',
      clock,
      timeSync: true,
      configGraceMs: 50,
      configure: (id) => ({
        ...optionsFromBundle(byId.get(id)!),
        clockOffsetMs: (rnd() * 2 - 1) * maxOffset,
        driftPpm: (rnd() * 2 - 1) * maxDrift,
        delay: { upMs: between(dMin, dMax), downMs: between(dMin, dMax) },
      }),
      onCreate: (rx: SimReceiver) =>
        rx.once('synced', (state) => {
          syncedAt.set(rx.id, { at: performance.now(), state });
          if (syncedAt.size === n) allSynced();
        }),
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`only ${syncedAt.size} of ${n} receivers synced in ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    await Promise.race([done, timedOut]).finally(() => clearTimeout(timer));
    const syncSpanMs = Math.round(Math.max(...[...syncedAt.values()].map((s) => s.at)) - t0);
    const errors: number[] = [];
    const bounds: number[] = [];
    for (const rx of fleet.receivers) {
      errors.push(Math.abs(rx.controllerNow() - clock.now()));
      bounds.push(rx.sync.errorBoundMs);
    }
    const samples = [...syncedAt.values()].map((s) => s.state.samples);
    return {
      receivers: n,
      errorP50Ms: round1(percentile(errors, 50)),
      errorP99Ms: round1(percentile(errors, 99)),
      errorMaxMs: round1(Math.max(...errors)),
      boundP50Ms: round1(percentile(bounds, 50)),
      boundP99Ms: round1(percentile(bounds, 99)),
      samplesP50: percentile(samples, 50),
      syncSpanMs,
    };
  } finally {
    await fleet?.stop();
    await controller.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const n = Number(process.argv[2] ?? 100);
  measureClockSync({ receivers: n }).then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
