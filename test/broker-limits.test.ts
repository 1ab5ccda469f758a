/**
 * The embedded broker runs inside the controller, so nobody who can reach its port may starve it
 * (issue 7, item 2; docs/protocol.md §2.1): oversized packets are cut while they arrive, before any
 * login; a CONNECT must arrive in time; one address holds only so many connections and opens only
 * so many a second; nothing larger than a status is retained. Real TCP, real controller, real
 * simulated receiver.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchTrustedKeys, SimReceiver } from '../firmware-sim/index.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { MAX_PAYLOAD_BYTES, topics } from '../src/contract/mqtt.js';
import { CONTROLLER_USERNAME } from '../src/mqtt/broker.js';
import { addressKey, createConnectionLimits } from '../src/mqtt/connection-limits.js';
import { MalformedLengthError, PacketSizeMeter, PacketTooLargeError } from '../src/mqtt/packet-guard.js';
import { loadOrCreateSecrets } from '../src/secrets.js';
import { startTestController, type TestController } from './helpers/controller.js';
import { type MosquittoHandle, mosquittoAvailable, startMosquitto } from './helpers/mosquitto.js';
import { waitFor } from './helpers/wait.js';

const FIXTURE = new URL('./fixtures/audio/tone.mp3', import.meta.url);
const t = topics();
const MiB = 1024 * 1024;

/** The MQTT remaining-length varint of `n` (MQTT 3.1.1 §2.2.3). */
function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

/** The start of a CONNECT (protocol name, level 4, clean session, keep alive 60) announcing `length`. */
function connectHead(length: number): Buffer {
  const variable = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c]);
  return Buffer.concat([Buffer.from([0x10]), varint(length), variable]);
}

interface Raw {
  socket: Socket;
  /** resolves with the time from open to close, when the broker closes the connection */
  closed: Promise<number>;
}

/** A raw TCP connection to the broker (nothing of MQTT unless the caller writes it). */
async function rawConnect(port: number): Promise<Raw> {
  const socket = connect({ host: '127.0.0.1', port });
  const opened = Date.now();
  socket.on('error', () => {}); // a reset by the broker is what is expected
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - opened)));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('close', () => reject(new Error('closed before it connected')));
  });
  return { socket, closed };
}

/**
 * Sends a CONNECT announcing 128 MB and then its "body" in 64 KiB chunks, as fast as the broker
 * reads, until the broker closes the connection or `cap` bytes went out (a bound on the loop).
 */
async function oversizedConnect(raw: Raw, cap: number): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const { socket } = raw;
  let open = true;
  void raw.closed.then(() => {
    open = false;
  });
  socket.write(connectHead(128 * MiB));
  for (let sent = 0; open && sent < cap; sent += chunk.length) {
    if (!socket.write(chunk)) {
      await new Promise<void>((resolve) => {
        socket.once('drain', resolve);
        socket.once('close', resolve);
      });
    }
  }
}

