/**
 * Signed commands: the envelope (signature over topic and body), the controller's key set and its
 * rotation, and — end to end, on a real controller, its embedded broker over TCP and simulated
 * receivers — that forged, replayed, expired, unsigned and misdirected commands are not played.
 */
import { randomUUID, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SimReceiver } from '../firmware-sim/index.js';
import { ReplayMemory } from '../firmware-sim/util.js';
import { playCommandSchema, type ReceiverEvent, receiverConfigSchema, topics } from '../src/contract/mqtt.js';
import { generateSigningKey, open, publicKeyPem, type SigningKey, seal } from '../src/contract/signing.js';
import { eventIgnoredBecause } from '../src/domain/bulletins/states.js';
import { CONTROLLER_USERNAME } from '../src/mqtt/broker.js';
import { loadOrCreateSecrets } from '../src/secrets.js';
import {
  createSigningKeys,
  generateStoredKey,
  type SigningKeysOverview,
  type StoredSigningKey,
} from '../src/signing-keys.js';
import { playCommand } from './helpers/commands.js';
import { startTestController, type TestController } from './helpers/controller.js';
import { watch } from './helpers/sim-harness.js';
import { waitFor } from './helpers/wait.js';

const t = topics();
const trustedOf = (...keys: SigningKey[]) => new Map(keys.map((k) => [k.kid, k.publicKey]));

describe('seal / open', () => {
  const key = generateSigningKey('k-test');
  const trusted = trustedOf(key);
  const zoneA = t.zoneCommand('thon-a');
  const rxB = t.receiverCommand('rx-b');

  it('signs exactly `loalang-sig-v1\\n<topic>\\n<body>`, the body being the bytes sent', () => {
    const cmd = playCommand();
    const env = JSON.parse(seal(key, zoneA, cmd)) as {
      body: string;
      sig: string;
      kid: string;
      topic: string;
    };
    expect(env.kid).toBe('k-test');
    expect(env.topic).toBe(zoneA);
    expect(env.body).toBe(JSON.stringify(cmd));
    const message = Buffer.from(`loalang-sig-v1\n${zoneA}\n${env.body}`, 'utf8');
    expect(verify(null, message, key.publicKey, Buffer.from(env.sig, 'base64'))).toBe(true);
    // The body alone (the format of earlier versions) does not verify.
    expect(verify(null, Buffer.from(env.body), key.publicKey, Buffer.from(env.sig, 'base64'))).toBe(false);
    const opened = open(trusted, zoneA, playCommandSchema, seal(key, zoneA, cmd));
    expect(opened).toEqual({ ok: true, value: cmd, kid: 'k-test' });
  });

  it('binds the topic: a command sealed for a zone does not open on a receiver topic', () => {
    const payload = seal(key, zoneA, playCommand());
    expect(open(trusted, rxB, playCommandSchema, payload)).toMatchObject({
      ok: false,
      reason: 'wrong_topic',
    });
    // Rewriting the (unsigned) topic hint does not help: the arrival topic is what is verified.
    const env = JSON.parse(payload);
    const retargeted = JSON.stringify({ ...env, topic: rxB });
    expect(open(trusted, rxB, playCommandSchema, retargeted)).toMatchObject({
      ok: false,
      reason: 'bad_signature',
    });
    const { topic: _dropped, ...hintless } = env;
    expect(open(trusted, rxB, playCommandSchema, JSON.stringify(hintless))).toMatchObject({
      ok: false,
      reason: 'bad_signature',
    });
    // Without the hint it still opens on its own topic.
    expect(open(trusted, zoneA, playCommandSchema, JSON.stringify(hintless)).ok).toBe(true);
  });

  it("binds configs to their receiver: receiver A's config does not open on B's config topic", () => {
    const config = { v: 1, seq: 5, issuedAt: new Date().toISOString(), adopted: true, zones: ['thon-a'] };
    const payload = seal(key, t.receiverConfig('rx-a'), config);
    expect(open(trusted, t.receiverConfig('rx-a'), receiverConfigSchema, payload).ok).toBe(true);
    expect(open(trusted, t.receiverConfig('rx-b'), receiverConfigSchema, payload)).toMatchObject({
      ok: false,
      reason: 'wrong_topic',
    });
  });

  it('refuses a forged signature, an unknown key, a tampered body and unsigned payloads', () => {
    const cmd = playCommand();
    const forged = seal(generateSigningKey('k-test'), rxB, cmd); // right kid, wrong key
    expect(open(trusted, rxB, playCommandSchema, forged)).toMatchObject({
      ok: false,
      reason: 'bad_signature',
    });
    const stranger = seal(generateSigningKey('k-other'), rxB, cmd);
    expect(open(trusted, rxB, playCommandSchema, stranger)).toMatchObject({
      ok: false,
      reason: 'unknown_key',
    });
    const env = JSON.parse(seal(key, rxB, cmd));
    const tampered = JSON.stringify({ ...env, body: env.body.replace('"repeat":1', '"repeat":9') });
    expect(tampered).not.toBe(JSON.stringify(env));
    expect(open(trusted, rxB, playCommandSchema, tampered)).toMatchObject({
      ok: false,
      reason: 'bad_signature',
    });
    expect(open(trusted, rxB, playCommandSchema, JSON.stringify(cmd))).toMatchObject({
      ok: false,
      reason: 'unsigned',
    });
    expect(open(trusted, rxB, playCommandSchema, 'not json')).toMatchObject({
      ok: false,
      reason: 'malformed',
    });
    expect(open(trusted, rxB, playCommandSchema, Buffer.alloc(17_000, 0x20))).toMatchObject({
      ok: false,
      reason: 'malformed',
    });
    // Genuinely signed but out of contract.
    expect(open(trusted, rxB, playCommandSchema, seal(key, rxB, { ...cmd, repeat: 0 }))).toMatchObject({
      ok: false,
      reason: 'invalid',
    });
  });
});

