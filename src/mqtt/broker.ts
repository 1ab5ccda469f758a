/**
 * The embedded MQTT broker (aedes), used when `MQTT_URL` is unset so that `npm start` works on a
 * fresh machine. Production points `MQTT_URL` at Mosquitto or EMQX instead.
 *
 * Who may connect:
 * - the controller, with its own username and a secret from the data directory;
 * - a receiver, with its per-device credentials: username = client id = receiver id, and the
 *   password issued when it was registered or adopted (checked against the stored hash off the
 *   event loop);
 * - with `discovery` on, a device that presents no credentials and whose id is not adopted: it gets
 *   pending rights only (its own config; its own status and events), so it shows up as pending for
 *   an officer to adopt. Otherwise a connection without valid credentials is refused.
 *
 * What it may do once connected is src/mqtt/acl.ts, from the receiver's current adoption and zone.
 * When those change, `disconnect(receiverId)` drops the connection: the receiver reconnects with
 * exactly its new rights (an old zone subscription does not survive a move), or cannot (revoked).
 *
 * The broker runs inside the controller, so nobody may starve it (docs/protocol.md §2.1): a packet
 * larger than `limits.maxPacketBytes` is cut while it arrives (./packet-guard.ts), before any
 * login; a connection must send its CONNECT within `limits.connectTimeoutMs`; one address may hold
 * only so many connections and open only so many a second (./connection-limits.ts); and nothing
 * larger than a status (MAX_PAYLOAD_BYTES) is retained.
 */

import { timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { Logger } from 'pino';
import { deviceIdSchema, MAX_PAYLOAD_BYTES, type Topics } from '../contract/mqtt.js';
import { type MqttPrincipal, mayPublish, maySubscribe } from './acl.js';
import { createConnectionLimits } from './connection-limits.js';
import { guardPacketSize } from './packet-guard.js';

export const CONTROLLER_USERNAME = 'loalang-controller';

/** How the broker learns who a receiver is and what it may do (the fleet, or a test's table). */
export interface DeviceDirectory {
  /** The receiver id whose live credentials these are, or null. Must not block the event loop. */
  verify(username: string, password: string): Promise<string | null>;
  /** Adoption and zone of a known receiver; null for an unknown id. */
  rights(receiverId: string): { adopted: boolean; zoneId: string | null } | null;
  /** Whether the receiver holds live credentials. */
  hasCredentials(receiverId: string): boolean;
}

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  topics: Topics;
  /** password the controller (and only it) logs in with */
  controllerSecret: string;
  devices: DeviceDirectory;
  /** let devices without credentials connect with pending rights (MQTT_DISCOVERY) */
  discovery?: boolean;
  /** resource limits; each missing one takes its default (BROKER_LIMIT_DEFAULTS) */
  limits?: Partial<BrokerLimits>;
  /** a receiver's connection ended and no newer one of it replaced it */
  onDeviceGone?: (receiverId: string) => void;
  /**
   * A receiver's publish on its own status or event topic (its last will included), handed over
   * before the broker acknowledges it: aedes sends a QoS 1 PUBACK before it delivers to
   * subscribers, so a report delivered the usual way could be acknowledged to the receiver (which
   * then forgets it) and lost in a controller crash before it is written. The broker acknowledges
   * once `acknowledge` is called — after the report is written.
   */
  onReport?: (topic: string, payload: Buffer, acknowledge: () => void) => void;
  log: Logger;
}

/** What one client may cost the broker (MQTT_MAX_PACKET_BYTES and the settings after it). */
export interface BrokerLimits {
  /** largest MQTT packet accepted from a client, fixed header included */
  maxPacketBytes: number;
  /** time from TCP accept to a complete CONNECT packet */
  connectTimeoutMs: number;
  /** open connections from one address (IPv6: one /64); 0: no limit */
  maxConnectionsPerAddress: number;
  /** new connections from one address (IPv6: one /64) per second; 0: no limit */
  connectRatePerSecond: number;
  /** addresses the per-address limits do not apply to */
  exemptAddresses: readonly string[];
}

/**
 * The defaults, also those of src/config.ts. A signed command, config or status is at most
 * MAX_PAYLOAD_BYTES (16 KiB) of payload plus a topic of about a hundred bytes, so 32 KiB leaves
 * twice the room; the loopback addresses are exempt so that a local TLS proxy, the simulator and
 * the benchmark are not counted as one receiver.
 */
export const BROKER_LIMIT_DEFAULTS: BrokerLimits = {
  maxPacketBytes: 32 * 1024,
  connectTimeoutMs: 10_000,
  maxConnectionsPerAddress: 500,
  connectRatePerSecond: 100,
  exemptAddresses: ['127.0.0.1', '::1'],
};

