/**
 * The controller's MQTT client: connects to the embedded broker or to MQTT_URL (mqtt://, mqtts://,
 * ws://, wss://), reconnects with exponential backoff and re-subscribes, and hands every message on
 * the receiver topics to one handler. Publishing refuses wildcard topics.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { MAX_PAYLOAD_BYTES } from '../contract/mqtt.js';

export interface PublishOptions {
  qos: 0 | 1;
  retain: boolean;
}

export interface Publisher {
  publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<void>;
}

export interface MqttEdge extends Publisher {
  start(): Promise<void>;
  stop(): Promise<void>;
  connected(): boolean;
}

export interface MqttEdgeOptions {
  url: string;
  username?: string;
  password?: string;
  clientId: string;
  /** topic filters to subscribe to, at QoS 1, on every (re)connection */
  subscriptions: string[];
  onMessage(topic: string, payload: Buffer): void;
  log: Logger;
}

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;

export function createMqttEdge(opts: MqttEdgeOptions): MqttEdge {
  const { log } = opts;
  let client: MqttClient | null = null;
  let backoff = MIN_BACKOFF_MS;

  return {
    async start() {
      const options: IClientOptions = {
        clientId: opts.clientId,
        protocolVersion: 4,
        // A persistent session: receiver events published while the controller restarts wait at
        // an external broker instead of being lost.
        clean: false,
        keepalive: 30,
        reconnectPeriod: MIN_BACKOFF_MS,
        connectTimeout: 10_000,
        resubscribe: true,
        // mqtt.js traces every packet through `debug`, a call per packet even when off: route it
        // to the logger only at trace level.
        log: opts.log.isLevelEnabled('trace')
          ? (...args: unknown[]) => opts.log.trace({ mqttjs: args })
          : () => {},
        ...(opts.username !== undefined ? { username: opts.username } : {}),
        ...(opts.password !== undefined ? { password: opts.password } : {}),
      };
      // The handler is in place before the connection: a persistent session delivers what was
      // queued for the controller right behind the CONNACK, before any await could attach one
      // (mqtt.js acknowledges those messages whether or not anyone listens).
      const c = mqtt.connect(opts.url, options);
      client = c;
      c.on('message', (topic, payload) => {
        if (payload.byteLength > MAX_PAYLOAD_BYTES) {
          log.warn({ topic, bytes: payload.byteLength }, 'mqtt: oversized payload ignored');
          return;
        }
        try {
          opts.onMessage(topic, payload);
        } catch (err) {
          // A bug in one handler must not take the controller down; the message is lost, loudly.
          log.error({ err, topic }, 'mqtt: message handler failed');
        }
      });
      c.on('connect', (ack) => {
        backoff = MIN_BACKOFF_MS;
        c.options.reconnectPeriod = backoff;
        log.info({ sessionPresent: ack.sessionPresent }, 'mqtt: connected');
        // mqtt.js re-subscribes only what this client subscribed before; with a lost broker session
        // (broker restart) subscribe again explicitly.
        if (!ack.sessionPresent) void subscribeAll(c);
      });
      c.on('reconnect', () => {
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        c.options.reconnectPeriod = backoff;
        log.warn({ nextRetryMs: backoff }, 'mqtt: reconnecting');
      });
      c.on('offline', () => log.warn('mqtt: connection lost'));
      c.on('error', (err) => log.error({ err: err.message }, 'mqtt: error'));
      await new Promise<void>((resolve, reject) => {
        const ok = () => {
          c.off('error', fail);
          resolve();
        };
        const fail = (err: Error) => {
          c.off('connect', ok);
          c.end(true);
          reject(err);
        };
        if (c.connected) return resolve();
        c.once('connect', ok);
        c.once('error', fail);
      });
      await subscribeAll(c);
      log.info({ url: redact(opts.url) }, 'mqtt: subscribed');
    },

    async stop() {
      const c = client;
      client = null;
      if (c) await c.endAsync();
    },

    connected: () => client?.connected ?? false,

    async publish(topic, payload, { qos, retain }) {
      if (topic.includes('+') || topic.includes('#'))
        throw new Error(`refusing to publish to wildcard topic ${topic}`);
      if (!client) throw new Error('MQTT client is not started');
      await client.publishAsync(topic, payload, { qos, retain });
    },
  };

  async function subscribeAll(c: MqttClient): Promise<void> {
    try {
      const map: Record<string, { qos: 1 }> = {};
      for (const topic of opts.subscriptions) map[topic] = { qos: 1 };
      await c.subscribeAsync(map);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'mqtt: subscribe failed');
    }
  }
}

/** `url` with its password, if any, replaced by `***` (for logs and reports). */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
