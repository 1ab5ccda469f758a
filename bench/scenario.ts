/**
 * One configuration of the bench (N receivers, one broker), start to finish, on one broker and one
 * controller: N simulated receivers registered, adopted and warmed up (audio cached), N raw MQTT
 * floor clients, then floor and loalang rounds interleaved, so that both see the same conditions.
 * Everything it starts is stopped at the end, also on failure or when the configuration runs out of time.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { toneWav } from '../scripts/wav.js';
import { CONTROLLER_USERNAME } from '../src/mqtt/broker.js';
import { startMosquitto } from '../test/helpers/mosquitto.js';
import { Api, type Bulletin } from './api.js';
import { controllerSigningKey, directCommand } from './direct.js';
import type { RoundTrip } from './observer.js';
import { Observer, PING_TOPIC, PONG_PREFIX } from './observer.js';
import { memoryMb, startControllerProcess, trackMosquitto } from './procs.js';
import { directRound, floorRound, type LoalangSample, loalangRound, summarize } from './rounds.js';
import { type BrokerKind, CpuMeter, emptyResult, type RunResult, round1 } from './stats.js';
import { split, Worker } from './workers.js';

export interface ConfigurationOptions {
  n: number;
  broker: BrokerKind;
  rounds: number;
  /** untimed rounds (one floor and one loalang each) before the timed ones */
  warmupRounds: number;
  /** how long a simulated receiver plays the bench's bulletin (ms) */
  playMs: number;
  timeoutMs: number;
  /** also run direct rounds (bench/direct.ts) */
  direct: boolean;
  /** where to write CPU profiles of the controller and the workers, or null */
  profileDir: string | null;
  log: (line: string) => void;
}

const WORKERS = 2;
const CONNECT_CONCURRENCY = 50;
const REGISTER_CONCURRENCY = 8;
/** idle time before each round, the same for both kinds */
const PAUSE_MS = 200;
const AUDIO_MS = 400;

const ids = (prefix: string, n: number) => {
  const width = Math.max(4, String(n).length);
  return Array.from({ length: n }, (_, i) => `${prefix}-${String(i + 1).padStart(width, '0')}`);
};

async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>) {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/**
 * Node flags for a CPU profile of one process, in a directory of its own: tsx's module hooks run
 * in a thread of their own, which writes a profile too (the main thread's file has thread id 0).
 */
function profileArgs(opts: ConfigurationOptions, who: string): string[] {
  if (!opts.profileDir) return [];
  return ['--cpu-prof', `--cpu-prof-dir=${join(opts.profileDir, `${who}-${opts.broker}-${opts.n}`)}`];
}

export async function runConfiguration(opts: ConfigurationOptions): Promise<RunResult> {
  const result = emptyResult(opts.n, opts.broker, opts.rounds);
  const cleanups: (() => Promise<void>)[] = [];
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(new Error(`configuration did not finish within ${opts.timeoutMs / 1000} s`));
    }, opts.timeoutMs);
  });
  try {
    await Promise.race([measure(opts, result, cleanups, abort.signal), timeout]);
    result.status = 'ok';
  } catch (err) {
    result.status = 'failed';
    result.error = err instanceof Error ? err.message : String(err);
  } finally {
    clearTimeout(timer);
    abort.abort();
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((err: unknown) => opts.log(`cleanup: ${String(err)}`));
    }
  }
  return result;
}