/** Resolves with `p`, or rejects after `ms` naming `what` (no test waits unbounded). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

describe('embedded broker under attack', () => {
  const CONNECT_TIMEOUT_MS = 2000;
  let tc: TestController;
  let rx: SimReceiver;
  let zoneId = '';
  let audioId = '';
  let port = 0;

  beforeAll(async () => {
    // No loopback exemption: the attacker and the receiver share 127.0.0.1 and every limit applies.
    tc = await startTestController({
      MQTT_LIMIT_EXEMPT: 'none',
      MQTT_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
    });
    port = tc.controller.broker?.port ?? 0;
    const zone = await tc.api<{ id: string }>('POST', '/api/zones', { name: 'Thôn Đông' });
    zoneId = zone.body.id;
    await tc.register('rx-genuine', zoneId);
    await tc.register('rx-big', zoneId);
    audioId = (await tc.upload(readFileSync(FIXTURE), 'ban-tin.mp3')).audio.id;
    rx = new SimReceiver({
      ...tc.sim('rx-genuine'),
      trustedKeys: await fetchTrustedKeys(`${tc.url}/api/system/signing-key`),
      timeFactor: 0.05,
    });
    await rx.start();
    await rx.waitForConfig((c) => c.adopted);
    await waitFor('rx-genuine online', () => tc.isOnline('rx-genuine'));
  });

  afterAll(async () => {
    await rx?.stop();
    await tc?.stop();
  });

  it('cuts 50 parallel 128 MB CONNECTs at their header and slow-loris connections at the deadline; RSS stays bounded and the receiver keeps playing', async () => {
    let offline = 0;
    rx.on('offline', () => offline++);
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }, 20);
    try {
      const oversized = await Promise.all(Array.from({ length: 50 }, () => rawConnect(port)));
      const silent = await Promise.all(Array.from({ length: 10 }, () => rawConnect(port)));
      const partial = await Promise.all(Array.from({ length: 10 }, () => rawConnect(port)));
      // A CONNECT of 40 bytes of which only the first 12 ever come.
      for (const p of partial) p.socket.write(connectHead(40).subarray(0, 12));
      // Up to 4 MiB each, 200 MiB in all: what the broker would buffer without a limit.
      const sending = oversized.map((o) => oversizedConnect(o, 4 * MiB));

      // A bulletin to the receiver's village while the attack goes on.
      const bulletin = await tc.api<{ id: string }>('POST', '/api/bulletins', {
        audioId,
        target: { zones: [zoneId] },
        priority: 'normal',
      });
      expect(bulletin.status).toBe(201);

      const cutAfter = await within(Promise.all(oversized.map((o) => o.closed)), 10_000, 'oversized closed');
      await Promise.all(sending);
      // Cut by their size as the header came, well before the CONNECT deadline.
      expect(Math.max(...cutAfter)).toBeLessThan(CONNECT_TIMEOUT_MS);

      const lorisAfter = await within(
        Promise.all([...silent, ...partial].map((s) => s.closed)),
        CONNECT_TIMEOUT_MS + 8000,
        'slow-loris closed',
      );
      // Closed by the CONNECT deadline (timers may fire a little early or late, never much).
      expect(Math.min(...lorisAfter)).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 50);

      await rx.waitForEvent((e) => e.bulletinId === bulletin.body.id && e.state === 'finished', 15_000);
    } finally {
      clearInterval(sampler);
    }
    const growthMiB = (rssPeak - rssBefore) / MiB;
    // Without the limit the broker buffers what the 50 send (hundreds of MiB); with it, each
    // connection costs at most one read of its socket before it is cut.
    expect(growthMiB, `RSS grew ${growthMiB.toFixed(1)} MiB`).toBeLessThan(64);
    expect(offline).toBe(0);
    expect(rx.state).toBe('online');
    expect(await tc.isOnline('rx-genuine')).toBe(true);
  });

  it('retains a status of up to 16 KiB, cuts a receiver that retains more (20 KiB, 32 MB) or an event, and keeps the last good status', async () => {
    const opts = tc.sim('rx-big');
    const status = (bytes: number) => {
      const base = { v: 1, state: 'online', session: 1, ts: new Date().toISOString(), firmware: '' };
      const pad = bytes - Buffer.byteLength(JSON.stringify(base));
      return JSON.stringify({ ...base, firmware: 'x'.repeat(pad) });
    };
    const good = status(MAX_PAYLOAD_BYTES);
    expect(Buffer.byteLength(good)).toBe(MAX_PAYLOAD_BYTES);
    const big = await mqtt.connectAsync(opts.brokerUrl, {
      clientId: 'rx-big',
      username: opts.username,
      password: opts.password,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    await big.publishAsync(t.receiverStatus('rx-big'), good, { qos: 1, retain: true });
    await big.endAsync();

    for (const bytes of [MAX_PAYLOAD_BYTES + 4096, 32 * MiB]) {
      const c = await mqtt.connectAsync(opts.brokerUrl, {
        clientId: 'rx-big',
        username: opts.username,
        password: opts.password,
        protocolVersion: 4,
        reconnectPeriod: 0,
      });
      const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
      c.publish(t.receiverStatus('rx-big'), Buffer.alloc(bytes, 0x20), { qos: 1, retain: true }, () => {});
      await within(closed, 10_000, `${bytes}-byte retained status cut`);
      c.end(true);
    }

    // Events are never retained: a receiver that tries is cut too, and nothing is kept.
    const ev = await mqtt.connectAsync(opts.brokerUrl, {
      clientId: 'rx-big',
      username: opts.username,
      password: opts.password,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    const evClosed = new Promise<void>((resolve) => ev.once('close', () => resolve()));
    ev.publish(t.receiverEvent('rx-big'), '{"v":1}', { qos: 1, retain: true }, () => {});
    await within(evClosed, 10_000, 'retained event cut');
    ev.end(true);
    // What the broker stores, read from its own persistence (aedes's typings do not show it).
    const aedes = tc.controller.broker?.aedes;
    if (!aedes) throw new Error('embedded broker expected');
    const { persistence: store } = aedes as unknown as {
      persistence: { createRetainedStream(pattern: string): AsyncIterable<{ topic: string }> };
    };
    const kept: string[] = [];
    for await (const p of store.createRetainedStream(`${t.root}/rx/rx-big/#`)) kept.push(p.topic);
    // what the controller retains for it (its config and its schedule), and its last good status
    expect(kept.sort()).toEqual(
      [t.receiverConfig('rx-big'), t.receiverSchedule('rx-big'), t.receiverStatus('rx-big')].sort(),
    );

    // A fresh subscriber gets the retained status: the last one within the limit.
    const { brokerSecret } = loadOrCreateSecrets(tc.dataDir);
    const sub = await mqtt.connectAsync(opts.brokerUrl, {
      clientId: 'limits-observer',
      username: CONTROLLER_USERNAME,
      password: brokerSecret,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    try {
      const retained = new Promise<Buffer>((resolve) =>
        sub.on('message', (topic, payload, packet) => {
          if (topic === t.receiverStatus('rx-big') && packet.retain) resolve(payload);
        }),
      );
      await sub.subscribeAsync(t.receiverStatus('rx-big'), { qos: 1 });
      const payload = await within(retained, 5000, 'retained status');
      expect(payload.toString('utf8')).toBe(good);
    } finally {
      await sub.endAsync();
    }
  });
});

describe('embedded broker: per-address limits', () => {
  let tc: TestController;
  let port = 0;
  const opened: Raw[] = [];

  afterAll(async () => {
    for (const r of opened) r.socket.destroy();
    await tc?.stop();
  });

  it('closes the connection past MQTT_MAX_CONNECTIONS_PER_IP at once, and admits a receiver when one closes', async () => {
    tc = await startTestController({
      MQTT_LIMIT_EXEMPT: 'none',
      MQTT_MAX_CONNECTIONS_PER_IP: '5',
      MQTT_CONNECT_RATE_PER_S: '0',
    });
    const broker = tc.controller.broker;
    if (!broker) throw new Error('embedded broker expected');
    port = broker.port;
    for (let i = 0; i < 5; i++) opened.push(await rawConnect(port));
    await waitFor('5 connections counted', () => broker.connectionsFrom('127.0.0.1') === 5);
    const sixth = await rawConnect(port);
    // Closed by the broker at once, long before the CONNECT deadline (10 s by default).
    expect(await within(sixth.closed, 5000, 'sixth closed')).toBeLessThan(5000);
    expect(broker.connectionsFrom('127.0.0.1')).toBe(5);

    opened.shift()?.socket.destroy();
    await waitFor('a slot freed', () => broker.connectionsFrom('127.0.0.1') === 4);
    const zone = await tc.api<{ id: string }>('POST', '/api/zones', { name: 'Thôn Tây' });
    const bundle = await tc.register('rx-nat', zone.body.id);
    const c = await mqtt.connectAsync(tc.mqttUrl, {
      clientId: 'rx-nat',
      username: bundle.mqtt.username,
      password: bundle.mqtt.password,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    expect(c.connected).toBe(true);
    await c.endAsync();
  });

  it('closes connections past MQTT_CONNECT_RATE_PER_S in a second, and a receiver retrying gets in', async () => {
    await tc?.stop();
    for (const r of opened.splice(0)) r.socket.destroy();
    tc = await startTestController({
      MQTT_LIMIT_EXEMPT: 'none',
      MQTT_MAX_CONNECTIONS_PER_IP: '0',
      MQTT_CONNECT_RATE_PER_S: '10',
    });
    port = tc.controller.broker?.port ?? 0;
    // 21 in a burst: whichever second boundaries fall inside it, at most 2 × 10 are admitted.
    const burst = await Promise.all(Array.from({ length: 21 }, () => rawConnect(port)));
    opened.push(...burst);
    const refused = await within(Promise.race(burst.map((b) => b.closed)), 5000, 'one of the burst closed');
    expect(refused).toBeLessThan(5000);

    // A receiver reconnecting in the same storm is refused at first, retries with its backoff
    // and gets in: the limit delays, it does not lock out.
    const zone = await tc.api<{ id: string }>('POST', '/api/zones', { name: 'Thôn Bắc' });
    await tc.register('rx-storm', zone.body.id);
    const storm = new SimReceiver({
      ...tc.sim('rx-storm'),
      trustedKeys: await fetchTrustedKeys(`${tc.url}/api/system/signing-key`),
      timeFactor: 0.05,
      reconnectMinMs: 100,
      reconnectMaxMs: 400,
    });
    try {
      await storm.start();
      await storm.waitForConfig((c) => c.adopted, 10_000);
      await waitFor('rx-storm online', () => tc.isOnline('rx-storm'));
    } finally {
      await storm.stop();
    }
  });
});

/** The limit lines of docs/mosquitto/loalang.conf, as written there (not a copy in the test). */
function documentedMosquittoLimits(): string[] {
  const conf = readFileSync(new URL('../docs/mosquitto/loalang.conf', import.meta.url), 'utf8');
  return conf.split('\n').filter((l) => /^(max_packet_size|message_size_limit) \d+$/.test(l));
}