export interface EmbeddedBroker {
  /** the bound TCP port (useful with port 0) */
  port: number;
  url: string;
  aedes: Aedes;
  /**
   * The receiver's rights changed: drops its connection (if any) and refuses a login of it that
   * is under way, so that it reconnects with its new rights. Returns whether a client was dropped.
   */
  disconnect(receiverId: string): boolean;
  /** open connections counted against `address`'s limit (0 for an exempt address) */
  connectionsFrom(address: string): number;
  /** Whether a receiver (not the controller) holds a live connection now. */
  isConnected(receiverId: string): boolean;
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

/** CONNACK return codes of MQTT 3.1.1 that a refusal uses. */
const IDENTIFIER_REJECTED = 2;
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

/** How a connected client logged in. */
type Kind = 'controller' | 'device' | 'discovered';

/** Starts aedes on host:port. Rejects with BrokerPortInUseError when the port is taken. */
export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const { topics: t, log, devices } = opts;
  const limits: BrokerLimits = { ...BROKER_LIMIT_DEFAULTS, ...opts.limits };
  const aedes = await Aedes.createBroker({
    // aedes clears this timer when the CONNECT packet has arrived, before the password check.
    connectTimeout: limits.connectTimeoutMs,
    maxClientsIdLength: 128,
    drainTimeout: 30_000,
    concurrency: 1000,
    heartbeatInterval: 60_000,
  });
  /** per connection, not per client id: a takeover must not inherit or erase another's login */
  const kinds = new WeakMap<Client, Kind>();
  /** the access generation of the receiver when the connection's login began */
  const loginGeneration = new WeakMap<Client, number>();
  /** bumped at every change of a receiver's rights */
  const generations = new Map<string, number>();
  const generation = (id: string) => generations.get(id) ?? 0;
  /** connected clients by id (aedes keeps its own table, but not in its typings) */
  const connected = new Map<string, Client>();

  const refuse = (
    client: Client,
    done: (err: AuthenticateError | null, ok: boolean | null) => void,
    returnCode: number,
    reason: string,
    username?: string,
  ) => {
    log.warn(
      {
        clientId: client.id,
        ...(username !== undefined ? { username: username.slice(0, 128) } : {}),
        reason,
      },
      'mqtt: connection refused',
    );
    done(Object.assign(new Error(reason), { returnCode }) as AuthenticateError, false);
  };

  aedes.authenticate = (client, username, password, done) => {
    if (username === CONTROLLER_USERNAME) {
      const ok = password !== undefined && sameSecret(password.toString('utf8'), opts.controllerSecret);
      if (!ok) return refuse(client, done, BAD_USERNAME_OR_PASSWORD, 'controller login with a wrong secret');
      kinds.set(client, 'controller');
      done(null, true);
      return;
    }
    if (!deviceIdSchema.safeParse(client.id).success) {
      return refuse(client, done, IDENTIFIER_REJECTED, 'client id is not a valid receiver id', username);
    }
    loginGeneration.set(client, generation(client.id));
    if (username === undefined || username === '') {
      if (!opts.discovery) return refuse(client, done, NOT_AUTHORIZED, 'no credentials');
      // Discovery: an unknown or pending id may announce itself; an adopted one must log in.
      if (devices.rights(client.id)?.adopted || devices.hasCredentials(client.id)) {
        return refuse(client, done, NOT_AUTHORIZED, 'no credentials for a receiver that has them');
      }
      kinds.set(client, 'discovered');
      done(null, true);
      return;
    }
    if (username !== client.id) {
      return refuse(client, done, IDENTIFIER_REJECTED, 'client id differs from the username', username);
    }
    if (!password || password.length === 0) {
      return refuse(client, done, BAD_USERNAME_OR_PASSWORD, 'no password', username);
    }
    const started = generation(client.id);
    devices.verify(username, password.toString('utf8')).then(
      (receiverId) => {
        if (receiverId !== client.id) {
          return refuse(client, done, BAD_USERNAME_OR_PASSWORD, 'bad username or password', username);
        }
        // Re-issued or revoked while the hash was being checked: let it log in again.
        if (generation(client.id) !== started) {
          return refuse(client, done, SERVER_UNAVAILABLE, 'rights changed during login; retry', username);
        }
        kinds.set(client, 'device');
        done(null, true);
      },
      (err: unknown) => {
        log.error({ err, clientId: client.id }, 'mqtt: credential check failed');
        refuse(client, done, SERVER_UNAVAILABLE, 'credential check failed', username);
      },
    );
  };

  /** The ACL principal of a connected client, from its login and the receiver's rights now. */
  const principal = (client: Client): MqttPrincipal | null => {
    const kind = kinds.get(client);
    if (kind === 'controller') return { kind: 'controller' };
    if (kind === 'device') {
      const rights = devices.rights(client.id);
      return {
        kind: 'receiver',
        receiverId: client.id,
        adopted: rights?.adopted ?? false,
        zoneId: rights?.zoneId ?? null,
      };
    }
    if (kind === 'discovered')
      return { kind: 'receiver', receiverId: client.id, adopted: false, zoneId: null };
    return null;
  };

