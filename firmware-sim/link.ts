/**
 * The receiver's MQTT link: one mqtt.js client per connection, reconnection with jittered
 * exponential backoff, and the two ways of going away (abrupt drop, graceful close).
 *
 * A fresh client per connection, rather than mqtt.js's own reconnection, because each
 * connection needs a new last will (it carries the new session number) and because the receiver
 * must control what happens first on a new link (subscribe, then announce itself).
 */
import { connect, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { backoffDelay, bounded } from './util.js';

/** Discards mqtt.js's debug tracing. */
const noTrace = (): void => {};

/** Where and as whom to connect, and the reconnection backoff bounds. */
export interface LinkOptions {
  brokerUrl: string;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  reconnectMinMs?: number | undefined;
  reconnectMaxMs?: number | undefined;
  log: Logger;
}

/** What the link tells its receiver. */
export interface LinkHooks {
  /** The last will of the connection about to be made. */
  will(): { topic: string; payload: string };
  /** CONNACK received on connection `gen`. */
  up(client: MqttClient, gen: number): void;
  message(topic: string, payload: Buffer): void;
  /** The current connection was lost (not called for close()). */
  down(): void;
}

/** One receiver's connection to the broker, across reconnections. */
export class MqttLink {
  #client: MqttClient | null = null;
  #generation = 0;
  #wanted = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #attempt = 0;

  constructor(
    private readonly opts: LinkOptions,
    private readonly hooks: LinkHooks,
  ) {}

  /** The client of the current connection (connected or connecting), or null. */
  get client(): MqttClient | null {
    return this.#client;
  }

  /** Number of the current connection; work started on an older one must not go on. */
  get generation(): number {
    return this.#generation;
  }

  /** Wants the link up: connects now unless a connection or a retry is already under way. */
  open(): void {
    this.#wanted = true;
    if (!this.#client && !this.#retryTimer) this.#connect();
  }

  /** The connection is fully set up: the next loss starts the backoff from its shortest delay. */
  settled(): void {
    this.#attempt = 0;
  }

  /**
   * Abrupt loss: destroys the TCP socket without DISCONNECT, so the broker publishes the last
   * will; no reconnection until open().
   */
  async drop(): Promise<void> {
    this.#wanted = false;
    this.#clearRetry();
    const client = this.#client;
    if (!client) return;
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.stream.destroy();
    await closed;
  }

  /**
   * Graceful close: publishes `lastWords` (retained, QoS 1) if connected, then DISCONNECT, which
   * tells the broker to discard the last will. Bounded in time.
   */
  async close(lastWords?: { topic: string; payload: string }): Promise<void> {
    this.#wanted = false;
    this.#clearRetry();
    const client = this.#client;
    // A new generation detaches the client's handlers: its close is no reason to reconnect.
    this.#generation += 1;
    this.#client = null;
    if (!client) return;
    if (!client.connected) {
      client.end(true);
      return;
    }
    if (lastWords) {
      await bounded(
        client.publishAsync(lastWords.topic, lastWords.payload, { qos: 1, retain: true }),
        2000,
      ).catch((err: unknown) => this.opts.log.warn({ err }, 'sim: last words not acknowledged'));
    }
    await bounded(client.endAsync(), 2000).catch(() => client.end(true));
  }

  #connect(): void {
    const gen = ++this.#generation;
    const will = this.hooks.will();
    const client = connect(this.opts.brokerUrl, {
      protocolVersion: 4,
      clientId: this.opts.clientId,
      clean: true,
      keepalive: 30,
      reconnectPeriod: 0,
      resubscribe: false,
      connectTimeout: 10_000,
      username: this.opts.username,
      password: this.opts.password,
      will: { topic: will.topic, payload: Buffer.from(will.payload), qos: 1, retain: true },
      // mqtt.js's own debug tracing costs a call per packet even when off; the simulator logs
      // what matters itself (DEBUG=mqttjs* then shows nothing for simulated receivers).
      log: noTrace,
    });
    this.#client = client;
    client.on('error', (err) => this.opts.log.debug({ err: err.message }, 'sim: mqtt error'));
    client.on('message', (topic, payload) => {
      if (gen === this.#generation) this.hooks.message(topic, payload);
    });
    client.on('connect', () => {
      if (gen === this.#generation) this.hooks.up(client, gen);
    });
    client.on('close', () => this.#onClose(client, gen));
  }

  #onClose(client: MqttClient, gen: number): void {
    if (gen !== this.#generation) return;
    this.#client = null;
    // Fails pending publishes and subscriptions at once, so nothing waits on a dead link.
    client.end(true);
    this.hooks.down();
    if (!this.#wanted) return;
    const delay = backoffDelay(
      this.#attempt++,
      this.opts.reconnectMinMs ?? 1000,
      this.opts.reconnectMaxMs ?? 60_000,
    );
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#wanted && !this.#client) this.#connect();
    }, delay);
  }

  #clearRetry(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }
}