async function measure(
  opts: ConfigurationOptions,
  result: RunResult,
  cleanups: (() => Promise<void>)[],
  signal: AbortSignal,
): Promise<void> {
  const { n, log } = opts;
  const started = Date.now();
  const step = (what: string) => {
    signal.throwIfAborted();
    log(`${what} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  };

  let brokerPid: number | null = null;
  let mqttUrl: string | undefined;
  if (opts.broker === 'mosquitto') {
    const m = await startMosquitto();
    const untrack = trackMosquitto(m.pid);
    cleanups.push(() => m.stop().finally(untrack));
    brokerPid = m.pid;
    mqttUrl = m.url;
  }
  const ctl = await startControllerProcess({
    mqttUrl,
    nodeArgs: profileArgs(opts, 'controller'),
  });
  cleanups.push(async () => {
    result.rss_peak_mb = round1(memoryMb(ctl.pid)?.peak ?? null);
    result.controller_warnings = ctl.warnings().length;
    for (const w of ctl.warnings().slice(0, 5)) log(`controller warned: ${w.slice(0, 300)}`);
    await ctl.stop();
  });
  result.rss_start_mb = round1(memoryMb(ctl.pid)?.rss ?? null);
  step(`controller pid ${ctl.pid} on ${ctl.httpUrl}, broker ${ctl.mqttUrl}, RSS ${result.rss_start_mb} MB`);
  const api = new Api(ctl.httpUrl);
  await api.login(ctl.adminPassword);
  // The embedded broker lets only the controller's login publish and subscribe outside receiver topics.
  const auth =
    opts.broker === 'embedded' ? { username: CONTROLLER_USERNAME, password: ctl.brokerSecret() } : null;
  const observer = await Observer.connect(ctl.mqttUrl, auth, opts.direct);
  cleanups.push(() => observer.close());
  observer.expect(n);
  const workers = Array.from(
    { length: WORKERS },
    (_, i) => new Worker(`w${i + 1}`, profileArgs(opts, `worker${i + 1}`)),
  );
  cleanups.push(async () => {
    await Promise.all(workers.map((w) => w.stop()));
  });
  const onWorkers = (
    parts: string[][],
    request: (part: string[]) => Parameters<Worker['request']>[0],
    ms: number,
  ) => Promise.all(workers.map((w, i) => w.request(request(parts[i] ?? []), ms)));
  const cpuPids = { controller: ctl.pid, broker: brokerPid, workers: workers.map((w) => w.pid) };

  // ---- the fleet: N receivers registered, online, adopted, with the audio in their cache
  const zone = await api.json<{ id: string }>('POST', '/api/zones', { id: 'bench', name: 'Bench village' });
  const rxIds = ids('bn', n);
  // Each registration answers the receiver's MQTT password, once: the workers log in with them.
  const passwords = new Map<string, string>();
  await mapLimit(rxIds, REGISTER_CONCURRENCY, async (id) => {
    const rx = await api.json<{ provisioning: { mqtt: { password: string } } }>('POST', '/api/receivers', {
      id,
      zoneId: zone.id,
    });
    passwords.set(id, rx.provisioning.mqtt.password);
  });
  step(`${n} receivers registered in zone "${zone.id}", each with its own credentials`);
  await onWorkers(
    split(rxIds, WORKERS),
    (part) => ({
      op: 'fleetStart',
      brokerUrl: ctl.mqttUrl,
      keyUrl: `${ctl.httpUrl}/api/system/signing-key`,
      ids: part,
      passwords: part.map((id) => passwords.get(id) ?? ''),
      timeFactor: opts.playMs / AUDIO_MS,
      concurrency: CONNECT_CONCURRENCY,
      adoptTimeoutMs: 60_000,
    }),
    150_000,
  );
  await api.until(
    `${n} receivers online at the controller`,
    async () => {
      const h = await api.json<{ receivers: { online: number } }>('GET', '/api/health');
      return h.receivers.online === n ? true : null;
    },
    60_000,
    200,
  );
  await sleep(1000); // let the connection storm settle before reading memory
  result.rss_mb = round1(memoryMb(ctl.pid)?.rss ?? null);
  result.broker_rss_mb = brokerPid === null ? null : round1(memoryMb(brokerPid)?.rss ?? null);
  step(`${n} simulated receivers online and adopted; controller RSS ${result.rss_mb} MB`);

  const audio = await api.uploadAudio(toneWav(AUDIO_MS), 'bench-tone.wav');
  const warm = await api.json<Bulletin>('POST', '/api/bulletins', {
    title: 'bench warm-up',
    audioId: audio.id,
    target: { all: true },
    priority: 'normal',
    repeat: 1,
    gapSeconds: 0,
  });
  const warmed = await api.until(
    'the warm-up bulletin to finish',
    async () => {
      const b = await api.json<Bulletin>('GET', `/api/bulletins/${warm.id}`);
      return b.summary.finished === b.summary.total ? b : null;
    },
    90_000,
    250,
  );
  if (warmed.summary.byState.done !== n) {
    throw new Error(
      `warm-up: only ${warmed.summary.byState.done} of ${n} done: ${JSON.stringify(warmed.summary.byState)}`,
    );
  }
  step(`warm-up bulletin done on all ${n} receivers (audio ${audio.durationMs} ms, now cached)`);

  // ---- the floor clients: N raw MQTT clients, connected from here to the end
  await onWorkers(
    split(ids('bench-floor', n), WORKERS),
    (clientIds) => ({
      op: 'floorStart',
      url: ctl.mqttUrl,
      ...(auth ?? {}),
      clientIds,
      pingTopic: PING_TOPIC,
      pongPrefix: PONG_PREFIX,
      concurrency: CONNECT_CONCURRENCY,
    }),
    120_000,
  );
  step(`${n} raw MQTT floor clients connected`);

  // ---- the rounds, interleaved: floor, loalang, floor, loalang… (warm-up rounds untimed)
  const floorCpu = new CpuMeter(cpuPids);
  const cpu = new CpuMeter(cpuPids);
  const directCpu = new CpuMeter(cpuPids);
  const floor: RoundTrip[] = [];
  const loalang: LoalangSample[] = [];
  const direct: RoundTrip[] = [];
  // An emergency to every village needs the sender's PIN; the admin has none, so its password.
  const ctx = { api, observer, audioId: audio.id, n, pin: ctl.adminPassword };
  const signingKey = opts.direct ? controllerSigningKey(ctl.dataDir) : null;
  const directCtx = signingKey
    ? { observer, command: (r: number) => directCommand(signingKey, audio, ctl.httpUrl, r) }
    : null;
  const pause = async () => {
    await sleep(PAUSE_MS);
    signal.throwIfAborted();
  };
  for (let r = -opts.warmupRounds; r < opts.rounds; r++) {
    const timed = r >= 0;
    await pause();
    const trip = await floorRound(observer, r, timed ? floorCpu : null);
    if (directCtx) await pause();
    const reference = directCtx ? await directRound(directCtx, r, timed ? directCpu : null) : null;
    await pause();
    const sample = await loalangRound(ctx, r, timed ? cpu : null);
    if (!timed) continue;
    floor.push(trip);
    loalang.push(sample);
    if (reference) direct.push(reference);
  }
  summarize(result, floor, loalang, direct);
  result.cpu_ms_per_round = {
    floor: floorCpu.perWindow(),
    loalang: cpu.perWindow(),
    ...(opts.direct ? { direct: directCpu.perWindow() } : {}),
  };
  if (opts.profileDir) {
    // For bench/profile.ts: the timed windows, to look at the profiles' samples in them only.
    const windows = { floor: floorCpu.windows, loalang: cpu.windows, direct: directCpu.windows };
    writeFileSync(join(opts.profileDir, `windows-${opts.broker}-${n}.json`), JSON.stringify(windows));
  }
  step(
    `floor p50 ${result.floor_p50_ms} ms, loalang p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms ` +
      `(ratio ${result.ratio_p50})`,
  );
  await onWorkers([], () => ({ op: 'floorStop' }), 30_000);
  await onWorkers([], () => ({ op: 'fleetStop' }), 60_000);
  const protocolErrors = workers.reduce((sum, w) => sum + w.protocolErrors, 0);
  if (protocolErrors > 0) throw new Error(`the simulators reported ${protocolErrors} protocol errors`);
  if (observer.malformed > 0) throw new Error(`${observer.malformed} malformed receiver events seen`);
}