  aedes.authorizePublish = (client, packet, done) => {
    // The controller's in-process edge publishes without a client.
    if (!client) return done(null);
    const kind = kinds.get(client);
    // A retained message stays in memory until replaced: nothing larger than a status is kept,
    // for anyone (a receiver's retained will passes here too, and is then dropped).
    if (packet.retain && packet.payload.length > MAX_PAYLOAD_BYTES) {
      log.warn(
        { clientId: client.id, topic: packet.topic, bytes: packet.payload.length },
        'mqtt: retained message larger than a status refused',
      );
      return done(new Error(`retained payload over ${MAX_PAYLOAD_BYTES} bytes`));
    }
    if (kind === 'controller' && !packet.topic.startsWith('$SYS/')) return done(null);
    // A receiver retains only its status (protocol §5, §9: events are never retained), so it
    // cannot park more in the broker's memory than one status.
    if (packet.retain && packet.topic !== t.receiverStatus(client.id)) {
      log.warn(
        { clientId: client.id, topic: packet.topic },
        'mqtt: retained publish outside the status refused',
      );
      return done(new Error('only the status is retained'));
    }
    // Publishing rights do not depend on adoption: no lookup per message.
    const p: MqttPrincipal | null = kind
      ? { kind: 'receiver', receiverId: client.id, adopted: false, zoneId: null }
      : null;
    if (p && mayPublish(t, p, packet.topic)) {
      if (!opts.onReport) return done(null);
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      try {
        opts.onReport(packet.topic, payload, () => done(null));
      } catch (err) {
        log.error({ err, clientId: client.id, topic: packet.topic }, 'mqtt: report handler failed');
        done(null);
      }
      return;
    }
    log.warn({ clientId: client.id, topic: packet.topic }, 'mqtt: publish outside its topics refused');
    done(new Error('not allowed'));
  };

  aedes.authorizeSubscribe = (client, sub, done) => {
    if (!client) return done(null, sub);
    const p = principal(client);
    const allowed = p !== null && maySubscribe(t, p, sub.topic);
    if (!allowed) log.warn({ clientId: client.id, topic: sub.topic }, 'mqtt: subscription refused');
    // A null subscription is refused with a SUBACK failure code, the connection stays up.
    done(null, allowed ? sub : null);
  };

  aedes.on('client', (client) => {
    connected.set(client.id, client);
    // Its rights changed between the password check and now: it must log in again.
    const began = loginGeneration.get(client);
    if (began !== undefined && began !== generation(client.id)) client.close();
  });
  aedes.on('clientDisconnect', (client) => {
    if (connected.get(client.id) !== client) return;
    connected.delete(client.id);
    const kind = kinds.get(client);
    if (kind === 'device' || kind === 'discovered') opts.onDeviceGone?.(client.id);
  });

  const admission = createConnectionLimits({
    maxPerAddress: limits.maxConnectionsPerAddress,
    ratePerSecond: limits.connectRatePerSecond,
    exempt: limits.exemptAddresses,
  });
  /** addresses refused in the current second: one log line each, not one per attempt of a flood */
  let refusedLogged = new Set<string>();
  const refusedLogReset = setInterval(() => {
    refusedLogged = new Set();
  }, 1000).unref();

  /** every admitted socket, so that close() can end those aedes does not know yet (no CONNECT) */
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    const address = socket.remoteAddress;
    const admitted = admission.admit(address);
    if (!admitted.ok) {
      if (address !== undefined && !refusedLogged.has(address)) {
        refusedLogged.add(address);
        log.warn({ address, reason: admitted.reason }, 'mqtt: connection refused');
      }
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      admission.release(admitted.key);
    });
    aedes.handle(socket);
    guardPacketSize(socket, limits.maxPacketBytes, (err) => {
      log.warn({ address, err: err.message }, 'mqtt: connection cut');
    });
  });
  server.listen(opts.port, opts.host);
  try {
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([err]) => {
        throw err;
      }),
    ]);
  } catch (err) {
    clearInterval(refusedLogReset);
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
    disconnect(receiverId) {
      generations.set(receiverId, generation(receiverId) + 1);
      const client = connected.get(receiverId);
      if (!client || kinds.get(client) === 'controller') return false;
      log.info({ clientId: receiverId }, 'mqtt: rights changed, receiver disconnected');
      client.close();
      return true;
    },
    connectionsFrom: (address) => admission.openFrom(address),
    isConnected(receiverId) {
      const client = connected.get(receiverId);
      if (!client) return false;
      const kind = kinds.get(client);
      return (kind === 'device' || kind === 'discovered') && client.connected;
    },
    async close() {
      clearInterval(refusedLogReset);
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
