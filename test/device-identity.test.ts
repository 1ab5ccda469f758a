/**
 * Device identity on the embedded broker, over real MQTT (TCP, port 0) against a real controller:
 * per-device credentials issued at registration and adoption (shown once), the ACL, revocation,
 * re-issue, zone moves, audio downloads bound to receiver credentials, and discovery
 * (MQTT_DISCOVERY). A rogue client holding receiver A's credentials is the attacker throughout.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AedesPublishPacket, Client } from 'aedes';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimReceiver, type SimReceiverOptions } from '../firmware-sim/index.js';
import { subscribeGranted } from '../firmware-sim/link.js';
import { loadConfig } from '../src/config.js';
import { topics } from '../src/contract/mqtt.js';
import type { ProvisioningBundle } from '../src/contract/provisioning.js';
import { playCommand } from './helpers/commands.js';
import { startTestController, type TestController } from './helpers/controller.js';
import { SimHarness, wav } from './helpers/sim-harness.js';
import { waitFor } from './helpers/wait.js';

const t = topics();
const MP3 = readFileSync(new URL('./fixtures/audio/tone.mp3', import.meta.url));

/** Fast reconnection for tests; refused credentials are retried every 100 ms. */
const QUICK: Partial<SimReceiverOptions> = {
  timeFactor: 0.02,
  reconnectMinMs: 50,
  reconnectMaxMs: 200,
  refusedRetryMs: 100,
  configGraceMs: 50,
  startTimeoutMs: 10_000,
};

interface Refusal extends Error {
  code?: number;
}

/** Connects a raw MQTT client; rejects with the CONNACK refusal. */
function connect(url: string, opts: IClientOptions): Promise<MqttClient> {
  return mqtt.connectAsync(
    url,
    { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...opts },
    false,
  );
}

/** The CONNACK return code a connection attempt is refused with (0: it was accepted). */
async function connackCode(url: string, opts: IClientOptions): Promise<number> {
  try {
    const c = await connect(url, opts);
    await c.endAsync(true);
    return 0;
  } catch (err) {
    return (err as Refusal).code ?? -1;
  }
}

/** The SUBACK code of each topic (1: granted at QoS 1, 128: refused). */
const suback = async (c: MqttClient, list: string[]) =>
  (await subscribeGranted(c, list, 1)).map((g) => g.qos);

const closed = (c: MqttClient) => new Promise<void>((resolve) => c.once('close', () => resolve()));

/** A command envelope no controller signed, with a readable id (a receiver would report it). */
function forged(topic: string): { id: string; payload: string } {
  const id = `forged-${randomUUID()}`;
  const body = JSON.stringify(
    playCommand({
      id,
      seq: 9_999_999_999,
      priority: 'emergency',
      audio: { ...playCommand().audio, url: `http://127.0.0.1:9/${topic}` },
    }),
  );
  return { id, payload: JSON.stringify({ body, sig: Buffer.alloc(64).toString('base64'), kid: 'rogue' }) };
}

