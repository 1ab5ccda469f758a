/**
 * The Controller builds every part of loalang from the configuration and owns their start and
 * stop, in order: database, secrets, MQTT (embedded broker or external), fleet, bulletins, HTTP.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp } from './app.js';
import { type AuthService, createAuthService } from './auth/service.js';
import type { Config } from './config.js';
import { topics as makeTopics, parseReceiverTopic } from './contract/mqtt.js';
import { type AudioLibrary, createAudioLibrary } from './domain/audio/library.js';
import { type BulletinService, createBulletinService } from './domain/bulletins/service.js';
import { createDispatcher } from './domain/dispatch/dispatcher.js';
import { createFleet, type Fleet } from './domain/fleet/fleet.js';
import type { Services } from './http/types.js';
import { type EmbeddedBroker, startEmbeddedBroker } from './mqtt/broker.js';
import { createMqttEdge, type MqttEdge } from './mqtt/client.js';
import { createInProcessEdge } from './mqtt/in-process.js';
import { loadOrCreateSecrets } from './secrets.js';
import { type Db, openDatabase } from './storage/db.js';
import { createSequence } from './storage/sequence.js';

export interface Controller {
  app: FastifyInstance;
  /** base URL of the HTTP server */
  httpUrl: string;
  /** URL of the broker in use (the embedded one, or MQTT_URL) */
  mqttUrl: string;
  /** the embedded broker, when MQTT_URL is unset */
  broker: EmbeddedBroker | null;
  db: Db;
  auth: AuthService;
  audio: AudioLibrary;
  fleet: Fleet;
  bulletins: BulletinService;
  /** set when the first admin was created with a generated password (printed once) */
  generatedAdminPassword: string | null;
  stop(): Promise<void>;
}

export async function startController(config: Config, log: Logger): Promise<Controller> {
  const dataDir = resolve(config.LOALANG_DATA_DIR);
  mkdirSync(dataDir, { recursive: true });
  const db = openDatabase(join(dataDir, 'loalang.db'));
  const secrets = loadOrCreateSecrets(dataDir);
  const t = makeTopics(config.MQTT_TOPIC_ROOT);
  const sequence = createSequence(db);
  const cleanups: (() => Promise<void> | void)[] = [
    () => {
      db.close();
    },
  ];
  const stopAll = async () => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch (err) {
        log.error({ err }, 'error while stopping');
      }
    }
  };

  try {
    let broker: EmbeddedBroker | null = null;
    let mqttUrl = config.MQTT_URL;
    const credentials: { username?: string; password?: string } = {
      ...(config.MQTT_USERNAME ? { username: config.MQTT_USERNAME } : {}),
      ...(config.MQTT_PASSWORD ? { password: config.MQTT_PASSWORD } : {}),
    };
    if (!mqttUrl) {
      broker = await startEmbeddedBroker({
        host: config.MQTT_HOST,
        port: config.MQTT_PORT,
        topics: t,
        controllerSecret: secrets.brokerSecret,
        log: log.child({ part: 'broker' }),
      });
      const b = broker;
      cleanups.push(() => b.close());
      mqttUrl = broker.url;
    }

    let httpUrl = '';
    const publicUrl = () => (config.PUBLIC_URL ?? httpUrl).replace(/\/+$/, '');

    // The MQTT edge is created first (handlers bind late) so that fleet and bulletins can publish.
    const handlers = {
      status: (_id: string, _p: Buffer) => {},
      event: (_id: string, _p: Buffer) => {},
    };
    const edgeOptions = {
      subscriptions: [t.statusWildcard(), t.eventWildcard()],
      log: log.child({ part: 'mqtt' }),
      onMessage(topic: string, payload: Buffer) {
        const parsed = parseReceiverTopic(t.root, topic);
        if (!parsed) return;
        if (parsed.leaf === 'status') handlers.status(parsed.receiverId, payload);
        else if (parsed.leaf === 'event') handlers.event(parsed.receiverId, payload);
      },
    };
    // On its own embedded broker the controller needs no TCP connection to itself.
    const edge: MqttEdge = broker
      ? createInProcessEdge({ aedes: broker.aedes, ...edgeOptions })
      : createMqttEdge({ url: mqttUrl, clientId: config.MQTT_CLIENT_ID, ...credentials, ...edgeOptions });

    const auth = createAuthService({ db, log: log.child({ part: 'auth' }), tokenTtlS: config.TOKEN_TTL_S });
    const audio = createAudioLibrary({
      db,
      dataDir,
      urlSecret: secrets.urlSecret,
      publicUrl,
      log: log.child({ part: 'audio' }),
    });
    const fleet = createFleet({
      db,
      log: log.child({ part: 'fleet' }),
      topics: t,
      publisher: edge,
      signingKey: secrets.signingKey,
      sequence,
    });
    const dispatcher = createDispatcher({
      publisher: edge,
      topics: t,
      signingKey: secrets.signingKey,
      sequence,
    });
    const bulletins = createBulletinService({
      db,
      log: log.child({ part: 'bulletins' }),
      fleet,
      audio,
      dispatcher,
      sequence,
      defaultTtlS: config.BULLETIN_TTL_S,
    });
    handlers.status = (id, p) => fleet.handleStatus(id, p);
    handlers.event = (id, p) => bulletins.handleEvent(id, p);

    await edge.start();
    cleanups.push(() => edge.stop());
    cleanups.push(() => fleet.stop());
    await fleet.publishAllConfigs();
    bulletins.start();
    cleanups.push(() => bulletins.close());

    const admin = await auth.ensureAdmin(config.ADMIN_PASSWORD);

    const services: Services = {
      config,
      db,
      auth,
      audio,
      fleet,
      bulletins,
      signingKey: secrets.signingKey,
      mqttConnected: () => edge.connected(),
    };
    const app = await buildApp(services, log);
    cleanups.push(() => app.close());
    await app.listen({ port: config.PORT, host: config.HOST });
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.PORT;
    const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST;
    httpUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

    return {
      app,
      httpUrl,
      mqttUrl,
      broker,
      db,
      auth,
      audio,
      fleet,
      bulletins,
      generatedAdminPassword: admin.generatedPassword ?? null,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
