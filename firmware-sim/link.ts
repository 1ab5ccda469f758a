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
import type { SimBreak } from './breaks.js';
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
  /** wait before trying again after the broker refused the credentials (default 60 s) */
  refusedRetryMs?: number | undefined;
  /** deliberate protocol violations (breaks.ts), for the conformance kit's tests */
  breaks?: readonly SimBreak[] | undefined;
  log: Logger;
}

/** CONNACK return codes by which a broker refuses who we are, rather than being unavailable. */
const REFUSALS: Record<number, string> = {
  2: 'identifier rejected',
  4: 'bad username or password',
  5: 'not authorized',
  133: 'client identifier not valid',
  134: 'bad username or password',
  135: 'not authorized',
};

/** What the link tells its receiver. */
export interface LinkHooks {
  /** The last will of the connection about to be made. */
  will(): { topic: string; payload: string };
  /** CONNACK received on connection `gen`. */
  up(client: MqttClient, gen: number): void;
  message(topic: string, payload: Buffer): void;
  /** The current connection was lost (not called for close()). */
  down(): void;
  /** The broker refused the connection for who it is (CONNACK code 2, 4 or 5). */
  refused(code: number, reason: string): void;
}

/**
 * Subscribes and answers what the broker granted per topic (128: refused). Unlike mqtt.js's
 * subscribeAsync, a refusal of some topics is an answer, not an error: a pending receiver is
 * refused its command topic, a moved one its old zone.
 */
export function subscribeGranted(
  client: MqttClient,
  topics: string[],
  qos: 0 | 1 | 2,
): Promise<{ topic: string; qos: number }[]> {
  return new Promise((resolve, reject) => {
    client.subscribe(topics, { qos }, (err, granted, packet) => {
      const codes = (packet as { granted?: number[] } | undefined)?.granted;
      if (codes && codes.length === topics.length) {
        resolve(topics.map((topic, i) => ({ topic, qos: codes[i] ?? 128 })));
      } else if (err) {
        reject(err);
      } else {
        resolve((granted ?? []).map((g) => ({ topic: g.topic, qos: g.qos })));
      }
    });
  });
}

/** One receiver's connection to the broker, across reconnections. */
export class MqttLink {
  #client: MqttClient | null = null;
  #generation = 0;
  #wanted = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #attempt = 0;
  /** the broker refused the credentials of the last connection attempt */
  #refused = false;
  #username: string | undefined;
  #password: string | undefined;

  constructor(
    private readonly opts: LinkOptions,
    private readonly hooks: LinkHooks,
  ) {
    this.#username = opts.username;
    this.#password = opts.password;
  }

  /**
   * New credentials (re-provisioning). Used from the next connection on; a link waiting after a
   * refusal tries again at once.
   */
  setCredentials(username: string | undefined, password: string | undefined): void {
    this.#username = username;
    this.#password = password;
    if (this.#wanted && this.#refused && !this.#client) {
      this.#clearRetry();
      this.#connect();
    }
  }

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
      username: this.#username,
      password: this.#password,
      will: {
        topic: will.topic,
        payload: Buffer.from(will.payload),
        qos: 1,
        retain: !this.opts.breaks?.includes('will-not-retained'),
      },
      // mqtt.js's own debug tracing costs a call per packet even when off; the simulator logs
      // what matters itself (DEBUG=mqttjs* then shows nothing for simulated receivers).
      log: noTrace,
    });
    this.#client = client;
    this.#refused = false;
    client.on('error', (err) => {
      const code = (err as Error & { code?: unknown }).code;
      const reason = typeof code === 'number' ? REFUSALS[code] : undefined;
      if (reason !== undefined && typeof code === 'number' && gen === this.#generation) {
        this.#refused = true;
        this.hooks.refused(code, reason);
        return;
      }
      this.opts.log.debug({ err: err.message }, 'sim: mqtt error');
    });
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
    // Refused credentials will not get better by hammering the broker: wait long, or for new ones.
    const delay =
      this.#refused && !this.opts.breaks?.includes('refused-fast-retry')
        ? (this.opts.refusedRetryMs ?? 60_000)
        : backoffDelay(this.#attempt++, this.opts.reconnectMinMs ?? 1000, this.opts.reconnectMaxMs ?? 60_000);
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