const basic = (username: string, password: string) =>
  `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

describe('device identity on the embedded broker', () => {
  let tc: TestController;
  let a: ProvisioningBundle;
  let b: ProvisioningBundle;
  let rxB: SimReceiver;
  let rxC: SimReceiver;
  const sims: SimReceiver[] = [];
  /** what the broker routed (after authorization), by publishing client id */
  const routed: { clientId: string | null; topic: string }[] = [];
  const creds = (bundle: ProvisioningBundle) => ({
    clientId: bundle.mqtt.clientId,
    username: bundle.mqtt.username,
    password: bundle.mqtt.password,
  });
  const sim = async (id: string, extra: Partial<SimReceiverOptions> = {}) => {
    const rx = new SimReceiver({ ...tc.sim(id), ...QUICK, ...extra });
    sims.push(rx);
    await rx.start();
    return rx;
  };

  beforeAll(async () => {
    tc = await startTestController();
    for (const id of ['zone-a', 'zone-b']) await tc.api('POST', '/api/zones', { id, name: id });
    a = await tc.register('rx-a', 'zone-a');
    b = await tc.register('rx-b', 'zone-b');
    await tc.register('rx-c', 'zone-a');
    tc.controller.broker!.aedes.on('publish', (packet: AedesPublishPacket, client: Client | null) => {
      if (!packet.topic.startsWith('$SYS/'))
        routed.push({ clientId: client?.id ?? null, topic: packet.topic });
    });
    rxB = await sim('rx-b');
    rxC = await sim('rx-c');
    await rxB.waitForConfig((c) => c.adopted && c.zones.includes('zone-b'));
    await rxC.waitForConfig((c) => c.adopted && c.zones.includes('zone-a'));
  });

  afterAll(async () => {
    await Promise.all(sims.map((rx) => rx.stop()));
    await tc?.stop();
  });

  it('issues credentials once: a bundle at registration, only the hash kept, never shown again', async () => {
    expect(a).toMatchObject({
      v: 1,
      receiverId: 'rx-a',
      mqtt: { url: tc.mqttUrl, clientId: 'rx-a', username: 'rx-a', topicRoot: t.root },
      signingKey: { algorithm: 'Ed25519' },
      signingKeyUrl: `${tc.url}/api/system/signing-key`,
      audio: { auth: 'basic' },
    });
    expect(a.mqtt.password.length).toBeGreaterThanOrEqual(32);
    const key = await tc.api<{ kid: string; publicKeyPem: string }>('GET', '/api/system/signing-key');
    expect(a.signingKey).toMatchObject({ kid: key.body.kid, publicKeyPem: key.body.publicKeyPem });
    const got = await tc.api<Record<string, unknown>>('GET', '/api/receivers/rx-a');
    expect(got.body).toMatchObject({ hasCredentials: true, credentialsIssuedAt: expect.any(String) });
    expect(got.body).not.toHaveProperty('provisioning');
    const list = await tc.api('GET', '/api/receivers');
    for (const text of [JSON.stringify(got.body), JSON.stringify(list.body)])
      expect(text).not.toContain(a.mqtt.password);
    const row = tc.controller.db
      .prepare(`SELECT password_hash AS h FROM receiver_credentials WHERE receiver_id = 'rx-a'`)
      .get() as { h: string };
    expect(row.h).toMatch(/^\$7\$/);
    expect(row.h).not.toContain(a.mqtt.password);
    // The answer that carries a password is not to be cached anywhere.
    const res = await fetch(`${tc.url}/api/receivers/rx-a/credentials`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tc.token}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    a = tc.keep(((await res.json()) as { provisioning: ProvisioningBundle }).provisioning);
  });

  it('refuses a subscription to anything but its own topics, its zone and the all topic', async () => {
    const rogue = await connect(tc.mqttUrl, creds(a));
    try {
      const refused = [
        t.receiverCommand('rx-b'),
        t.receiverConfig('rx-b'),
        t.receiverStatus('rx-b'),
        t.zoneCommand('zone-b'),
        `${t.root}/#`,
        `${t.root}/rx/+/cmd`,
        `${t.root}/zone/+/cmd`,
        `${t.root}/rx/rx-a/#`,
        '#',
        '$SYS/#',
      ];
      expect(await suback(rogue, refused)).toEqual(refused.map(() => 128));
      // Its own rights are intact (and the connection survived the refusals).
      const own = [
        t.receiverCommand('rx-a'),
        t.receiverConfig('rx-a'),
        t.allCommand(),
        t.zoneCommand('zone-a'),
      ];
      expect(await suback(rogue, own)).toEqual([1, 1, 1, 1]);
    } finally {
      await rogue.endAsync(true);
    }
  });

  it('drops a publish as another receiver: nothing reaches the controller', async () => {
    const before = await tc.api<Record<string, unknown>>('GET', '/api/receivers/rx-b');
    const logRows = () =>
      (tc.controller.db.prepare('SELECT count(*) AS n FROM delivery_log').get() as { n: number }).n;
    const rows = logRows();
    const attempts: [string, string][] = [
      [
        t.receiverStatus('rx-b'),
        JSON.stringify({ v: 1, state: 'offline', session: 9_999_999_999, ts: new Date().toISOString() }),
      ],
      [
        t.receiverEvent('rx-b'),
        JSON.stringify({
          v: 1,
          commandId: 'c'.repeat(36),
          state: 'finished',
          session: 1,
          ts: new Date().toISOString(),
        }),
      ],
    ];
    for (const [topic, payload] of attempts) {
      const rogue = await connect(tc.mqttUrl, creds(a));
      const gone = closed(rogue);
      rogue.publish(topic, payload, { qos: 1, retain: topic.endsWith('/status') });
      await gone; // the broker drops a client that publishes outside its topics
      rogue.end(true);
    }
    // Its own status is accepted: once it is recorded, the refused ones would have been too.
    const probe = await connect(tc.mqttUrl, creds(a));
    await probe.publishAsync(
      t.receiverStatus('rx-a'),
      JSON.stringify({ v: 1, state: 'online', session: 42, ts: new Date().toISOString() }),
      { qos: 1 },
    );
    await waitFor(
      'rx-a probe status',
      async () => (await tc.api<{ session: number }>('GET', '/api/receivers/rx-a')).body.session === 42,
    );
    await probe.endAsync();
    const after = await tc.api<Record<string, unknown>>('GET', '/api/receivers/rx-b');
    expect(after.body).toMatchObject({ online: true, session: before.body.session });
    expect(logRows()).toBe(rows);
    expect(routed.filter((r) => r.clientId === 'rx-a' && r.topic.includes('/rx-b/'))).toEqual([]);
  });

  it('drops commands and configs from anyone but the controller: genuine receivers hear nothing', async () => {
    const targets = [
      t.receiverCommand('rx-a'),
      t.zoneCommand('zone-a'),
      t.zoneCommand('zone-b'),
      t.allCommand(),
      t.receiverCommand('rx-b'),
      t.receiverConfig('rx-b'),
      t.receiverConfig('rx-a'),
    ];
    const forgedIds: string[] = [];
    const played = [rxB.played.length, rxC.played.length];
    const configs = [rxB.config?.seq, rxC.config?.seq];
    for (const topic of targets) {
      const f = forged(topic);
      forgedIds.push(f.id);
      const rogue = await connect(tc.mqttUrl, creds(a));
      const gone = closed(rogue);
      rogue.publish(topic, f.payload, { qos: 1, retain: topic.endsWith('/config') });
      await gone;
      rogue.end(true);
    }
    // A real bulletin to both zones afterwards: when it has played, anything routed before it
    // would have arrived first.
    const audioId = (await tc.upload(MP3, 'probe.mp3')).audio.id;
    const bulletin = await tc.api<{ id: string }>('POST', '/api/bulletins', {
      audioId,
      target: { zones: ['zone-a', 'zone-b'] },
    });
    expect(bulletin.status).toBe(201);
    for (const rx of [rxB, rxC])
      await rx.waitForEvent((e) => e.bulletinId === bulletin.body.id && e.state === 'finished');
    for (const rx of [rxB, rxC]) {
      expect(rx.events.filter((e) => forgedIds.includes(e.commandId))).toEqual([]);
      expect(rx.played.map((p) => p.bulletinId)).not.toContain(undefined);
    }
    expect([rxB.played.length, rxC.played.length]).toEqual([played[0]! + 1, played[1]! + 1]);
    expect([rxB.config?.seq, rxC.config?.seq]).toEqual(configs);
    expect(routed.filter((r) => r.clientId === 'rx-a')).toEqual(
      routed.filter((r) => r.clientId === 'rx-a' && r.topic === t.receiverStatus('rx-a')),
    );
  });

  it('refuses a connection without credentials, with a wrong password, or with a client id ≠ username', async () => {
    expect(await connackCode(tc.mqttUrl, { clientId: 'rx-a' })).toBe(5);
    expect(await connackCode(tc.mqttUrl, { clientId: 'rx-unknown' })).toBe(5);
    expect(await connackCode(tc.mqttUrl, { ...creds(a), password: `${a.mqtt.password}x` })).toBe(4);
    expect(await connackCode(tc.mqttUrl, { ...creds(a), username: 'rx-nobody', clientId: 'rx-nobody' })).toBe(
      4,
    );
    expect(await connackCode(tc.mqttUrl, { ...creds(a), clientId: 'rx-b' })).toBe(2);
    expect(await connackCode(tc.mqttUrl, { ...creds(a), clientId: 'not/an id' })).toBe(2);
    // B's own session survived every attempt on its id.
    expect(rxB.state).toBe('online');
    expect(await connackCode(tc.mqttUrl, creds(a))).toBe(0);
  });

  it('revoking a connected receiver disconnects it, and it cannot reconnect', async () => {
    await tc.register('rx-e', 'zone-a');
    const rx = await sim('rx-e');
    const refused: number[] = [];
    rx.on('refused', (code) => refused.push(code));
    const offline = new Promise<void>((resolve) => rx.once('offline', () => resolve()));
    expect((await tc.api('DELETE', '/api/receivers/rx-e/credentials')).status).toBe(204);
    await offline;
    await waitFor('refused twice', () => refused.length >= 2);
    expect(refused.every((c) => c === 4)).toBe(true);
    expect(rx.state).toBe('offline');
    await waitFor('controller shows rx-e offline', async () => !(await tc.isOnline('rx-e')));
    expect(await connackCode(tc.mqttUrl, creds(tc.bundles.get('rx-e')!))).toBe(4);
    const got = await tc.api<{ hasCredentials: boolean; credentialsIssuedAt: string | null }>(
      'GET',
      '/api/receivers/rx-e',
    );
    expect(got.body).toMatchObject({ hasCredentials: false, credentialsIssuedAt: null });

    // New credentials bring it back; installing them reconnects at once.
    const issued = await tc.api<{ provisioning: ProvisioningBundle }>(
      'POST',
      '/api/receivers/rx-e/credentials',
    );
    expect(issued.status).toBe(200);
    rx.setCredentials(issued.body.provisioning.mqtt.username, issued.body.provisioning.mqtt.password);
    await waitFor('rx-e back online', () => rx.state === 'online');
    tc.keep(issued.body.provisioning);
  });

  it('re-issuing invalidates the old password and disconnects the session using it', async () => {
    const old = await tc.register('rx-r', 'zone-b');
    const rx = await sim('rx-r');
    const offline = new Promise<void>((resolve) => rx.once('offline', () => resolve()));
    const refusedOnce = new Promise<number>((resolve) => rx.once('refused', (code) => resolve(code)));
    const res = await tc.api<{ provisioning: ProvisioningBundle; hasCredentials: boolean }>(
      'POST',
      '/api/receivers/rx-r/credentials',
    );
    expect(res.status).toBe(200);
    expect(res.body.hasCredentials).toBe(true);
    const fresh = res.body.provisioning;
    expect(fresh.mqtt.password).not.toBe(old.mqtt.password);
    await offline;
    expect(await refusedOnce).toBe(4);
    expect(await connackCode(tc.mqttUrl, creds(old))).toBe(4);
    rx.setCredentials(fresh.mqtt.username, fresh.mqtt.password);
    await waitFor('rx-r online with the new password', () => rx.state === 'online');
    // Re-issuing needs an adopted receiver; unknown ones are 404.
    expect((await tc.api('POST', '/api/receivers/nobody/credentials')).status).toBe(404);
    expect((await tc.api('DELETE', '/api/receivers/nobody/credentials')).status).toBe(404);
  });

  it('a receiver moved to another zone stops hearing its old zone at once', async () => {
    await tc.register('rx-m', 'zone-a');
    const bundle = tc.bundles.get('rx-m')!;
    // A rogue holding its credentials keeps a subscription to zone A…
    const rogue = await connect(tc.mqttUrl, creds(bundle));
    expect(await suback(rogue, [t.zoneCommand('zone-a')])).toEqual([1]);
    const dropped = closed(rogue);
    const moved = await tc.api<{ zoneId: string }>('PATCH', '/api/receivers/rx-m', { zoneId: 'zone-b' });
    expect(moved.body.zoneId).toBe('zone-b');
    expect(moved.body).not.toHaveProperty('provisioning');
    // …which does not survive the move: the broker drops the connection.
    await dropped;
    rogue.end(true);
    const again = await connect(tc.mqttUrl, creds(bundle));
    expect(await suback(again, [t.zoneCommand('zone-a'), t.zoneCommand('zone-b')])).toEqual([128, 1]);
    await again.endAsync();

    // The genuine receiver follows: after the move it plays zone B's bulletins, not zone A's.
    const rx = await sim('rx-m');
    await rx.waitForConfig((c) => c.zones.includes('zone-b'));
    await tc.api('PATCH', '/api/receivers/rx-m', { zoneId: 'zone-a' });
    await rx.waitForConfig((c) => c.zones.includes('zone-a'));
    await waitFor('rx-m online again', () => rx.state === 'online');
    const audioId = (await tc.upload(MP3, 'move.mp3')).audio.id;
    const toB = await tc.api<{ id: string }>('POST', '/api/bulletins', {
      audioId,
      target: { zones: ['zone-b'] },
    });
    const toA = await tc.api<{ id: string }>('POST', '/api/bulletins', {
      audioId,
      target: { zones: ['zone-a'] },
    });
    await rx.waitForEvent((e) => e.bulletinId === toA.body.id && e.state === 'finished');
    await rxB.waitForEvent((e) => e.bulletinId === toB.body.id && e.state === 'finished');
    expect(rx.events.some((e) => e.bulletinId === toB.body.id)).toBe(false);
  });

  it('serves a signed audio URL only with the credentials of an adopted receiver', async () => {
    const audioId = (await tc.upload(MP3, 'signed.mp3')).audio.id;
    const url = tc.controller.audio.signedUrl(audioId, new Date(Date.now() + 60_000));
    const get = (headers: Record<string, string> = {}) => fetch(url, { headers });

    const leaked = await get();
    expect(leaked.status).toBe(401);
    expect(leaked.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect((await get({ authorization: basic('rx-b', 'wrong') })).status).toBe(401);
    expect((await get({ authorization: basic('rx-a', b.mqtt.password) })).status).toBe(401);
    // revoked credentials are refused
    await tc.register('rx-v', 'zone-b');
    const revoked = tc.bundles.get('rx-v')!;
    expect((await get({ authorization: basic('rx-v', revoked.mqtt.password) })).status).toBe(200);
    await tc.api('DELETE', '/api/receivers/rx-v/credentials');
    expect((await get({ authorization: basic('rx-v', revoked.mqtt.password) })).status).toBe(401);
    // deleted receivers too
    await tc.register('rx-d', 'zone-b');
    const deleted = tc.bundles.get('rx-d')!;
    expect((await tc.api('DELETE', '/api/receivers/rx-d')).status).toBe(204);
    expect((await get({ authorization: basic('rx-d', deleted.mqtt.password) })).status).toBe(401);
    expect(await connackCode(tc.mqttUrl, creds(deleted))).toBe(4);

    const ok = await get({ authorization: basic('rx-b', b.mqtt.password) });
    expect(ok.status).toBe(200);
    expect(Buffer.from(await ok.arrayBuffer()).equals(MP3)).toBe(true);
    // valid credentials, bad signature: 403
    const tampered = url.replace(/sig=[^&]+/, 'sig=AAAA');
    expect(
      (await fetch(tampered, { headers: { authorization: basic('rx-b', b.mqtt.password) } })).status,
    ).toBe(403);
    // an officer previews with a login token, no signed URL needed
    const preview = await fetch(`${tc.url}/api/audio/${audioId}/content`, {
      headers: { authorization: `Bearer ${tc.token}` },
    });
    expect(preview.status).toBe(200);
  });

  it('refuses to register a receiver under the controller’s own MQTT name', async () => {
    const res = await tc.api<{ error: string }>('POST', '/api/receivers', {
      id: 'loalang-controller',
      zoneId: 'zone-a',
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('reserved_id');
  });
});

describe('configuration', () => {
  it('reads MQTT_DISCOVERY (off by default) and PUBLIC_MQTT_URL', () => {
    expect(loadConfig({}).MQTT_DISCOVERY).toBe(false);
    expect(loadConfig({ MQTT_DISCOVERY: 'true' }).MQTT_DISCOVERY).toBe(true);
    expect(loadConfig({ MQTT_DISCOVERY: '0' }).MQTT_DISCOVERY).toBe(false);
    expect(() => loadConfig({ MQTT_DISCOVERY: 'maybe' })).toThrow(/MQTT_DISCOVERY/);
    expect(loadConfig({ PUBLIC_MQTT_URL: 'mqtts://loa.example.vn:8883' }).PUBLIC_MQTT_URL).toBe(
      'mqtts://loa.example.vn:8883',
    );
    expect(() => loadConfig({ PUBLIC_MQTT_URL: 'http://x' })).toThrow(/PUBLIC_MQTT_URL/);
  });
});

describe('a swapped audio file is useless', () => {
  let h: SimHarness;
  beforeAll(async () => {
    h = await new SimHarness().start();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('is refused by the sha256 of the signed command', async () => {
    const rx = await h.receiver();
    const genuine = h.audio.add(wav(440, 250));
    const swapped = h.audio.add(wav(660, 250)); // same length, other bytes
    const cmd = h.play(genuine, { audio: { ...genuine.audio, url: swapped.audio.url } });
    await h.send(rx, cmd);
    const failed = await rx.waitForEvent((e) => e.commandId === cmd.id && e.state === 'failed');
    expect(failed.reason).toBe('checksum_mismatch');
    expect(rx.played).toEqual([]);
  });
});

describe('discovery (MQTT_DISCOVERY=true)', () => {
  let tc: TestController;
  beforeAll(async () => {
    tc = await startTestController({ MQTT_DISCOVERY: 'true' });
    await tc.api('POST', '/api/zones', { id: 'zone-d', name: 'Zone D' });
    await tc.register('rx-known', 'zone-d');
  });
  afterAll(async () => {
    await tc?.stop();
  });

  it('lets an unknown device in as pending, hearing nothing, until adopted with its bundle', async () => {
    const keys = tc.sim('rx-known').trustedKeys;
    const stranger = new SimReceiver({ id: 'rx-new', brokerUrl: tc.mqttUrl, trustedKeys: keys, ...QUICK });
    const known = new SimReceiver({ ...tc.sim('rx-known'), ...QUICK });
    try {
      await known.start();
      await stranger.start();
      await stranger.waitForConfig((c) => !c.adopted);
      const pending = await tc.api<{ adoption: string; hasCredentials: boolean }>(
        'GET',
        '/api/receivers/rx-new',
      );
      expect(pending.body).toMatchObject({ adoption: 'pending', hasCredentials: false });

      // Pending rights: its own config only; nothing else, not even its own command topic.
      const raw = await connect(tc.mqttUrl, { clientId: 'rx-raw' });
      const granted = await suback(raw, [
        t.receiverConfig('rx-raw'),
        t.receiverCommand('rx-raw'),
        t.allCommand(),
        t.zoneCommand('zone-d'),
      ]);
      expect(granted).toEqual([1, 128, 128, 128]);
      await raw.endAsync();
      // An adopted id cannot be taken over without its credentials.
      expect(await connackCode(tc.mqttUrl, { clientId: 'rx-known' })).toBe(5);
      expect(known.state).toBe('online');

      const audioId = (await tc.upload(MP3, 'all.mp3')).audio.id;
      const toAll = await tc.api<{ id: string }>('POST', '/api/bulletins', {
        audioId,
        target: { all: true },
      });
      await known.waitForEvent((e) => e.bulletinId === toAll.body.id && e.state === 'finished');
      expect(stranger.events).toEqual([]);

      // Adoption issues the bundle (once); the pending session is dropped and a login without
      // credentials is refused from now on, until the installer puts the bundle on the device.
      const refused = new Promise<number>((resolve) => stranger.once('refused', (code) => resolve(code)));
      const adopted = await tc.api<{ adoption: string; provisioning: ProvisioningBundle }>(
        'POST',
        '/api/receivers/rx-new/adopt',
        { zoneId: 'zone-d', name: 'Cụm loa mới' },
      );
      expect(adopted.status).toBe(200);
      expect(adopted.body.adoption).toBe('adopted');
      expect(adopted.body.provisioning).toMatchObject({ receiverId: 'rx-new', mqtt: { username: 'rx-new' } });
      expect(await refused).toBe(5);
      const again = await tc.api<{ error: string }>('POST', '/api/receivers/rx-new/adopt', {
        zoneId: 'zone-d',
      });
      expect(again.status).toBe(409);

      stranger.setCredentials(
        adopted.body.provisioning.mqtt.username,
        adopted.body.provisioning.mqtt.password,
      );
      await stranger.waitForConfig((c) => c.adopted && c.zones.includes('zone-d'));
      await waitFor('rx-new online', () => stranger.state === 'online');
      const toZone = await tc.api<{ id: string }>('POST', '/api/bulletins', {
        audioId,
        target: { zones: ['zone-d'] },
      });
      await stranger.waitForEvent((e) => e.bulletinId === toZone.body.id && e.state === 'finished');
      expect(stranger.played.map((p) => p.bulletinId)).toEqual([toZone.body.id]);
    } finally {
      await stranger.stop();
      await known.stop();
    }
  });

  it('adopting with PATCH also hands out the bundle, once', async () => {
    const raw = await connect(tc.mqttUrl, { clientId: 'rx-patch' });
    await raw.publishAsync(
      t.receiverStatus('rx-patch'),
      JSON.stringify({ v: 1, state: 'online', session: 1, ts: new Date().toISOString() }),
      { qos: 1 },
    );
    await waitFor(
      'rx-patch pending',
      async () => (await tc.api('GET', '/api/receivers/rx-patch')).status === 200,
    );
    const gone = closed(raw);
    const res = await tc.api<{ provisioning?: ProvisioningBundle }>('PATCH', '/api/receivers/rx-patch', {
      zoneId: 'zone-d',
      volume: 40,
    });
    expect(res.status).toBe(200);
    expect(res.body.provisioning?.mqtt.username).toBe('rx-patch');
    await gone; // the pending session is dropped
    raw.end(true);
    const later = await tc.api<Record<string, unknown>>('PATCH', '/api/receivers/rx-patch', { name: 'x' });
    expect(later.body).not.toHaveProperty('provisioning');
    expect(later.body).toMatchObject({ hasCredentials: true, volume: 40 });
  });
});
