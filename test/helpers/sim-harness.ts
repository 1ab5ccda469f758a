/**
 * Test harness for the receiver simulator: a broker (embedded with ACLs, or any URL), an HTTP
 * audio server on a free port, and a controller that publishes sealed commands and configs.
 * Everything it starts is tracked and closed by close().
 *
 * On the embedded broker every receiver logs in with credentials the harness makes
 * (`credentials(id)`; `receiver()` uses them by itself). Its rights are an adopted receiver's
 * (own topics, the all topic) plus the zone of the last adopted config the harness published: these
 * tests are about the simulator; the broker's ACL against the real fleet is
 * test/device-identity.test.ts's.
 */
import { createHash, type KeyObject, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { SimReceiver, type SimReceiverOptions } from '../../firmware-sim/index.js';
import {
  DEFAULT_TOPIC_ROOT,
  type PlayCommand,
  type ReceiverConfig,
  type StopCommand,
  type Topics,
  topics,
} from '../../src/contract/mqtt.js';
import { AUDIO_AUTH_NOTE, type ProvisioningBundle } from '../../src/contract/provisioning.js';
import { generateSigningKey, publicKeyPem, type SigningKey, seal } from '../../src/contract/signing.js';
import { encodeWav } from '../../src/domain/audio/wav.js';
import { CONTROLLER_USERNAME, type EmbeddedBroker, startEmbeddedBroker } from '../../src/mqtt/broker.js';
import { playCommand } from './commands.js';

/** A small mono 16-bit PCM WAV: a sine of `hz` for `ms`. Real bytes, so sha256 checks are real. */
export function wav(hz: number, ms: number, rate = 8000): Buffer {
  const samples = new Int16Array(Math.round((rate * ms) / 1000));
  for (let i = 0; i < samples.length; i++)
    samples[i] = Math.round(Math.sin((2 * Math.PI * hz * i) / rate) * 12_000);
  return encodeWav(samples, rate);
}

export const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

export interface AudioFile {
  path: string;
  bytes: Buffer;
  audio: PlayCommand['audio'];
}

/** Serves registered files; any other path is a 404. Counts requests per path. */
export class AudioServer {
  readonly #files = new Map<string, Buffer>();
  readonly #hits = new Map<string, number>();
  #server: Server | null = null;
  #base = '';

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      this.#hits.set(path, (this.#hits.get(path) ?? 0) + 1);
      const body = this.#files.get(path);
      if (!body) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': body.length }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    if (!addr || typeof addr === 'string') throw new Error('no port');
    this.#base = `http://127.0.0.1:${addr.port}`;
    this.#server = server;
  }

  /** Registers `bytes` at a fresh path; `durationMs` is what the command announces. */
  add(bytes: Buffer, durationMs = 2000): AudioFile {
    const path = `/audio/${randomUUID()}.wav`;
    this.#files.set(path, bytes);
    return {
      path,
      bytes,
      audio: {
        url: this.#base + path,
        sha256: sha256(bytes),
        size: bytes.length,
        durationMs,
        mime: 'audio/wav',
      },
    };
  }

  /** An audio reference whose URL answers 404. */
  missing(bytes: Buffer): AudioFile {
    const file = this.add(bytes);
    this.#files.delete(file.path);
    return file;
  }

  hits(path: string): number {
    return this.#hits.get(path) ?? 0;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export interface HarnessOptions {
  /** an external broker (e.g. Mosquitto); default: the embedded aedes broker with ACLs */
  brokerUrl?: string;
  topicRoot?: string;
}

export class SimHarness {
  readonly key: SigningKey = generateSigningKey('test-key-1');
  readonly trustedKeys: Map<string, KeyObject> = new Map([[this.key.kid, this.key.publicKey]]);
  readonly audio = new AudioServer();
  readonly t: Topics;
  brokerUrl = '';
  controller!: MqttClient;
  /** payloads a receiver refused to publish because they break the contract: must stay empty */
  readonly protocolErrors: string[] = [];
  #broker: EmbeddedBroker | null = null;
  #secret = randomUUID();
  #seq = Date.now();
  #clients: MqttClient[] = [];
  #receivers: SimReceiver[] = [];
  #rx = 0;
  /** the receivers' credentials and the zone of their last adopted config */
  readonly #devices = new Map<string, { password: string; zoneId: string | null }>();

  constructor(private readonly opts: HarnessOptions = {}) {
    this.t = topics(opts.topicRoot ?? DEFAULT_TOPIC_ROOT);
  }

  async start(): Promise<this> {
    if (this.opts.brokerUrl) {
      this.brokerUrl = this.opts.brokerUrl;
    } else {
      this.#broker = await startEmbeddedBroker({
        host: '127.0.0.1',
        port: 0,
        topics: this.t,
        controllerSecret: this.#secret,
        devices: {
          verify: async (username, password) =>
            this.#devices.get(username)?.password === password ? username : null,
          rights: (id) => {
            const d = this.#devices.get(id);
            return d ? { adopted: true, zoneId: d.zoneId } : null;
          },
          hasCredentials: (id) => this.#devices.has(id),
        },
        log: pino({ level: 'silent' }),
      });
      this.brokerUrl = this.#broker.url;
    }
    await this.audio.start();
    this.controller = await this.client();
    return this;
  }

  /** A controller-privileged MQTT client (on the embedded broker), closed by close(). */
  async client(extra: IClientOptions = {}): Promise<MqttClient> {
    const auth = this.#broker ? { username: CONTROLLER_USERNAME, password: this.#secret } : {};
    const client = connect(this.brokerUrl, {
      clientId: `controller-${randomUUID().slice(0, 8)}`,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...auth,
      ...extra,
    });
    this.#clients.push(client);
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    return client;
  }

  /** The MQTT credentials of receiver `id` on this harness's broker (made at the first call). */
  credentials(id: string): { username: string; password: string } {
    let d = this.#devices.get(id);
    if (!d) {
      d = { password: randomBytes(18).toString('base64url'), zoneId: null };
      this.#devices.set(id, d);
    }
    return { username: id, password: d.password };
  }

  /** A provisioning bundle for receiver `id` on this harness, as the controller would hand it out. */
  bundle(id: string): ProvisioningBundle {
    const { username, password } = this.credentials(id);
    const pem = publicKeyPem(this.key);
    return {
      v: 1,
      receiverId: id,
      issuedAt: new Date().toISOString(),
      mqtt: { url: this.brokerUrl, clientId: id, username, password, topicRoot: this.t.root },
      signingKey: { kid: this.key.kid, algorithm: 'Ed25519', publicKeyPem: pem },
      trustedKeys: [{ kid: this.key.kid, publicKeyPem: pem }],
      signingKeyUrl: 'http://127.0.0.1:9/api/system/signing-key',
      audio: { auth: 'basic', note: AUDIO_AUTH_NOTE },
    };
  }

  /** A started receiver with a fresh id (and its credentials), stopped by stopReceivers() or close(). */
  async receiver(opts: Partial<SimReceiverOptions> = {}): Promise<SimReceiver> {
    const id = opts.id ?? this.nextId();
    const rx = new SimReceiver({
      id,
      ...this.credentials(id),
      brokerUrl: this.brokerUrl,
      trustedKeys: this.trustedKeys,
      timeFactor: 0.01,
      topicRoot: this.t.root,
      downloadRetryBaseMs: 20,
      configGraceMs: 20,
      ...opts,
    });
    rx.on('protocolError', (message) => this.protocolErrors.push(`${rx.id}: ${message}`));
    this.#receivers.push(rx);
    await rx.start();
    return rx;
  }

  /** A receiver id not used before in this process. */
  nextId(): string {
    this.#rx += 1;
    return `rx-${process.pid}-${this.#rx}`;
  }

  nextSeq(): number {
    this.#seq += 1;
    return this.#seq;
  }

  play(file: AudioFile, over: Partial<PlayCommand> = {}): PlayCommand {
    return playCommand({ seq: this.nextSeq(), audio: file.audio, ...over });
  }

  stop(over: Partial<StopCommand> = {}): StopCommand {
    const now = Date.now();
    return {
      v: 1,
      type: 'stop',
      id: randomUUID(),
      seq: this.nextSeq(),
      issuedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + 60_000).toISOString(),
      ...over,
    };
  }

  /** The command topic of a receiver (or `to` itself, a topic). */
  commandTopic(to: SimReceiver | string): string {
    return typeof to === 'string' ? to : this.t.receiverCommand(to.id);
  }

  /** Publishes a command sealed for a receiver's own topic (or `topic`), QoS 1. */
  async send(to: SimReceiver | string, body: unknown, key: SigningKey = this.key): Promise<void> {
    await this.publish(to, seal(key, this.commandTopic(to), body));
  }

  /** Publishes raw bytes to a receiver's own command topic (or `topic`), QoS 1. */
  async publish(to: SimReceiver | string, payload: string | Buffer): Promise<void> {
    await this.controller.publishAsync(this.commandTopic(to), payload, { qos: 1 });
  }

  /** Publishes a sealed retained config for `rx`. */
  async configure(
    rx: SimReceiver | string,
    config: Omit<ReceiverConfig, 'v' | 'seq' | 'issuedAt'>,
  ): Promise<ReceiverConfig> {
    const full: ReceiverConfig = { v: 1, seq: this.nextSeq(), issuedAt: new Date().toISOString(), ...config };
    const id = typeof rx === 'string' ? rx : rx.id;
    this.credentials(id);
    this.#devices.get(id)!.zoneId = config.adopted ? (config.zones[0] ?? null) : null;
    const topic = this.t.receiverConfig(id);
    await this.controller.publishAsync(topic, seal(this.key, topic, full), {
      qos: 1,
      retain: true,
    });
    return full;
  }

  async stopReceivers(): Promise<void> {
    await Promise.all(this.#receivers.splice(0).map((rx) => rx.stop()));
  }

  async close(): Promise<void> {
    await this.stopReceivers();
    await Promise.all(this.#clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
    await this.audio.close();
    await this.#broker?.close();
  }
}

export interface Watch<T> {
  messages: T[];
  waitFor(predicate: (m: T) => boolean, timeoutMs?: number): Promise<T>;
}

/** Collects the JSON messages on `topic` through `client` (T is trusted, not checked). */
export async function watch<T>(client: MqttClient, topic: string): Promise<Watch<T>> {
  const messages: T[] = [];
  const listeners = new Set<(m: T) => void>();
  client.on('message', (t, payload) => {
    if (t !== topic || payload.length === 0) return;
    const m = JSON.parse(payload.toString('utf8')) as T;
    messages.push(m);
    for (const l of listeners) l(m);
  });
  await client.subscribeAsync(topic, { qos: 1 });
  return {
    messages,
    waitFor(predicate, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const seen = messages.find(predicate);
        if (seen !== undefined) return resolve(seen);
        const timer = setTimeout(() => {
          listeners.delete(listener);
          reject(new Error(`no matching message on ${topic} within ${timeoutMs} ms`));
        }, timeoutMs);
        const listener = (m: T) => {
          if (!predicate(m)) return;
          clearTimeout(timer);
          listeners.delete(listener);
          resolve(m);
        };
        listeners.add(listener);
      });
    },
  };
}
