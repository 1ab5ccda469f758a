/**
 * An external Mosquitto configured from the password and ACL files loalang generates
 * (src/mqtt/mosquitto-files.ts), with the controller pointed at it and rewriting the files as
 * receivers are registered, moved and revoked: a rogue client holding receiver A's credentials
 * cannot hear B's commands, cannot speak as B, cannot send commands; nobody gets in without
 * credentials; a revoked receiver is cut off.
 *
 * What Mosquitto 2's `acl_file` does, and what these tests therefore assert (docs/mosquitto/README.md):
 * - it never refuses a SUBSCRIBE: the SUBACK grants any filter, and the `read` rule is applied to
 *   every message as it is delivered (so a forbidden subscription hears nothing);
 * - a forbidden PUBLISH is acknowledged and dropped;
 * - on reload (SIGHUP) it checks every connected client's password again and disconnects those that
 *   no longer pass, and applies the new ACL to existing subscriptions.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type ErrorWithSubackPacket, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../src/contract/mqtt.js';
import { mosquittoHash, verifyMosquittoHash } from '../src/domain/fleet/credentials.js';
import {
  generateDynsecConfig,
  generateMosquittoFiles,
  type MosquittoFilesInput,
  writeFileAtomic,
} from '../src/mqtt/mosquitto-files.js';
import { startTestController, type TestController } from './helpers/controller.js';
import { type MosquittoHandle, mosquittoAvailable, startMosquitto } from './helpers/mosquitto.js';
import { waitFor } from './helpers/wait.js';

const t = topics();
const CTRL = 'loalang-controller';
const CTRL_PASSWORD = 'controller-secret-for-the-test';
const hashRe = /^\$7\$101\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/;

describe('generated Mosquitto files (pure)', () => {
  const input = (over: Partial<MosquittoFilesInput> = {}): MosquittoFilesInput => ({
    topics: t,
    controller: { username: CTRL, passwordHash: mosquittoHash(CTRL_PASSWORD) },
    credentials: [
      { receiverId: 'rx-b', username: 'rx-b', passwordHash: mosquittoHash('b'), revokedAt: null },
      { receiverId: 'rx-a', username: 'rx-a', passwordHash: mosquittoHash('a'), revokedAt: null },
      { receiverId: 'rx-p', username: 'rx-p', passwordHash: mosquittoHash('p'), revokedAt: null },
      {
        receiverId: 'rx-r',
        username: 'rx-r',
        passwordHash: mosquittoHash('r'),
        revokedAt: '2026-01-01T00:00:00Z',
      },
      { receiverId: 'rx-gone', username: 'rx-gone', passwordHash: mosquittoHash('g'), revokedAt: null },
    ],
    receivers: [
      { id: 'rx-a', adoption: 'adopted', zoneId: 'thon-1' },
      { id: 'rx-b', adoption: 'adopted', zoneId: 'thon-2' },
      { id: 'rx-p', adoption: 'pending', zoneId: null },
      { id: 'rx-r', adoption: 'adopted', zoneId: 'thon-1' },
      { id: 'rx-x', adoption: 'adopted', zoneId: 'thon-1' }, // never issued credentials
    ],
    ...over,
  });

  it('lists the controller and live credentials of existing receivers, sorted; revoked and removed are absent', async () => {
    const { passwd, acl, skipped } = generateMosquittoFiles(input());
    const lines = passwd.trim().split('\n');
    expect(lines.map((l) => l.split(':')[0])).toEqual([CTRL, 'rx-a', 'rx-b', 'rx-p']);
    for (const l of lines) expect(l.slice(l.indexOf(':') + 1)).toMatch(hashRe);
    expect(await verifyMosquittoHash(CTRL_PASSWORD, lines[0]!.slice(CTRL.length + 1))).toBe(true);
    expect(passwd + acl).not.toMatch(/rx-r|rx-gone|rx-x/);
    expect(skipped).toEqual([]);
  });

  it('gives each receiver exactly its topics, and the controller the whole root', () => {
    const { acl } = generateMosquittoFiles(input());
    const block = (user: string) => {
      const lines = acl.split('\n');
      const start = lines.indexOf(`user ${user}`);
      const rest = lines.slice(start + 1);
      return rest.slice(0, rest.indexOf('')).sort();
    };
    expect(block(CTRL)).toEqual(['topic readwrite loalang/v1/#']);
    expect(block('rx-a')).toEqual(
      [
        'topic read loalang/v1/all/cmd',
        'topic read loalang/v1/rx/rx-a/cmd',
        'topic read loalang/v1/rx/rx-a/config',
        'topic read loalang/v1/rx/rx-a/schedule',
        'topic read loalang/v1/rx/rx-a/clock',
        'topic read loalang/v1/zone/thon-1/cmd',
        'topic write loalang/v1/rx/rx-a/event',
        'topic write loalang/v1/rx/rx-a/status',
        'topic write loalang/v1/rx/rx-a/airing',
        'topic write loalang/v1/rx/rx-a/time',
      ].sort(),
    );
    expect(block('rx-b')).toContain('topic read loalang/v1/zone/thon-2/cmd');
    expect(block('rx-b')).not.toContain('topic read loalang/v1/zone/thon-1/cmd');
    // pending: its own config only (it learns it is not adopted), and its own reports
    expect(block('rx-p')).toEqual(
      [
        'topic read loalang/v1/rx/rx-p/config',
        'topic write loalang/v1/rx/rx-p/event',
        'topic write loalang/v1/rx/rx-p/status',
        'topic write loalang/v1/rx/rx-p/airing',
        'topic write loalang/v1/rx/rx-p/time',
      ].sort(),
    );
    // no pattern lines, no wildcards for receivers
    expect(acl).not.toMatch(/^pattern/m);
    expect(acl.split('\n').filter((l) => /^topic (read|write) .*[+#]/.test(l))).toEqual([]);
  });

  it('is deterministic, and refuses what the files cannot hold', () => {
    const i = input();
    expect(generateMosquittoFiles(i)).toEqual(generateMosquittoFiles(i));
    const odd = generateMosquittoFiles(
      input({
        credentials: [
          { receiverId: CTRL, username: CTRL, passwordHash: mosquittoHash('x'), revokedAt: null },
          { receiverId: 'rx-a', username: 'rx a', passwordHash: mosquittoHash('a'), revokedAt: null },
        ],
        receivers: [
          { id: CTRL, adoption: 'adopted', zoneId: 'thon-1' },
          { id: 'rx-a', adoption: 'adopted', zoneId: 'thon-1' },
        ],
      }),
    );
    expect(odd.skipped.map((s) => s.receiverId).sort()).toEqual([CTRL, 'rx-a']);
    expect(odd.passwd.trim().split('\n')).toHaveLength(1);
    expect(() =>
      generateMosquittoFiles(input({ controller: { username: 'a:b', passwordHash: mosquittoHash('x') } })),
    ).toThrow(/MQTT_USERNAME/);
  });
});

/** Group id of the `mosquitto` user, when this process is root and that group exists. */
function mosquittoGid(): number | null {
  if (process.getuid?.() !== 0) return null;
  try {
    return Number(execFileSync('id', ['-g', 'mosquitto'], { encoding: 'utf8' }).trim());
  } catch {
    return null;
  }
}

