/**
 * The embedded MQTT broker (aedes), used when `MQTT_URL` is unset so that `npm start` works on a
 * fresh machine. Production points `MQTT_URL` at Mosquitto or EMQX instead.
 *
 * Access rules, the same ones `docs/protocol.md` gives for Mosquitto's ACL file:
 * - the controller logs in with its own username and a secret from the data directory, and may do anything;
 * - a receiver connects with client id = receiver id, may publish only its own status and events,
 *   and subscribe only to its own command and config topics, zone command topics and the all topic.
 */

import { timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import type { Logger } from 'pino';
import { deviceIdSchema, type Topics } from '../contract/mqtt.js';

export const CONTROLLER_USERNAME = 'loalang-controller';

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  topics: Topics;
  /** password the controller (and only it) logs in with */
  controllerSecret: string;
  log: Logger;
}

export interface EmbeddedBroker {
  /** the bound TCP port (useful with port 0) */
  port: number;
  url: string;
  aedes: Aedes;
  close(): Promise<void>;
}

export class BrokerPortInUseError extends Error {
  override name = 'BrokerPortInUseError';
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Starts aedes on host:port. Rejects with BrokerPortInUseError when the port is taken. */
export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const { topics: t, log } = opts;
  const aedes = await Aedes.createBroker({
    maxClientsIdLength: 128,
    drainTimeout: 30_000,
    concurrency: 1000,
    heartbeatInterval: 60_000,
  });
  const controllers = new Set<string>();

  aedes.authenticate = (client, username, password, done) => {
    if (username === CONTROLLER_USERNAME) {
      const ok = password !== undefined && sameSecret(password.toString('utf8'), opts.controllerSecret);
      if (ok) controllers.add(client.id);
      else log.warn({ clientId: client.id }, 'mqtt: controller login with a wrong secret refused');
      done(ok ? null : Object.assign(new Error('bad controller credentials'), { returnCode: 4 }), ok);
      return;
    }
    // Receivers: the client id is the receiver id. Per-device credentials come with device provisioning.
    if (!deviceIdSchema.safeParse(client.id).success) {
      done(Object.assign(new Error('client id is not a valid receiver id'), { returnCode: 2 }), false);
      return;
    }
    done(null, true);
  };

  aedes.authorizePublish = (client, packet, done) => {
    if (!client) return done(null);
    if (packet.topic.startsWith('$SYS/')) return done(new Error('$SYS is read-only'));
    if (controllers.has(client.id)) return done(null);
    const own = [t.receiverStatus(client.id), t.receiverEvent(client.id)];
    if (own.includes(packet.topic)) return done(null);
    log.warn(
      { clientId: client.id, topic: packet.topic },
      'mqtt: receiver publish outside its topics refused',
    );
    done(new Error('not allowed'));
  };

  const zonePrefix = `${t.root}/zone/`;
  aedes.authorizeSubscribe = (client, sub, done) => {
    if (!client) return done(null, sub);
    if (controllers.has(client.id)) return done(null, sub);
    const topic = sub.topic;
    const allowed =
      topic === t.receiverCommand(client.id) ||
      topic === t.receiverConfig(client.id) ||
      topic === t.allCommand() ||
      (topic.startsWith(zonePrefix) &&
        topic.endsWith('/cmd') &&
        deviceIdSchema.safeParse(topic.slice(zonePrefix.length, -'/cmd'.length)).success);
    if (!allowed) log.warn({ clientId: client.id, topic }, 'mqtt: receiver subscription refused');
    // A null subscription is refused with a SUBACK failure code, the connection stays up.
    done(null, allowed ? sub : null);
  };

  aedes.on('clientDisconnect', (client) => controllers.delete(client.id));

  const server: Server = createServer(aedes.handle);
  server.listen(opts.port, opts.host);
  try {
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([err]) => {
        throw err;
      }),
    ]);
  } catch (err) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new BrokerPortInUseError(
        `MQTT port ${opts.host}:${opts.port} is already in use (another broker such as Mosquitto?). ` +
          'Either point loalang at that broker with MQTT_URL=mqtt://127.0.0.1:' +
          opts.port +
          ' (and MQTT_USERNAME/MQTT_PASSWORD), or choose another port for the embedded broker with MQTT_PORT.',
      );
    }
    throw err;
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const host = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  log.info({ port }, 'embedded MQTT broker listening');

  return {
    port,
    url: `mqtt://${host}:${port}`,
    aedes,
    async close() {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
