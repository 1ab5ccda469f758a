/** `npm start` and `npm run demo` as a user runs them: real processes, real ports. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from './helpers/mosquitto.js';

const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function run(script: string, args: string[], env: Record<string, string>) {
  // As `npm start` runs it: node with the tsx loader (the tsx CLI wrapper SIGKILLs a child that
  // has not answered a relayed SIGTERM within about 60 ms, skipping its shutdown).
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  /** Resolves when the output contains `text`; rejects if the process exits first or after `ms`. */
  const printed = (text: string, ms = 20_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!out.includes(text)) return;
        done();
        resolve();
      };
      const onExit = () => {
        done();
        reject(new Error(`exited before printing "${text}": ${out}`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`"${text}" not printed within ${ms} ms: ${out}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        child.stdout?.off('data', check);
        child.off('exit', onExit);
      };
      child.stdout?.on('data', check);
      child.once('exit', onExit);
      check();
    });
  return { child, exited, printed, output: () => out };
}

const dataDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'loalang-srv-'));
  dirs.push(d);
  return d;
};

describe('npm start', () => {
  it('refuses a bad setting with a message naming the variable', async () => {
    const p = run('src/server.ts', [], { PORT: 'eighty', TZ: 'Mars/Olympus', LOALANG_DATA_DIR: dataDir() });
    expect(await p.exited).toBe(2);
    expect(p.output()).toMatch(/PORT/);
    expect(p.output()).toMatch(/TZ: an IANA time zone/);
  });

  it('explains what to do when the embedded broker port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const p = run('src/server.ts', [], {
        PORT: '0',
        HOST: '127.0.0.1',
        MQTT_HOST: '127.0.0.1',
        MQTT_PORT: String(port),
        LOALANG_DATA_DIR: dataDir(),
      });
      expect(await p.exited).toBe(3);
      expect(p.output()).toMatch(/already in use/);
      expect(p.output()).toMatch(/MQTT_URL=mqtt:\/\/127\.0\.0\.1:/);
    } finally {
      blocker.close();
    }
  });

  it('starts with the embedded broker, prints a one-time set-up code (no default password), serves health, stops on SIGTERM', async () => {
    const [http, mqtt] = [await freePort(), await freePort()];
    const dir = dataDir();
    const env = {
      PORT: String(http),
      HOST: '127.0.0.1',
      MQTT_HOST: '127.0.0.1',
      MQTT_PORT: String(mqtt),
      LOALANG_DATA_DIR: dir,
    };
    const CODE = /\b([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})\b/;
    const p = run('src/server.ts', [], env);
    await p.printed('loalang is running');
    const code = CODE.exec(p.output())?.[1];
    expect(code).toBeTruthy();
    const health = await fetch(`http://127.0.0.1:${http}/api/health`);
    expect(await health.json()).toMatchObject({ status: 'ok', mqtt: 'connected' });
    const post = (path: string, body: unknown) =>
      fetch(`http://127.0.0.1:${http}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const password = 'chosen-at-setup-123';
    expect((await post('/api/auth/setup', { code, password })).status).toBe(201);
    expect((await post('/api/auth/login', { username: 'admin', password })).status).toBe(200);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);

    // Second start on the same data: an account exists, so no code.
    const again = run('src/server.ts', [], env);
    await again.printed('loalang is running');
    expect(again.output()).not.toMatch(CODE);
    expect((await post('/api/auth/setup', { code, password: 'another-password-1' })).status).toBe(409);
    again.child.kill('SIGTERM');
    expect(await again.exited).toBe(0);
  });
});

describe('npm run demo', () => {
  it('loads Hướng Đạo, airs its 05:00 program on all 14 villages in scaled time, then plays a bulletin on all', async () => {
    const p = run('scripts/demo.ts', ['--once'], {});
    expect(await p.exited, p.output()).toBe(0);
    expect(p.output()).toContain('online: 14/14');
    expect(p.output()).toContain('Program aired: 14/14 villages at 05:00');
    expect(p.output()).toContain('Finished: 14/14');
  }, 90_000);
});
