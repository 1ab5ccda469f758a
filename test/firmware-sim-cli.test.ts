/**
 * The simulator's command line, run as a real process against the embedded broker, plus its
 * argument parsing and the small building blocks behind it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCliArgs } from '../firmware-sim/cli.js';
import { AudioCache, fleetIds, PlayQueue, trustedKeysFromInfo } from '../firmware-sim/index.js';
import { DEFAULT_TOPIC_ROOT, type ReceiverEvent, type Status } from '../src/contract/mqtt.js';
import { generateSigningKey, publicKeyPem } from '../src/contract/signing.js';
import { SimHarness, watch, wav } from './helpers/sim-harness.js';

describe('firmware-sim building blocks', () => {
  it('parses the command line', () => {
    const opts = parseCliArgs([
      '--count',
      '14',
      '--key-url',
      'http://x/key',
      '--prefix',
      'hd',
      '--heartbeat',
      '5',
    ]);
    expect(opts).toMatchObject({
      count: 14,
      keyUrl: 'http://x/key',
      prefix: 'hd',
      heartbeatMs: 5000,
      broker: 'mqtt://127.0.0.1:1883',
      timeFactor: 1,
      topicRoot: DEFAULT_TOPIC_ROOT,
    });
    expect(parseCliArgs(['--help'])).toBe('help');
    expect(() => parseCliArgs([])).toThrow(/--key-url/);
    expect(() => parseCliArgs(['--key-url', 'a', '--key-file', 'b'])).toThrow(/exactly one/);
    expect(() => parseCliArgs(['--key-file', 'k', '--count', '0'])).toThrow(/--count/);
    expect(() => parseCliArgs(['--key-file', 'k', '--time-factor', 'fast'])).toThrow(/--time-factor/);
    expect(() => parseCliArgs(['--key-file', 'k', '--nope'])).toThrow();
    // Credentials: a bundle file, registration through the API, or one receiver's by hand.
    expect(parseCliArgs(['--provisioning', 'b.json'])).toMatchObject({
      provisioning: 'b.json',
      brokerGiven: false,
    });
    expect(() => parseCliArgs(['--provisioning', 'b.json', '--count', '3'])).toThrow(/--count/);
    expect(
      parseCliArgs(['--register', 'http://c', '--zone', 'z', '--count', '3'], { LOALANG_TOKEN: 'tok' }),
    ).toMatchObject({ register: 'http://c', zone: 'z', token: 'tok', count: 3 });
    expect(() => parseCliArgs(['--register', 'http://c', '--zone', 'z'], {})).toThrow(/token/);
    expect(() => parseCliArgs(['--provisioning', 'b.json', '--register', 'http://c'])).toThrow(/at most one/);
    expect(parseCliArgs(['--username', 'rx-1', '--password', 'p', '--key-file', 'k'])).toMatchObject({
      username: 'rx-1',
      password: 'p',
    });
    expect(() => parseCliArgs(['--username', 'rx-1', '--key-file', 'k'])).toThrow(/together/);
  });

  it('names fleet receivers with at least two digits', () => {
    expect(fleetIds(14, 'hd')).toEqual(expect.arrayContaining(['hd-01', 'hd-09', 'hd-14']));
    expect(fleetIds(1000)[0]).toBe('rx-0001');
    expect(fleetIds(1000)[999]).toBe('rx-1000');
  });

  it('orders the queue by priority, then arrival', () => {
    const q = new PlayQueue<{
      priority: 'normal' | 'priority' | 'emergency';
      arrival: number;
      name: string;
    }>();
    q.push({ priority: 'normal', arrival: 1, name: 'n1' });
    q.push({ priority: 'priority', arrival: 2, name: 'p1' });
    q.push({ priority: 'normal', arrival: 3, name: 'n2' });
    q.push({ priority: 'emergency', arrival: 4, name: 'e1' });
    q.push({ priority: 'priority', arrival: 5, name: 'p2' });
    expect(q.items().map((i) => i.name)).toEqual(['e1', 'p1', 'p2', 'n1', 'n2']);
    expect(q.shift()?.name).toBe('e1');
  });

  it('evicts the least recently used audio', () => {
    const cache = new AudioCache(2);
    cache.set('a', Buffer.from('1'));
    cache.set('b', Buffer.from('2'));
    cache.get('a');
    cache.set('c', Buffer.from('3'));
    expect(cache.keys()).toEqual(['a', 'c']);
  });

  it('accepts only an Ed25519 key in the controller JSON', () => {
    const key = generateSigningKey('k1');
    const keys = trustedKeysFromInfo({ kid: 'k1', algorithm: 'Ed25519', publicKeyPem: publicKeyPem(key) });
    expect([...keys.keys()]).toEqual(['k1']);
    expect(() =>
      trustedKeysFromInfo({ kid: 'k1', algorithm: 'RS256', publicKeyPem: publicKeyPem(key) }),
    ).toThrow(/Ed25519/);
    expect(() => trustedKeysFromInfo({ kid: 'k1' })).toThrow();
  });
});

describe('firmware-sim CLI process', () => {
  let h: SimHarness;
  let dir: string;
  let child: ChildProcess | undefined;
  beforeAll(async () => {
    h = await new SimHarness().start();
    dir = mkdtempSync(join(tmpdir(), 'loalang-sim-cli-'));
  });
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a fleet from provisioning bundles, logs events and goes offline gracefully on SIGTERM', async () => {
    // The bundles carry broker, credentials and the controller key.
    const bundleFile = join(dir, 'bundles.json');
    writeFileSync(bundleFile, JSON.stringify({ bundles: [h.bundle('cli-01'), h.bundle('cli-02')] }));
    const statuses = await Promise.all(
      ['cli-01', 'cli-02'].map(async (id) => watch<Status>(await h.client(), h.t.receiverStatus(id))),
    );
    const events = await watch<ReceiverEvent>(h.controller, h.t.receiverEvent('cli-01'));
    const args = ['--provisioning', bundleFile];
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', 'firmware-sim/cli.ts', ...args, '--time-factor', '0.01'],
      {
        cwd: process.cwd(),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child = proc;
    let stdout = '';
    proc.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    proc.stderr?.resume();
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));

    for (const s of statuses) await s.waitFor((m) => m.state === 'online', 20_000);
    const cmd = h.play(h.audio.add(wav(440, 250), 1000));
    await h.send(h.t.receiverCommand('cli-01'), cmd);
    await events.waitFor((m) => m.commandId === cmd.id && m.state === 'finished');

    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const s of statuses) await s.waitFor((m) => m.state === 'offline');
    expect(stdout).toMatch(/cli-01 online session=\d+/);
    expect(stdout).toContain(`cli-01 finished   cmd=${cmd.id.slice(0, 8)} play=1`);
    expect(stdout).toContain('all receivers offline');
  });
});
