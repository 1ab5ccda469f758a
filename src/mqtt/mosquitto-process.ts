/**
 * Runs a Mosquitto process on a free loopback port with its own config file, stopped by its
 * process id: for the test suites and for the conformance kit (`--broker mosquitto`), which never
 * assume a broker is running.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CANDIDATES = [
  '/usr/sbin/mosquitto',
  '/usr/bin/mosquitto',
  '/usr/local/sbin/mosquitto',
  '/usr/local/bin/mosquitto',
];

export function findMosquitto(): string | null {
  for (const p of CANDIDATES) if (existsSync(p)) return p;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'mosquitto'))) return join(dir, 'mosquitto');
  }
  return null;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface MosquittoHandle {
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/**
 * The broker settings loalang needs (see README, "Deployment"): Mosquitto's default
 * max_queued_messages of 1000 drops QoS 1 messages to a slow client under a fleet-wide burst.
 */
export const MOSQUITTO_TUNING = [
  'max_queued_messages 100000',
  'max_inflight_messages 0',
  'max_keepalive 300',
];

/** Starts Mosquitto on a free port, or on `opts.port` (to restart a broker where it was). */
export async function startMosquitto(
  extraConfig: string[] = [],
  opts: { port?: number } = {},
): Promise<MosquittoHandle> {
  const bin = findMosquitto();
  if (!bin) throw new Error('mosquitto binary not found');
  const dir = mkdtempSync(join(tmpdir(), 'loalang-mosq-'));
  for (let attempt = 0; ; attempt++) {
    const port = opts.port ?? (await freePort());
    const conf = join(dir, 'mosquitto.conf');
    writeFileSync(
      conf,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence false',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        'log_type notice',
        'log_type information',
        ...MOSQUITTO_TUNING,
        ...extraConfig,
        '',
      ].join('\n'),
    );
    const child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    const started = await waitForRunning(child);
    if (started === 'running') {
      return {
        url: `mqtt://127.0.0.1:${port}`,
        port,
        pid: child.pid!,
        stop: () => stopChild(child).finally(() => rmSync(dir, { recursive: true, force: true })),
      };
    }
    await stopChild(child);
    // The port was taken between our probe and Mosquitto's bind: try another.
    if (attempt >= 4) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`mosquitto did not start: ${started}`);
    }
  }
}

function waitForRunning(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      if (/mosquitto version \S+ running/.test(out)) {
        child.stderr?.off('data', onData);
        child.stderr?.resume();
        resolve('running');
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', (code) => resolve(`exited with ${code}: ${out.trim()}`));
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