/** Resident memory of a process, from /proc (Linux). */
function rssOf(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

describe.skipIf(!mosquittoAvailable())('Mosquitto with the limits of docs/mosquitto/loalang.conf', () => {
  let mq: MosquittoHandle;

  beforeAll(async () => {
    const limits = documentedMosquittoLimits();
    expect(limits).toEqual(['max_packet_size 32768', 'message_size_limit 16384']);
    mq = await startMosquitto(limits);
  });
  afterAll(async () => {
    await mq?.stop();
  });

  it('cuts 50 CONNECTs announcing 128 MB at their header; its memory stays put', async () => {
    const before = rssOf(mq.pid);
    const oversized = await Promise.all(Array.from({ length: 50 }, () => rawConnect(mq.port)));
    const sending = oversized.map((o) => oversizedConnect(o, 4 * MiB));
    const cutAfter = await within(Promise.all(oversized.map((o) => o.closed)), 10_000, 'oversized closed');
    await Promise.all(sending);
    expect(Math.max(...cutAfter)).toBeLessThan(2000);
    const growthMiB = (rssOf(mq.pid) - before) / MiB;
    expect(growthMiB, `Mosquitto RSS grew ${growthMiB.toFixed(1)} MiB`).toBeLessThan(16);
  });

  it('retains a 16 KiB status and drops a 20 KiB one', async () => {
    const topic = t.receiverStatus('rx-big');
    const good = Buffer.alloc(MAX_PAYLOAD_BYTES, 0x41);
    const c = await mqtt.connectAsync(mq.url, { clientId: 'rx-big', protocolVersion: 4, reconnectPeriod: 0 });
    await c.publishAsync(topic, good, { qos: 1, retain: true });
    // Acknowledged and dropped: the connection stays.
    await c.publishAsync(topic, Buffer.alloc(MAX_PAYLOAD_BYTES + 4096, 0x42), { qos: 1, retain: true });
    await c.endAsync();
    const sub = await mqtt.connectAsync(mq.url, {
      clientId: 'observer',
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    try {
      const retained = new Promise<Buffer>((resolve) => sub.on('message', (_t, payload) => resolve(payload)));
      await sub.subscribeAsync(topic, { qos: 1 });
      expect((await within(retained, 5000, 'retained status')).equals(good)).toBe(true);
    } finally {
      await sub.endAsync();
    }
  });
});

describe('packet size meter', () => {
  const header = (length: number) => Buffer.concat([Buffer.from([0x30]), varint(length)]);

  it('lets packets up to the limit through, whatever the chunking, and refuses one byte more', () => {
    const limit = 32 * 1024;
    // A packet of exactly `limit` bytes: 1 type byte + 3 length bytes + body.
    const body = limit - 4;
    const whole = Buffer.concat([header(body), Buffer.alloc(body), header(0), header(10), Buffer.alloc(10)]);
    const byteWise = new PacketSizeMeter(limit);
    for (const b of whole) byteWise.feed(Buffer.from([b]));
    new PacketSizeMeter(limit).feed(whole);
    expect(() => new PacketSizeMeter(limit).feed(header(body + 1))).toThrow(PacketTooLargeError);
    // The length split across chunks is still read as one number.
    const split = new PacketSizeMeter(limit);
    const h = header(128 * MiB);
    split.feed(h.subarray(0, 2));
    expect(() => split.feed(h.subarray(2))).toThrow(/exceeds the limit of 32768 bytes/);
  });

  it('refuses a remaining length of more than four bytes', () => {
    expect(() => new PacketSizeMeter(1024).feed(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x80, 0x01]))).toThrow(
      MalformedLengthError,
    );
  });
});

describe('connection limits', () => {
  it('counts per address, IPv6 per /64, resets the rate each second and skips exempt addresses', () => {
    let now = 0;
    const limits = createConnectionLimits({
      maxPerAddress: 2,
      ratePerSecond: 3,
      exempt: ['::1'],
      now: () => now,
    });
    const a = limits.admit('203.0.113.5');
    const b = limits.admit('::ffff:203.0.113.5');
    expect([a.ok, b.ok]).toEqual([true, true]);
    expect(limits.admit('203.0.113.5')).toEqual({
      ok: false,
      reason: 'too many connections from this address',
    });
    if (a.ok) limits.release(a.key);
    expect(limits.admit('203.0.113.5')).toEqual({
      ok: false,
      reason: 'too many new connections from this address',
    });
    now += 1000;
    expect(limits.admit('203.0.113.5').ok).toBe(true);
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'));
    expect(addressKey('2001:db8:1:2::1')).not.toBe(addressKey('2001:db8:1:3::1'));
    for (let i = 0; i < 10; i++) expect(limits.admit('::1').ok).toBe(true);
  });

  it('refuses a packet limit too small for a signed command, with the reason', () => {
    expect(() => loadConfig({ MQTT_MAX_PACKET_BYTES: '4096' })).toThrow(ConfigError);
    expect(() => loadConfig({ MQTT_MAX_PACKET_BYTES: '4096' })).toThrow(
      /MQTT_MAX_PACKET_BYTES: at least 17408/,
    );
    expect(loadConfig({}).MQTT_MAX_PACKET_BYTES).toBe(32 * 1024);
    expect(loadConfig({ MQTT_LIMIT_EXEMPT: 'none' }).MQTT_LIMIT_EXEMPT).toEqual([]);
  });
});