describe('replay memory (firmware-sim)', () => {
  it('remembers an id until it may be forgotten, and drops those expiring soonest when full', () => {
    const m = new ReplayMemory(3);
    m.add('a', 1000, 0);
    expect(m.has('a', 999)).toBe(true);
    expect(m.has('a', 1001)).toBe(false);
    m.add('b', 5000, 0);
    m.add('c', 2000, 0);
    m.add('d', 9000, 0);
    m.add('e', 8000, 0); // over capacity: c (2000) goes first
    expect(['b', 'c', 'd', 'e'].filter((id) => m.has(id, 0))).toEqual(['b', 'd', 'e']);
  });
});

describe('controller: refusals that must not fail a delivery', () => {
  it('ignores replayed and never-ours refusals, and refusals after acknowledgement', () => {
    // A resend reaching a receiver that is downloading the command: `replayed` changes nothing.
    expect(eventIgnoredBecause({ state: 'rejected', reason: 'replayed' }, 'downloading')).not.toBeNull();
    expect(eventIgnoredBecause({ state: 'rejected', reason: 'replayed' }, 'sent')).not.toBeNull();
    // The controller never sends unsigned, forged or misdirected copies: about someone else's payload.
    for (const reason of ['unsigned', 'bad_signature', 'wrong_topic'] as const) {
      expect(eventIgnoredBecause({ state: 'rejected', reason }, 'sent')).not.toBeNull();
    }
    // A genuine refusal (a receiver that lacks the key, a clock far behind, busy) fails it, before acknowledgement only.
    expect(eventIgnoredBecause({ state: 'rejected', reason: 'unknown_key' }, 'sent')).toBeNull();
    expect(eventIgnoredBecause({ state: 'rejected', reason: 'not_yet_valid' }, 'queued')).toBeNull();
    expect(eventIgnoredBecause({ state: 'rejected', reason: 'unknown_key' }, 'ready')).not.toBeNull();
    // Once started, an item plays to its end: a late `expired` (a replay after expiry) is ignored.
    expect(eventIgnoredBecause({ state: 'expired', reason: 'expired' }, 'playing')).not.toBeNull();
    expect(eventIgnoredBecause({ state: 'expired', reason: 'expired' }, 'sent')).toBeNull();
    expect(eventIgnoredBecause({ state: 'finished' }, 'playing')).toBeNull();
  });
});

