/**
 * Processes the bench starts: a registry so that every one of them is killed by its pid when the
 * bench exits for any reason, the controller as a child process (`node --import tsx src/server.ts`),
 * and what /proc says about a process (resident memory, CPU time).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { freePort } from '../test/helpers/mosquitto.js';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

const live = new Set<ChildProcess>();
const extraPids = new Set<number>();
const tempDirs = new Set<string>();

export function track(child: ChildProcess): void {
  live.add(child);
}
export function untrack(child: ChildProcess): void {
  live.delete(child);
}
/**
 * A Mosquitto started by the test helper: its pid, and the temporary directory of its config file
 * (read from its command line), so that neither outlives the bench even when it is interrupted.
 */
export function trackMosquitto(pid: number): () => void {
  extraPids.add(pid);
  let dir: string | null = null;
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const conf = args[args.indexOf('-c') + 1] ?? '';
    if (/\/loalang-mosq-[^/]+\/mosquitto\.conf$/.test(conf)) dir = dirname(conf);
  } catch {
    // no /proc: nothing more to track
  }
  if (dir) tempDirs.add(dir);
  return () => {
    extraPids.delete(pid);
    if (dir) tempDirs.delete(dir);
  };
}

/** Last resort, synchronous: SIGKILL every process still running. */
export function killAll(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  for (const pid of extraPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}

/** Resident set size and its peak, in MB, from /proc/<pid>/status; null when unreadable. */
export function memoryMb(pid: number): { rss: number; peak: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
  } catch {
    return null;
  }
}

/** CPU time (user + system) a process has used, in ms, from /proc/<pid>/stat (USER_HZ = 100). */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

export interface ControllerProcess {
  pid: number;
  httpUrl: string;
  /** the embedded broker's URL, or the external one given */
  mqttUrl: string;
  dataDir: string;
  adminPassword: string;
  /** the embedded broker's password for `loalang-controller` (from <dataDir>/secrets.json) */
  brokerSecret(): string;
  /** log lines at level warn or above the controller printed */
  warnings(): string[];
  /** the last lines it printed, for error messages */
  tail(): string;
  /** 'running', or how it exited ('code 1', 'signal SIGKILL') */
  exitState(): string;
  /** SIGTERM (then SIGKILL after 15 s); removes the data directory unless it was given or `keepData` */
  stop(opts?: { keepData?: boolean }): Promise<void>;
  /** SIGKILL, as a crash: no clean shutdown, the data directory stays */
  kill(): Promise<void>;
}

/**
 * Starts the controller as a child process on free loopback ports with a fresh data directory,
 * with the embedded broker or `mqttUrl`; resolves once /api/health reports MQTT connected.
 */
export async function startControllerProcess(opts: {
  mqttUrl?: string | undefined;
  nodeArgs?: string[] | undefined;
  timeoutMs?: number | undefined;
  /** a restart: the same data directory, ports and admin password as before */
  restart?: Pick<ControllerProcess, 'dataDir' | 'httpUrl' | 'mqttUrl' | 'adminPassword'> | undefined;
  /** extra settings */
  env?: Record<string, string> | undefined;
  /** append everything the controller prints to this file (post-mortems) */
  logFile?: string | undefined;
}): Promise<ControllerProcess> {
  const given = opts.restart;
  const dataDir = given?.dataDir ?? mkdtempSync(join(tmpdir(), 'loalang-bench-'));
  if (!given) tempDirs.add(dataDir);
  const adminPassword = given?.adminPassword ?? `bench-${randomBytes(12).toString('base64url')}`;
  const port = given ? Number(new URL(given.httpUrl).port) : await freePort();
  const mqttPort = opts.mqttUrl ? 0 : given ? Number(new URL(given.mqttUrl).port) : await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Nothing from the caller's environment may point the controller elsewhere.
  for (const key of Object.keys(env)) {
    if (/^(MQTT_|LOALANG_)|^(PORT|HOST|PUBLIC_URL|ADMIN_PASSWORD|LOG_LEVEL|NODE_OPTIONS)$/.test(key))
      delete env[key];
  }
  Object.assign(env, {
    PORT: String(port),
    HOST: '127.0.0.1',
    LOALANG_DATA_DIR: dataDir,
    SCHEDULES_DIR: 'off',
    ADMIN_PASSWORD: adminPassword,
    LOG_LEVEL: 'warn',
    ...opts.env,
    ...(opts.mqttUrl ? { MQTT_URL: opts.mqttUrl } : { MQTT_PORT: String(mqttPort), MQTT_HOST: '127.0.0.1' }),
  });
  // Spawned as node itself (not through the tsx CLI), so this pid is the server's own.
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', 'src/server.ts'], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  const lines: string[] = [];
  const warnings: string[] = [];
  // The child's own banner, printed once it listens. A health answer alone could come from another
  // process: the port was free when chosen, but another test may have bound it before this child,
  // which then failed with EADDRINUSE while that other server answered.
  let announced = false;
  const banner = `127.0.0.1:${port}/api`;
  const onData = (chunk: Buffer) => {
    if (opts.logFile) appendFileSync(opts.logFile, chunk);
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      if (line.includes('HTTP API') && line.includes(banner)) announced = true;
      lines.push(line);
      if (lines.length > 40) lines.shift();
      if (/"level":(40|50|60)/.test(line) && warnings.length < 1000) warnings.push(line);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const tail = () => lines.slice(-15).join('\n');
  const exitState = () =>
    child.exitCode === null && child.signalCode === null
      ? 'running'
      : child.signalCode
        ? `signal ${child.signalCode}`
        : `code ${child.exitCode}`;

  const stop = async (how: { keepData?: boolean } = {}) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    untrack(child);
    if (!how.keepData && !given) {
      rmSync(dataDir, { recursive: true, force: true });
      tempDirs.delete(dataDir);
    }
  };
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    untrack(child);
  };

  const httpUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `controller exited at start (${child.signalCode ?? `code ${child.exitCode}`}):\n${tail()}`,
        );
      }
      const ok = await fetch(`${httpUrl}/api/health`, { signal: AbortSignal.timeout(2000) })
        .then(async (res) => res.ok && ((await res.json()) as { mqtt?: string }).mqtt === 'connected')
        .catch(() => false);
      if (ok && announced) break;
      if (Date.now() > deadline)
        throw new Error(`controller not healthy within ${opts.timeoutMs ?? 30_000} ms:\n${tail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }

  const secretsSchema = z.object({ brokerSecret: z.string() });
  return {
    pid: child.pid ?? 0,
    httpUrl,
    mqttUrl: opts.mqttUrl ?? `mqtt://127.0.0.1:${mqttPort}`,
    dataDir,
    adminPassword,
    brokerSecret: () =>
      secretsSchema.parse(JSON.parse(readFileSync(join(dataDir, 'secrets.json'), 'utf8'))).brokerSecret,
    warnings: () => warnings,
    tail,
    exitState,
    stop,
    kill,
  };
}
