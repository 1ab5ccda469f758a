/**
 * The controller's edge on its own embedded broker: it subscribes and publishes through aedes's
 * in-process API instead of a TCP connection to itself. Same topics, same QoS and retain, but no
 * second encoding, parsing and acknowledging of every receiver report inside one process.
 */
import type { Aedes, AedesPublishPacket } from 'aedes';
import type { Logger } from 'pino';
import { MAX_PAYLOAD_BYTES } from '../contract/mqtt.js';
import type { MqttEdge } from './client.js';

export function createInProcessEdge(opts: {
  aedes: Aedes;
  /** topic filters to listen to */
  subscriptions: string[];
  onMessage(topic: string, payload: Buffer): void;
  log: Logger;
}): MqttEdge {
  const { aedes, log } = opts;
  const deliver = (packet: AedesPublishPacket, done: () => void) => {
    try {
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      if (payload.byteLength > MAX_PAYLOAD_BYTES) {
        log.warn({ topic: packet.topic, bytes: payload.byteLength }, 'mqtt: oversized payload ignored');
      } else {
        opts.onMessage(packet.topic, payload);
      }
    } catch (err) {
      // A bug in one handler must not take the broker down; the message is lost, loudly.
      log.error({ err, topic: packet.topic }, 'mqtt: message handler failed');
    } finally {
      done();
    }
  };
  let started = false;

  return {
    async start() {
      for (const topic of opts.subscriptions) {
        await new Promise<void>((resolve) => aedes.subscribe(topic, deliver, resolve));
      }
      started = true;
      log.info('mqtt: listening on the embedded broker in process');
    },
    async stop() {
      if (!started) return;
      started = false;
      for (const topic of opts.subscriptions) {
        await new Promise<void>((resolve) => aedes.unsubscribe(topic, deliver, resolve));
      }
    },
    connected: () => started && !aedes.closed,
    publish(topic, payload, { qos, retain }) {
      if (topic.includes('+') || topic.includes('#')) {
        return Promise.reject(new Error(`refusing to publish to wildcard topic ${topic}`));
      }
      return new Promise<void>((resolve, reject) => {
        aedes.publish(
          {
            cmd: 'publish',
            topic,
            payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
            qos,
            retain,
            dup: false,
          },
          (err) => (err ? reject(err) : resolve()),
        );
      });
    },
  };
}