describe.skipIf(!mosquittoAvailable())('Mosquitto configured from the files loalang generates', () => {
  let dir: string;
  let passwdFile: string;
  let aclFile: string;
  let m: MosquittoHandle;
  let tc: TestController;
  const creds: Record<string, { username: string; password: string }> = {};
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'loalang-mosq-gen-'));
    passwdFile = join(dir, 'loalang.passwd');
    aclFile = join(dir, 'loalang.acl');
    const pidFile = join(dir, 'mosquitto.pid');
    // The deployment the docs describe: a setgid directory of Mosquitto's group, files 0640, so
    // Mosquitto (which drops root for its own user) reads what loalang writes and nobody else does.
    const gid = mosquittoGid();
    let mode = '0640';
    if (gid !== null) {
      chownSync(dir, 0, gid);
      chmodSync(dir, 0o2750);
    } else if (process.getuid?.() === 0) {
      chmodSync(dir, 0o755);
      mode = '0644';
    }
    // What `npm run mosquitto-files` writes for an empty database: the controller's user only.
    const first = generateMosquittoFiles({
      topics: t,
      controller: { username: CTRL, passwordHash: mosquittoHash(CTRL_PASSWORD) },
      credentials: [],
      receivers: [],
    });
    writeFileAtomic(passwdFile, first.passwd, Number.parseInt(mode, 8));
    writeFileAtomic(aclFile, first.acl, Number.parseInt(mode, 8));
    m = await startMosquitto([
      'allow_anonymous false',
      `password_file ${passwdFile}`,
      `acl_file ${aclFile}`,
      // docs/mosquitto/loalang.conf: a client id is its username, so nobody can take over another's
      'use_username_as_clientid true',
    ]);
    writeFileSync(pidFile, `${m.pid}\n`);
    tc = await startTestController({
      MQTT_URL: m.url,
      MQTT_USERNAME: CTRL,
      MQTT_PASSWORD: CTRL_PASSWORD,
      MOSQUITTO_PASSWORD_FILE: passwdFile,
      MOSQUITTO_ACL_FILE: aclFile,
      MOSQUITTO_PID_FILE: pidFile,
      MOSQUITTO_FILE_MODE: mode,
    });
    await waitFor('controller connected to Mosquitto', async () => {
      const h = await tc.api<{ mqtt: string }>('GET', '/api/health', undefined, null);
      return h.body.mqtt === 'connected';
    });
    for (const [zone, name] of [
      ['thon-1', 'Thôn 1'],
      ['thon-2', 'Thôn 2'],
    ] as const) {
      expect((await tc.api('POST', '/api/zones', { id: zone, name })).status).toBe(201);
    }
    for (const [id, zoneId] of [
      ['rx-a', 'thon-1'],
      ['rx-b', 'thon-2'],
      ['rx-c', 'thon-1'],
    ] as const) {
      const res = await tc.api<{ provisioning: { mqtt: { username: string; password: string } } }>(
        'POST',
        '/api/receivers',
        { id, zoneId },
      );
      expect(res.status).toBe(201);
      creds[id] = res.body.provisioning.mqtt;
    }
    // The files follow (debounced) and Mosquitto reloads: then every receiver can log in.
    await waitFor('files listing every receiver', () => /^rx-c:/m.test(readFileSync(passwdFile, 'utf8')));
    for (const id of ['rx-a', 'rx-b', 'rx-c']) {
      await waitFor(`${id} can log in`, async () => {
        const c = await tryConnect(id, creds[id]!.password);
        if (c instanceof Error) return false;
        await c.endAsync();
        return true;
      });
    }
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
    await tc?.stop();
    await m?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function tryConnect(username: string | undefined, password: string | undefined, clientId = username) {
    try {
      return await mqtt.connectAsync(m.url, {
        clientId: clientId ?? `anon-${Math.random().toString(36).slice(2)}`,
        ...(username !== undefined ? { username } : {}),
        ...(password !== undefined ? { password } : {}),
        reconnectPeriod: 0,
        connectTimeout: 3000,
      });
    } catch (err) {
      return err as Error;
    }
  }

  /** A connected client that records every message it receives. */
  async function listener(id: string, clientId = id) {
    const client = await mqtt.connectAsync(m.url, {
      clientId,
      username: creds[id]!.username,
      password: creds[id]!.password,
      reconnectPeriod: 0,
    });
    clients.push(client);
    const got: { topic: string; payload: string }[] = [];
    client.on('message', (topic, payload) => got.push({ topic, payload: payload.toString() }));
    let closed = false;
    client.on('close', () => {
      closed = true;
    });
    return { client, got, closed: () => closed };
  }

  it('generated what the database holds, with the hashes as stored', () => {
    const passwd = readFileSync(passwdFile, 'utf8');
    expect(
      passwd
        .trim()
        .split('\n')
        .map((l) => l.split(':')[0]),
    ).toEqual([CTRL, 'rx-a', 'rx-b', 'rx-c']);
    const stored = tc.controller.fleet.credentials.live().find((c) => c.receiverId === 'rx-a')!;
    expect(passwd).toContain(`rx-a:${stored.passwordHash}\n`);
    const acl = readFileSync(aclFile, 'utf8');
    expect(acl).toContain('user rx-b\n');
    expect(acl).toContain('topic read loalang/v1/zone/thon-2/cmd');
  });

  it('refuses a client without credentials, with a wrong password, or with another receiver’s password', async () => {
    for (const [u, p] of [
      [undefined, undefined],
      ['rx-a', 'wrong-password'],
      ['rx-a', creds['rx-b']!.password],
      ['nobody', 'x'],
    ] as const) {
      const r = await tryConnect(u, p);
      expect(r, `${u}/${p}`).toBeInstanceOf(Error);
      expect((r as Error).message).toMatch(/Not authorized|Bad username or password/);
    }
  });

  it('a rogue with A’s credentials hears nothing of B’s, its zone’s or anyone’s status', async () => {
    const genuineB = await listener('rx-b');
    await genuineB.client.subscribeAsync(
      [t.receiverCommand('rx-b'), t.zoneCommand('thon-2'), t.allCommand()],
      {
        qos: 1,
      },
    );
    const rogue = await listener('rx-a');
    const filters = [
      t.receiverCommand('rx-b'),
      t.receiverConfig('rx-b'), // B's retained config
      t.zoneCommand('thon-2'),
      `${t.root}/rx/+/cmd`,
      `${t.root}/zone/+/cmd`,
      `${t.root}/rx/+/status`,
      `${t.root}/#`,
      '#',
    ];
    const granted = await rogue.client.subscribeAsync(filters, { qos: 1 });
    // Mosquitto's acl_file grants every SUBSCRIBE (documented); what it refuses is the delivery.
    expect(granted.map((g) => g.qos)).toEqual(filters.map(() => 1));

    // The controller sends to zone 2, then everywhere; then B comes online with a new session and
    // the zone stop is sent again on B's own command topic.
    expect((await tc.api('POST', '/api/stop', { zones: ['thon-2'] })).status).toBe(200);
    expect((await tc.api('POST', '/api/stop', { all: true })).status).toBe(200);
    await genuineB.client.publishAsync(
      t.receiverStatus('rx-b'),
      JSON.stringify({ v: 1, state: 'online', session: 100, ts: new Date().toISOString() }),
      { qos: 1, retain: true },
    );
    await waitFor('B heard its zone, all, and its own topic', () =>
      [t.zoneCommand('thon-2'), t.allCommand(), t.receiverCommand('rx-b')].every((topic) =>
        genuineB.got.some((g) => g.topic === topic),
      ),
    );
    // A barrier instead of a pause: Mosquitto routes in order, so once the rogue has the controller's
    // next all-stop, anything routed to it before has arrived too.
    const allHeard = () => rogue.got.filter((g) => g.topic === t.allCommand()).length;
    const allBefore = allHeard();
    expect((await tc.api('POST', '/api/stop', { all: true })).status).toBe(200);
    await waitFor('the rogue heard the next all-stop', () => allHeard() > allBefore);
    // The rogue heard the all-receiver stop (A may) and nothing else: nothing of B, zone 2 or statuses.
    const allowedToA = new Set([
      t.allCommand(),
      t.zoneCommand('thon-1'),
      t.receiverCommand('rx-a'),
      t.receiverConfig('rx-a'),
      t.receiverSchedule('rx-a'),
    ]);
    expect(rogue.got.map((g) => g.topic).filter((topic) => !allowedToA.has(topic))).toEqual([]);
    expect(rogue.got.some((g) => g.topic === t.allCommand())).toBe(true);
    await rogue.client.endAsync();
    await genuineB.client.endAsync();
  });

  it('a rogue with A’s credentials cannot publish as B, not even by taking B’s client id', async () => {
    const genuineB = await listener('rx-b');
    await genuineB.client.publishAsync(
      t.receiverStatus('rx-b'),
      JSON.stringify({ v: 1, state: 'online', session: 200, ts: new Date().toISOString() }),
      { qos: 1, retain: true },
    );
    await waitFor('B online at session 200', async () => {
      const r = await tc.api<{ online: boolean; session: number }>('GET', '/api/receivers/rx-b');
      return r.body.online && r.body.session === 200;
    });
    // Client id "rx-b" with A's credentials: Mosquitto makes the client id the username, so the
    // genuine B is not kicked off.
    const rogue = await listener('rx-a', 'rx-b');
    const now = () => new Date().toISOString();
    await rogue.client.publishAsync(
      t.receiverStatus('rx-b'),
      JSON.stringify({ v: 1, state: 'offline', session: 9_999_999_999, ts: now() }),
      { qos: 1, retain: true },
    );
    await rogue.client.publishAsync(
      t.receiverEvent('rx-b'),
      JSON.stringify({ v: 1, commandId: 'c'.repeat(16), state: 'finished', session: 200, ts: now() }),
      { qos: 1 },
    );
    // Its own status goes through: once the controller has it, it would have had the others.
    await rogue.client.publishAsync(
      t.receiverStatus('rx-a'),
      JSON.stringify({ v: 1, state: 'online', session: 7, ts: now() }),
      { qos: 1, retain: true },
    );
    await waitFor('A online', () => tc.isOnline('rx-a'));
    const b = await tc.api<{ online: boolean; session: number }>('GET', '/api/receivers/rx-b');
    expect(b.body).toMatchObject({ online: true, session: 200 });
    expect(genuineB.closed()).toBe(false);
    await rogue.client.endAsync();
    await genuineB.client.endAsync();
  });

  it('a rogue with A’s credentials cannot send commands: no genuine subscriber hears them', async () => {
    const genuineB = await listener('rx-b');
    const genuineC = await listener('rx-c'); // zone 1, like A
    await genuineB.client.subscribeAsync(
      [t.receiverCommand('rx-b'), t.zoneCommand('thon-2'), t.allCommand()],
      {
        qos: 1,
      },
    );
    await genuineC.client.subscribeAsync(
      [t.receiverCommand('rx-c'), t.zoneCommand('thon-1'), t.allCommand()],
      {
        qos: 1,
      },
    );
    const rogue = await listener('rx-a');
    // The all topic too, which A may hear: the barrier below.
    await rogue.client.subscribeAsync([t.receiverCommand('rx-a'), t.allCommand()], { qos: 1 });
    const forged = JSON.stringify({ body: '{"v":1,"type":"stop"}', sig: 'AAAA', kid: 'forged' });
    for (const topic of [
      t.receiverCommand('rx-a'), // its own
      t.zoneCommand('thon-1'), // its zone
      t.zoneCommand('thon-2'),
      t.allCommand(),
      t.receiverCommand('rx-b'),
      t.receiverConfig('rx-b'),
    ]) {
      // QoS 1: the PUBACK comes after Mosquitto routed (here: dropped) the message.
      await rogue.client.publishAsync(topic, forged, { qos: 1 });
    }
    // Positive control, and the barrier: Mosquitto routes in order, so once the controller's all-stop
    // (sent after every PUBACK above) has arrived, any forged message routed before it has too.
    expect((await tc.api('POST', '/api/stop', { all: true })).status).toBe(200);
    await waitFor('the genuine all-stop heard', () =>
      [genuineB, genuineC, rogue].every((l) => l.got.some((g) => g.topic === t.allCommand())),
    );
    expect(genuineB.got.filter((g) => g.payload === forged)).toEqual([]);
    expect(genuineC.got.filter((g) => g.payload === forged)).toEqual([]);
    expect(rogue.got.filter((g) => g.payload === forged)).toEqual([]);
    await Promise.all([rogue, genuineB, genuineC].map((l) => l.client.endAsync()));
  });

  it('a receiver moved to another zone hears the new zone and no longer the old one', async () => {
    const c = await listener('rx-c');
    await c.client.subscribeAsync([t.zoneCommand('thon-1'), t.zoneCommand('thon-2')], { qos: 1 });
    const writesBefore = readFileSync(aclFile, 'utf8');
    expect((await tc.api('PATCH', '/api/receivers/rx-c', { zoneId: 'thon-2' })).status).toBe(200);
    await waitFor('ACL rewritten', () => readFileSync(aclFile, 'utf8') !== writesBefore);
    // The embedded broker would drop the connection; Mosquitto keeps it and applies the new ACL.
    const live = c.closed() ? await listener('rx-c') : c;
    if (live !== c)
      await live.client.subscribeAsync([t.zoneCommand('thon-1'), t.zoneCommand('thon-2')], { qos: 1 });
    await waitFor(
      'C hears zone 2',
      async () => {
        await tc.api('POST', '/api/stop', { zones: ['thon-2'] });
        return live.got.some((g) => g.topic === t.zoneCommand('thon-2'));
      },
      5000,
      200,
    );
    const before = live.got.length;
    expect((await tc.api('POST', '/api/stop', { zones: ['thon-1'] })).status).toBe(200);
    // Barrier: the controller's next stop to zone 2, which C hears, comes after the one to zone 1.
    expect((await tc.api('POST', '/api/stop', { zones: ['thon-2'] })).status).toBe(200);
    await waitFor('C heard the next zone 2 stop', () =>
      live.got.slice(before).some((g) => g.topic === t.zoneCommand('thon-2')),
    );
    expect(live.got.slice(before).filter((g) => g.topic === t.zoneCommand('thon-1'))).toEqual([]);
    await live.client.endAsync();
  });

  it('`npm run mosquitto-files` writes the same files from the database', () => {
    const out = mkdtempSync(join(tmpdir(), 'loalang-mosq-cli-'));
    try {
      const stdout = execFileSync(
        process.execPath,
        ['--import', 'tsx', 'scripts/mosquitto-files.ts', '--out', out],
        {
          encoding: 'utf8',
          env: {
            ...process.env,
            LOALANG_CONFIG: '',
            LOALANG_DATA_DIR: tc.dataDir,
            MQTT_USERNAME: CTRL,
            MQTT_PASSWORD: CTRL_PASSWORD,
            MOSQUITTO_FILE_MODE: '0600',
          },
        },
      );
      expect(stdout).toMatch(/wrote .*loalang\.passwd \(4 users\)/);
      const cliPasswd = readFileSync(join(out, 'loalang.passwd'), 'utf8').split('\n');
      const livePasswd = readFileSync(passwdFile, 'utf8').split('\n');
      // the controller's hash has its own salt; every receiver line is the stored hash
      expect(cliPasswd.slice(1)).toEqual(livePasswd.slice(1));
      expect(readFileSync(join(out, 'loalang.acl'), 'utf8')).toBe(readFileSync(aclFile, 'utf8'));
      expect(statSync(join(out, 'loalang.acl')).mode & 0o777).toBe(0o600);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('revoking A rewrites the files, reloads Mosquitto, drops A’s live session and keeps A out; others stay', async () => {
    const rogue = await listener('rx-a');
    await rogue.client.subscribeAsync([t.allCommand()], { qos: 1 });
    const genuineB = await listener('rx-b');
    const res = await tc.api('DELETE', '/api/receivers/rx-a/credentials');
    expect([200, 204]).toContain(res.status);
    await waitFor('A gone from the password file', () => !/^rx-a:/m.test(readFileSync(passwdFile, 'utf8')));
    expect(readFileSync(aclFile, 'utf8')).not.toContain('user rx-a');
    // Mosquitto re-checks every connected client's password on reload: A's session is closed.
    await waitFor('A’s live session closed by the broker', () => rogue.closed(), 5000);
    const again = await tryConnect('rx-a', creds['rx-a']!.password);
    expect(again).toBeInstanceOf(Error);
    expect((again as Error).message).toMatch(/Not authorized|Bad username or password/);
    // B, whose credentials did not change, kept its connection through the reload; so did the controller.
    expect(genuineB.closed()).toBe(false);
    const h = await tc.api<{ mqtt: string }>('GET', '/api/health', undefined, null);
    expect(h.body.mqtt).toBe('connected');
    await genuineB.client.endAsync();
  });

  it('re-issuing B’s credentials drops the session on the old password; the new one logs in', async () => {
    const old = await listener('rx-b');
    const res = await tc.api<{ provisioning: { mqtt: { password: string } } }>(
      'POST',
      '/api/receivers/rx-b/credentials',
    );
    expect(res.status).toBe(200);
    const fresh = res.body.provisioning.mqtt.password;
    await waitFor('B’s old session closed by the reload', () => old.closed(), 5000);
    expect(await tryConnect('rx-b', creds['rx-b']!.password)).toBeInstanceOf(Error);
    const c = await tryConnect('rx-b', fresh);
    expect(c).not.toBeInstanceOf(Error);
    await (c as MqttClient).endAsync();
  });

  it('removing a receiver takes it out of both files', async () => {
    expect([200, 204]).toContain((await tc.api('DELETE', '/api/receivers/rx-c')).status);
    await waitFor('C gone', () => !/^rx-c:/m.test(readFileSync(passwdFile, 'utf8')));
    expect(readFileSync(aclFile, 'utf8')).not.toContain('user rx-c');
    const r = await tryConnect('rx-c', creds['rx-c']!.password);
    expect(r).toBeInstanceOf(Error);
  });
});

const DYNSEC_PLUGIN = [
  '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so',
  '/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so',
  '/usr/lib/mosquitto_dynamic_security.so',
  '/usr/local/lib/mosquitto_dynamic_security.so',
].find((p) => existsSync(p));

function dynsecAvailable(): boolean {
  if (!mosquittoAvailable()) return false;
  if (DYNSEC_PLUGIN) return true;
  console.warn(
    '\n*** NOTICE: mosquitto_dynamic_security.so not found: the dynamic-security suite is SKIPPED ***\n',
  );
  return false;
}

describe.skipIf(!dynsecAvailable())('Mosquitto with the dynamic-security file loalang generates', () => {
  let dir: string;
  let m: MosquittoHandle;
  const pw = { 'rx-a': 'a-password-123', 'rx-b': 'b-password-456', admin: 'admin-password-789' };
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'loalang-dynsec-'));
    if (process.getuid?.() === 0) chmodSync(dir, 0o755);
    const { json, skipped } = generateDynsecConfig(
      {
        topics: t,
        controller: { username: CTRL, passwordHash: mosquittoHash(CTRL_PASSWORD) },
        credentials: [
          { receiverId: 'rx-a', username: 'rx-a', passwordHash: mosquittoHash(pw['rx-a']), revokedAt: null },
          { receiverId: 'rx-b', username: 'rx-b', passwordHash: mosquittoHash(pw['rx-b']), revokedAt: null },
        ],
        receivers: [
          { id: 'rx-a', adoption: 'adopted', zoneId: 'thon-1' },
          { id: 'rx-b', adoption: 'adopted', zoneId: 'thon-2' },
        ],
      },
      { username: 'dynsec-admin', passwordHash: mosquittoHash(pw.admin) },
    );
    expect(skipped).toEqual([]);
    const file = join(dir, 'dynamic-security.json');
    // The plugin saves its changes into this file, so Mosquitto must be able to write it.
    writeFileAtomic(file, json, 0o666);
    m = await startMosquitto([
      'allow_anonymous false',
      `plugin ${DYNSEC_PLUGIN}`,
      `plugin_opt_config_file ${file}`,
    ]);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
    await m?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const connect = async (username: string, password: string, clientId = username) => {
    const c = await mqtt.connectAsync(m.url, { clientId, username, password, reconnectPeriod: 0 });
    clients.push(c);
    return c;
  };

  it('refuses a rogue’s forbidden subscriptions with SUBACK 0x80 and delivers nothing of B’s', async () => {
    const ctl = await connect(CTRL, CTRL_PASSWORD);
    const rogue = await connect('rx-a', pw['rx-a']);
    const got: string[] = [];
    rogue.on('message', (topic) => got.push(topic));
    // mqtt.js rejects a SUBACK holding a failure code; the codes are in the packet it carries.
    const suback = await rogue
      .subscribeAsync(
        [
          t.receiverCommand('rx-a'),
          t.zoneCommand('thon-1'),
          t.allCommand(),
          t.receiverCommand('rx-b'),
          t.zoneCommand('thon-2'),
          `${t.root}/rx/+/cmd`,
          `${t.root}/#`,
        ],
        { qos: 1 },
      )
      .then(
        () => null,
        (err: ErrorWithSubackPacket) => err.packet,
      );
    expect(suback?.granted).toEqual([1, 1, 1, 0x80, 0x80, 0x80, 0x80]);
    // The controller hears A's status but not a status A forges for B.
    const heard: string[] = [];
    ctl.on('message', (topic) => heard.push(topic));
    await ctl.subscribeAsync(t.statusWildcard(), { qos: 1 });
    await rogue.publishAsync(t.receiverStatus('rx-b'), 'forged', { qos: 1 });
    await rogue.publishAsync(t.allCommand(), 'forged', { qos: 1 });
    await rogue.publishAsync(t.receiverStatus('rx-a'), 'own', { qos: 1 });
    await ctl.publishAsync(t.receiverCommand('rx-b'), 'for B', { qos: 1 });
    await ctl.publishAsync(t.allCommand(), 'for all', { qos: 1 });
    await waitFor('A hears the all topic', () => got.includes(t.allCommand()));
    // No pause needed: each side's last message was published after the forged ones, by the same
    // client, and the broker delivers one client's messages in order.
    await waitFor('the controller hears A', () => heard.includes(t.receiverStatus('rx-a')));
    expect(heard).toEqual([t.receiverStatus('rx-a')]);
    expect(got).toEqual([t.allCommand()]);
  });

  it('refuses a client without credentials or with a wrong password', async () => {
    await expect(mqtt.connectAsync(m.url, { clientId: 'x', reconnectPeriod: 0 })).rejects.toThrow(
      /Not authorized/,
    );
    await expect(
      mqtt.connectAsync(m.url, { clientId: 'rx-a', username: 'rx-a', password: 'nope', reconnectPeriod: 0 }),
    ).rejects.toThrow(/Not authorized|Bad username or password/);
  });

  it('disableClient (what `mosquitto_ctrl dynsec disableClient rx-a` sends) kicks A’s live session at once', async () => {
    const a = await connect('rx-a', pw['rx-a']);
    let closed = false;
    a.on('close', () => {
      closed = true;
    });
    const b = await connect('rx-b', pw['rx-b']);
    let bClosed = false;
    b.on('close', () => {
      bClosed = true;
    });
    const admin = await connect('dynsec-admin', pw.admin);
    const responses: string[] = [];
    admin.on('message', (_topic, payload) => responses.push(payload.toString()));
    await admin.subscribeAsync('$CONTROL/dynamic-security/v1/response', { qos: 1 });
    await admin.publishAsync(
      '$CONTROL/dynamic-security/v1',
      JSON.stringify({ commands: [{ command: 'disableClient', username: 'rx-a' }] }),
      { qos: 1 },
    );
    await waitFor('A kicked', () => closed, 5000);
    expect(responses.join('')).not.toMatch(/error/i);
    await expect(
      mqtt.connectAsync(m.url, {
        clientId: 'rx-a',
        username: 'rx-a',
        password: pw['rx-a'],
        reconnectPeriod: 0,
      }),
    ).rejects.toThrow(/Not authorized/);
    expect(bClosed).toBe(false);
  });
});