describe('signing key set', () => {
  it('migrates a single-key secrets file of earlier versions, keeping the key and every other secret', () => {
    const dir = mkdtempSync(join(tmpdir(), 'loalang-keys-'));
    try {
      const old = generateSigningKey('kold1');
      const file = join(dir, 'secrets.json');
      const legacy = {
        signingKid: old.kid,
        signingKeyPem: old.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        urlSecret: 'dXJs',
        brokerSecret: 'broker-secret',
        somethingNew: 'kept',
      };
      writeFileSync(file, JSON.stringify(legacy), { mode: 0o600 });
      const secrets = loadOrCreateSecrets(dir);
      expect(secrets.brokerSecret).toBe('broker-secret');
      expect(secrets.signingKeys).toEqual([
        expect.objectContaining({ kid: 'kold1', state: 'current', publicKeyPem: publicKeyPem(old) }),
      ]);
      const onDisk = JSON.parse(readFileSync(file, 'utf8'));
      expect(onDisk.signingKid).toBeUndefined();
      expect(onDisk.somethingNew).toBe('kept');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      // The migrated key signs as before: receivers provisioned with it keep trusting it.
      const keys = createSigningKeys(secrets.signingKeys, secrets.saveSigningKeys);
      const payload = seal(keys.commandKey(), 'x/y', { hello: 1 });
      expect(open(trustedOf(old), 'x/y', z.object({ hello: z.number() }), payload)).toMatchObject({
        ok: true,
      });
      expect(JSON.parse(payload).kid).toBe('kold1');
      expect(loadOrCreateSecrets(dir).signingKeys).toEqual(secrets.signingKeys);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('moves keys through next → current → previous → retired, signing configs with the key all trust', () => {
    let saved: StoredSigningKey[] = [];
    const first = generateStoredKey('current');
    const keys = createSigningKeys([first], (k) => {
      saved = k;
    });
    expect(keys.trusted().map((k) => k.kid)).toEqual([first.kid]);
    const next = keys.announceNext();
    expect(keys.announceNext().kid).toBe(next.kid); // resumable
    expect(keys.commandKey().kid).toBe(first.kid);
    expect(keys.configKey().kid).toBe(first.kid);
    expect(keys.trusted().map((k) => k.kid)).toEqual([first.kid, next.kid]);
    keys.promoteNext();
    expect(keys.commandKey().kid).toBe(next.kid);
    // Until retired, configs stay signed by the old key: a receiver offline all along can verify them.
    expect(keys.configKey().kid).toBe(first.kid);
    expect(keys.trusted().map((k) => k.kid)).toEqual([next.kid, first.kid]);
    expect(() => keys.announceNext()).toThrow(/retire/);
    expect(keys.retirePrevious()).toBe(first.kid);
    expect(keys.configKey().kid).toBe(next.kid);
    expect(keys.trusted().map((k) => k.kid)).toEqual([next.kid]);
    const retired = saved.find((k) => k.kid === first.kid);
    expect(retired).toMatchObject({ state: 'retired', publicKeyPem: first.publicKeyPem });
    expect(retired?.privateKeyPem).toBeUndefined();
    expect(saved.find((k) => k.kid === next.kid)?.state).toBe('current');
  });
});

describe('signed commands end to end (controller, embedded broker, simulated receivers)', () => {
  let tc: TestController;
  let mqtt: MqttClient;
  let audioId = '';
  const receivers: SimReceiver[] = [];
  const MP3 = readFileSync(new URL('./fixtures/audio/tone.mp3', import.meta.url));

  /** The controller's own signing key now (read from its secrets file, as an attacker could not). */
  const controllerKey = () => {
    const s = loadOrCreateSecrets(tc.dataDir);
    return createSigningKeys(s.signingKeys, () => {}).commandKey();
  };

  async function startReceiver(id: string): Promise<SimReceiver> {
    // Provisioned as an installer would: with the bundle its registration answered.
    const rx = new SimReceiver({ ...tc.sim(id), timeFactor: 0.02, configGraceMs: 500 });
    receivers.push(rx);
    await rx.start();
    await rx.waitForConfig((c) => c.adopted);
    await waitFor(`${id} online`, () => tc.isOnline(id));
    return rx;
  }

  async function playOn(rx: SimReceiver): Promise<{ id: string; commandId: string }> {
    const res = await tc.api<{ id: string }>('POST', '/api/bulletins', {
      audioId,
      target: { receivers: [rx.id] },
      priority: 'normal',
      repeat: 1,
      gapSeconds: 0,
    });
    expect(res.status).toBe(201);
    const finished = await rx.waitForEvent(
      (e) => e.bulletinId === res.body.id && e.state === 'finished',
      15_000,
    );
    return { id: res.body.id, commandId: finished.commandId };
  }

  const deliveryState = async (bulletinId: string) =>
    (
      await tc.api<{ deliveries: { state: string; reason: string | null }[] }>(
        'GET',
        `/api/bulletins/${bulletinId}`,
      )
    ).body.deliveries[0];

  const refusal = (rx: SimReceiver, commandId: string) =>
    rx.waitForEvent((e) => e.commandId === commandId && (e.state === 'rejected' || e.state === 'expired'));

  beforeAll(async () => {
    tc = await startTestController();
    expect((await tc.api('POST', '/api/zones', { id: 'thon-1', name: 'Thôn 1' })).status).toBe(201);
    for (const id of ['sig-a', 'sig-b', 'sig-c']) await tc.register(id, 'thon-1');
    const up = await tc.upload(MP3, 'ban-tin.mp3');
    expect(up.status).toBe(201);
    audioId = up.audio.id;
    const { brokerSecret } = loadOrCreateSecrets(tc.dataDir);
    mqtt = connect(tc.mqttUrl, {
      clientId: `test-controller-${randomUUID().slice(0, 8)}`,
      username: CONTROLLER_USERNAME,
      password: brokerSecret,
      reconnectPeriod: 0,
    });
    await new Promise<void>((resolve, reject) => {
      mqtt.once('connect', () => resolve());
      mqtt.once('error', reject);
    });
  });

  afterAll(async () => {
    await Promise.all(receivers.map((rx) => rx.stop()));
    await mqtt?.endAsync(true);
    await tc?.stop();
  });

  it('does not play forged, replayed, expired, unsigned or misdirected commands, and reports each', async () => {
    const a = await startReceiver('sig-a');
    const b = await startReceiver('sig-b');
    const wireA = await watch<ReceiverEvent>(mqtt, t.receiverEvent(a.id));
    const wireB = await watch<ReceiverEvent>(mqtt, t.receiverEvent(b.id));

    // A genuine bulletin to A, its bytes captured as the controller published them.
    const sent = await watch<{ body: string }>(mqtt, t.receiverCommand(a.id));
    const genuine = await playOn(a);
    const captured = await sent.waitFor((m) => JSON.parse(m.body).id === genuine.commandId);
    const genuineBytes = JSON.stringify(captured);
    const playedA = a.played.length;
    expect(playedA).toBe(1);
    await waitFor('delivery done', async () => (await deliveryState(genuine.id))?.state === 'done');

    // (c) replayed: the same genuine bytes, on the same topic, once more.
    await mqtt.publishAsync(t.receiverCommand(a.id), genuineBytes, { qos: 1 });
    expect(await refusal(a, genuine.commandId).then((e) => [e.state, e.reason])).toEqual([
      'rejected',
      'replayed',
    ]);

    // (e) sealed for another topic: A's genuine command replayed onto B's topic.
    await mqtt.publishAsync(t.receiverCommand(b.id), genuineBytes, { qos: 1 });
    expect(await refusal(b, genuine.commandId).then((e) => [e.state, e.reason])).toEqual([
      'rejected',
      'wrong_topic',
    ]);

    // (a) unsigned: a well-formed play command without an envelope.
    const unsigned = playCommand({ seq: 10 ** 9 });
    await mqtt.publishAsync(t.receiverCommand(b.id), JSON.stringify(unsigned), { qos: 1 });
    // (b) forged: signed by another key under the controller's key id, or under an unknown id.
    const key = controllerKey();
    const forged = playCommand({ seq: 10 ** 9 });
    await mqtt.publishAsync(
      t.receiverCommand(b.id),
      seal(generateSigningKey(key.kid), t.receiverCommand(b.id), forged),
      {
        qos: 1,
      },
    );
    const stranger = playCommand({ seq: 10 ** 9 });
    await mqtt.publishAsync(
      t.receiverCommand(b.id),
      seal(generateSigningKey('intruder'), t.receiverCommand(b.id), stranger),
      { qos: 1 },
    );
    // (d) expired: genuinely signed by the controller's key, for B's topic, but past its expiry.
    const past = Date.now() - 120_000;
    const expired = playCommand({
      seq: 10 ** 9,
      issuedAt: new Date(past).toISOString(),
      expiresAt: new Date(past + 60_000).toISOString(),
    });
    await mqtt.publishAsync(t.receiverCommand(b.id), seal(key, t.receiverCommand(b.id), expired), { qos: 1 });
    // And not yet valid: issued an hour ahead of the receiver's clock.
    const early = playCommand({
      seq: 10 ** 9,
      issuedAt: new Date(Date.now() + 3_600_000).toISOString(),
      expiresAt: new Date(Date.now() + 7_200_000).toISOString(),
    });
    await mqtt.publishAsync(t.receiverCommand(b.id), seal(key, t.receiverCommand(b.id), early), { qos: 1 });

    const verdicts = await Promise.all(
      [unsigned, forged, stranger, expired, early].map((c) =>
        refusal(b, c.id).then((e) => [e.state, e.reason]),
      ),
    );
    expect(verdicts).toEqual([
      ['rejected', 'unsigned'],
      ['rejected', 'bad_signature'],
      ['rejected', 'unknown_key'],
      ['expired', 'expired'],
      ['rejected', 'not_yet_valid'],
    ]);
    // The controller received the same refusals over MQTT.
    for (const c of [unsigned, forged, stranger, expired, early]) {
      await wireB.waitFor((m) => m.commandId === c.id);
    }
    await wireA.waitFor((m) => m.commandId === genuine.commandId && m.reason === 'replayed');

    // Nothing refused played, nor got past the refusal: one event per refused command.
    expect(a.played.map((p) => p.commandId)).toEqual([genuine.commandId]);
    expect(b.played).toEqual([]);
    for (const c of [genuine.commandId, unsigned.id, forged.id, stranger.id, expired.id, early.id]) {
      expect(b.events.filter((e) => e.commandId === c)).toHaveLength(1);
    }
    expect(a.events.filter((e) => e.commandId === genuine.commandId && e.state === 'rejected')).toHaveLength(
      1,
    );
    // The replay did not make the controller's finished delivery regress.
    expect(await deliveryState(genuine.id)).toMatchObject({ state: 'done' });

    // Still working: a genuine bulletin to B plays.
    await playOn(b);
    expect(b.played).toHaveLength(1);
  });

  it('rotates keys without stranding a receiver that was offline during the rotation', async () => {
    const a = receivers.find((r) => r.id === 'sig-a') ?? (await startReceiver('sig-a'));
    const b = receivers.find((r) => r.id === 'sig-b') ?? (await startReceiver('sig-b'));
    const c = await startReceiver('sig-c');
    const oldKey = controllerKey();
    const before = await tc.api<SigningKeysOverview>('GET', '/api/system/signing-keys');
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ current: oldKey.kid, rotation: 'idle' });
    expect(before.body.keys.find((k) => k.kid === oldKey.kid)?.trustedBy).toBe(3);
    expect((await tc.api('POST', '/api/system/signing-keys/retire', {})).status).toBe(409);

    await c.goOffline();
    await waitFor('c offline', async () => !(await tc.isOnline(c.id)));

    const rotated = await tc.api<SigningKeysOverview>('POST', '/api/system/signing-keys/rotate', {
      waitSeconds: 10,
    });
    expect(rotated.status).toBe(200);
    const newKid = rotated.body.current;
    expect(newKid).not.toBe(oldKey.kid);
    expect(rotated.body.rotation).toBe('switched');
    expect(rotated.body.keys.map((k) => [k.kid, k.state])).toEqual([
      [newKid, 'current'],
      [oldKey.kid, 'previous'],
    ]);
    // The online receivers confirmed the new key before commands were signed with it.
    expect(a.trustedKids).toEqual([oldKey.kid, newKid].sort());
    expect(b.trustedKids).toEqual([oldKey.kid, newKid].sort());
    expect(rotated.body.receivers.notYetTrusting).toEqual([c.id]);
    expect(controllerKey().kid).toBe(newKid);
    expect((await tc.api('POST', '/api/system/signing-keys/rotate', {})).status).toBe(409);

    // Provisioning now hands out both keys, the new one first.
    const info = await tc.api<{ kid: string; keys: { kid: string }[] }>(
      'GET',
      '/api/system/signing-key',
      undefined,
      null,
    );
    expect(info.body.kid).toBe(newKid);
    expect(info.body.keys.map((k) => k.kid)).toEqual([newKid, oldKey.kid]);

    // Online receivers play commands signed by the new key.
    await playOn(a);

    // Not retired while a receiver has not confirmed the new key.
    const early = await tc.api<{ error: string; details: { receivers: string[] } }>(
      'POST',
      '/api/system/signing-keys/retire',
      {},
    );
    expect(early.status).toBe(409);
    expect(early.body.details.receivers).toEqual([c.id]);

    // The receiver that slept through the rotation comes back: its retained config (signed by the
    // old key, which it trusts) hands it the new key; then it plays a command signed by the new key.
    expect(c.trustedKids).toEqual([oldKey.kid]);
    const toC = await watch<{ kid: string; body: string }>(mqtt, t.receiverCommand(c.id));
    await c.goOnline();
    expect(c.trustedKids).toEqual([oldKey.kid, newKid].sort());
    await waitFor('c online', () => tc.isOnline(c.id));
    const playedOnC = await playOn(c);
    const sentToC = await toC.waitFor((m) => JSON.parse(m.body).id === playedOnC.commandId);
    expect(sentToC.kid).toBe(newKid);

    const retired = await waitFor('retire accepted', async () => {
      const res = await tc.api<SigningKeysOverview>('POST', '/api/system/signing-keys/retire', {});
      return res.status === 200 ? res.body : null;
    });
    expect(retired.rotation).toBe('idle');
    expect(retired.keys.map((k) => [k.kid, k.state])).toEqual([
      [newKid, 'current'],
      [oldKey.kid, 'retired'],
    ]);
    for (const rx of [a, b, c])
      await waitFor(`${rx.id} drops the old key`, () => rx.trustedKids.join() === newKid);
    await waitFor('all report the new key only', async () => {
      const o = (await tc.api<SigningKeysOverview>('GET', '/api/system/signing-keys')).body;
      return (
        o.keys.find((k) => k.kid === newKid)?.trustedBy === 3 &&
        o.keys.find((k) => k.kid === oldKey.kid)?.trustedBy === 0
      );
    });
    const stored = JSON.parse(readFileSync(join(tc.dataDir, 'secrets.json'), 'utf8')) as {
      signingKeys: StoredSigningKey[];
    };
    expect(stored.signingKeys.find((k) => k.kid === oldKey.kid)?.privateKeyPem).toBeUndefined();
    expect(statSync(join(tc.dataDir, 'secrets.json')).mode & 0o777).toBe(0o600);

    // A command signed by the retired key is refused, even on the receiver's own topic.
    const stale = playCommand({ seq: 10 ** 9 });
    await mqtt.publishAsync(t.receiverCommand(a.id), seal(oldKey, t.receiverCommand(a.id), stale), {
      qos: 1,
    });
    expect((await refusal(a, stale.id)).reason).toBe('unknown_key');
    expect(a.played.map((p) => p.commandId)).not.toContain(stale.id);
    // And the current key still works.
    await playOn(b);
  });
});
