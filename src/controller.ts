/**
 * The Controller builds every part of loalang from the configuration and owns their start and
 * stop, in order: database, secrets, MQTT (embedded broker or external), fleet, bulletins, HTTP.
 */
import { createHmac } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp } from './app.js';
import { type AuthService, createAuthService } from './auth/service.js';
import type { Config } from './config.js';
import { topics as makeTopics, parseReceiverTopic, type Topics } from './contract/mqtt.js';
import type { SigningKey } from './contract/signing.js';
import { createAnnouncementService } from './domain/announcements/service.js';
import { createApprovalService } from './domain/approvals/service.js';
import { type AudioLibrary, createAudioLibrary } from './domain/audio/library.js';
import { createRenditionService, type RenditionService } from './domain/audio/renditions.js';
import { createTranscoder } from './domain/audio/transcode.js';
import { type BulletinService, createBulletinService } from './domain/bulletins/service.js';
import { createCapFeed, feedAccount } from './domain/cap/feed.js';
import { defaultCapMap, loadCapMap } from './domain/cap/mapping.js';
import { createCapParser } from './domain/cap/parse.js';
import { type CapService, createCapService } from './domain/cap/service.js';
import { createDispatcher } from './domain/dispatch/dispatcher.js';
import { createDeviceCredentials } from './domain/fleet/credentials.js';
import { createFleet, type Fleet } from './domain/fleet/fleet.js';
import { createFleetRepo } from './domain/fleet/repo.js';
import { createScheduleService, type ScheduleService } from './domain/programs/service.js';
import { createSiteLoader, type SiteLoader } from './domain/programs/site-apply.js';
import { createTimeResponder, type TimeResponder } from './domain/timesync/responder.js';
import { createTtsFromConfig } from './domain/tts/index.js';
import { createAudit } from './http/audit.js';
import type { Services } from './http/types.js';
import { type EmbeddedBroker, startEmbeddedBroker } from './mqtt/broker.js';
import { createMqttEdge, type MqttEdge, type Publisher } from './mqtt/client.js';
import { createInProcessEdge } from './mqtt/in-process.js';
import { startMosquittoFilesFromConfig } from './mqtt/mosquitto-files.js';
import { loadOrCreateSecrets } from './secrets.js';
import { createKeyRotation, createSigningKeys } from './signing-keys.js';
import { type Db, openDatabase } from './storage/db.js';
import { createSequence } from './storage/sequence.js';
import { type Clock, systemClock } from './time/clock.js';

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
  /** the smaller copies of speech audio sent to receivers that list their codec (§7.3) */
  renditions: RenditionService;
  fleet: Fleet;
  bulletins: BulletinService;
  /** CAP 1.2 alerts in */
  cap: CapService;
  schedules: ScheduleService;
  /** the schedules folder (SCHEDULES_DIR): reload() on the API and SIGHUP */
  site: SiteLoader;
  /** answers receivers' time requests (docs/protocol.md §12) */
  timeSync: TimeResponder;
  /**
   * the one-time first-run set-up code, when the controller started with no account and no
   * ADMIN_PASSWORD (printed; entered in the app's "First set-up" to choose the admin's password)
   */
  setupCode: string | null;
  /**
   * The controller's own end of the MQTT contract, for the conformance kit (src/conformance):
   * every message a receiver publishes (status, event, airing, time) as the controller receives
   * it, publishing as the controller, its command key and its command sequence — so that the kit
   * can send what the controller never would (an expired or replayed command, a forged one) and
   * see exactly what a receiver answered.
   */
  wire: ControllerWire;
  stop(): Promise<void>;
}

export interface ControllerWire {
  topics: Topics;
  /** Calls `listener` with each receiver message (topic, payload); returns the unsubscribe. */
  onReceiverMessage(listener: (topic: string, payload: Buffer) => void): () => void;
  publish: Publisher['publish'];
  /** the key that signs commands now */
  commandKey(): SigningKey;
  /** the next value of the controller-wide command sequence (`seq`) */
  nextSeq(): number;
}

export interface ControllerOptions {
  /** the time scale of schedules (default the system clock; tests run a scaled one) */
  clock?: Clock;
}

export async function startController(
  config: Config,
  log: Logger,
  opts: ControllerOptions = {},
): Promise<Controller> {
  const clock = opts.clock ?? systemClock;
  const dataDir = resolve(config.LOALANG_DATA_DIR);
  // The data directory holds the database, the audio and the secrets: its owner only.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = openDatabase(join(dataDir, 'loalang.db'));
  const secrets = loadOrCreateSecrets(dataDir);
  const signingKeys = createSigningKeys(secrets.signingKeys, secrets.saveSigningKeys);
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
    // Per-device MQTT credentials (hashes only); the embedded broker checks them before the fleet exists.
    const deviceCredentials = createDeviceCredentials(db);
    // bound to the fleet and the bulletins once they exist (the broker starts first)
    let deviceGone: (id: string) => void = () => {};
    let report: (topic: string, payload: Buffer) => void = () => {};
    if (!mqttUrl) {
      const fleetRepo = createFleetRepo(db);
      broker = await startEmbeddedBroker({
        host: config.MQTT_HOST,
        port: config.MQTT_PORT,
        topics: t,
        controllerSecret: secrets.brokerSecret,
        devices: {
          verify: (username, password) => deviceCredentials.verify(username, password),
          rights(id) {
            const row = fleetRepo.rights(id);
            return row ? { adopted: row.adoption === 'adopted', zoneId: row.zone_id } : null;
          },
          hasCredentials: (id) => deviceCredentials.has(id),
        },
        discovery: config.MQTT_DISCOVERY,
        limits: {
          maxPacketBytes: config.MQTT_MAX_PACKET_BYTES,
          connectTimeoutMs: config.MQTT_CONNECT_TIMEOUT_MS,
          maxConnectionsPerAddress: config.MQTT_MAX_CONNECTIONS_PER_IP,
          connectRatePerSecond: config.MQTT_CONNECT_RATE_PER_S,
          exemptAddresses: config.MQTT_LIMIT_EXEMPT,
        },
        onDeviceGone: (id) => deviceGone(id),
        // Reports are handled before the broker acknowledges them, and acknowledged after this
        // turn's batched writes (flushed by setImmediate callbacks queued while handling them).
        onReport: (topic, payload, acknowledge) => {
          try {
            report(topic, payload);
          } finally {
            setImmediate(acknowledge);
          }
        },
        log: log.child({ part: 'broker' }),
      });
      const b = broker;
      cleanups.push(() => b.close());
      mqttUrl = broker.url;
    }

    // Known before anything is sent when the port is fixed (production); with port 0 (tests)
    // only once the server listens, and sends wait for it (the audio URL needs it).
    const fixedHost = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST;
    let httpUrl =
      config.PORT === 0
        ? ''
        : `http://${fixedHost.includes(':') ? `[${fixedHost}]` : fixedHost}:${config.PORT}`;
    const publicUrl = () => (config.PUBLIC_URL ?? httpUrl).replace(/\/+$/, '');

    // The MQTT edge is created first (handlers bind late) so that fleet and bulletins can publish.
    const wireListeners = new Set<(topic: string, payload: Buffer) => void>();
    const handlers = {
      status: (_id: string, _p: Buffer) => {},
      event: (_id: string, _p: Buffer) => {},
      airing: (_id: string, _p: Buffer) => {},
      time: (_id: string, _p: Buffer) => {},
    };
    const edgeOptions = {
      subscriptions: [t.statusWildcard(), t.eventWildcard(), t.airingWildcard(), t.timeWildcard()],
      log: log.child({ part: 'mqtt' }),
      onMessage(topic: string, payload: Buffer) {
        for (const l of wireListeners) l(topic, payload);
        const parsed = parseReceiverTopic(t.root, topic);
        if (!parsed) return;
        if (parsed.leaf === 'status') handlers.status(parsed.receiverId, payload);
        else if (parsed.leaf === 'event') handlers.event(parsed.receiverId, payload);
        else if (parsed.leaf === 'airing') handlers.airing(parsed.receiverId, payload);
        else if (parsed.leaf === 'time') handlers.time(parsed.receiverId, payload);
      },
    };
    // On its own embedded broker the controller needs no TCP connection to itself.
    // On the embedded broker receivers' reports come through onReport (before the broker
    // acknowledges them), so the in-process edge listens to nothing itself.
    if (broker) report = (topic, payload) => edgeOptions.onMessage(topic, payload);
    const edge: MqttEdge = broker
      ? createInProcessEdge({ aedes: broker.aedes, ...edgeOptions, subscriptions: [] })
      : createMqttEdge({ url: mqttUrl, clientId: config.MQTT_CLIENT_ID, ...credentials, ...edgeOptions });

    const auth = createAuthService({
      db,
      log: log.child({ part: 'auth' }),
      tokenTtlS: config.TOKEN_TTL_S,
      maxFailures: config.LOGIN_MAX_FAILURES,
      lockS: config.LOGIN_LOCK_S,
    });
    const audio = createAudioLibrary({
      db,
      dataDir,
      urlSecret: secrets.urlSecret,
      publicUrl,
      log: log.child({ part: 'audio' }),
      maxDurationMs: config.AUDIO_MAX_DURATION_S * 1000,
    });
    // Small mono copies of speech for receivers on 4G; the codec library loads at the first job.
    const renditions = createRenditionService({
      db,
      log: log.child({ part: 'renditions' }),
      audio,
      dataDir,
      transcoder: createTranscoder({ log: log.child({ part: 'transcode' }) }),
      maxDurationMs: config.RENDITION_MAX_DURATION_S * 1000,
    });
    renditions.start();
    cleanups.push(() => renditions.close());
    // In the background: the first emergency should not wait for the codec library to load.
    void renditions.warmUp();
    const fleet = createFleet({
      db,
      log: log.child({ part: 'fleet' }),
      topics: t,
      publisher: edge,
      keys: signingKeys,
      sequence,
      credentials: deviceCredentials,
    });
    if (broker) {
      // A receiver whose rights changed reconnects with its new ones (or, revoked, cannot).
      const b = broker;
      fleet.on('access', (receiverId) => b.disconnect(receiverId));
      // The embedded broker sees connections itself: a live one outranks what a status claims.
      fleet.setConnectionView((id) => b.isConnected(id));
      deviceGone = (id) => fleet.connectionClosed(id);
    }
    const dispatcher = createDispatcher({
      publisher: edge,
      topics: t,
      commandKey: () => signingKeys.commandKey(),
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
      connected: () => edge.connected(),
      reofferBaseMs: config.REOFFER_DELAY_S * 1000,
      renditions,
    });
    handlers.status = (id, p) => fleet.handleStatus(id, p);
    fleet.setPlaybackCheck((receiverId, commandId) => bulletins.commandSentTo(receiverId, commandId));
    handlers.event = (id, p) => bulletins.handleEvent(id, p);
    const schedules = createScheduleService({
      db,
      log: log.child({ part: 'schedule' }),
      fleet,
      audio,
      publisher: edge,
      topics: t,
      commandKey: () => signingKeys.commandKey(),
      sequence,
      clock,
      timeZone: config.TZ,
      horizonMs: config.SCHEDULE_HORIZON_H * 3600_000,
      prefetchMs: config.PREFETCH_MIN * 60_000,
    });
    handlers.airing = (id, p) => schedules.handleReport(id, p);
    const site = createSiteLoader({
      db,
      fleet,
      schedules,
      dir: config.SCHEDULES_DIR,
      timeZone: config.TZ,
      log: log.child({ part: 'schedules-folder' }),
    });
    const timeSync = createTimeResponder({
      publisher: edge,
      topics: t,
      commandKey: () => signingKeys.commandKey(),
      clock,
      // the embedded broker refuses a pending receiver its clock topic; an external one may not
      mayAnswer: (id) => fleet.brokerRights(id)?.adopted === true,
      log: log.child({ part: 'time' }),
    });
    handlers.time = (id, p) => timeSync.handle(id, p);

    // An external Mosquitto's password and ACL files, rewritten whenever a receiver's rights change.
    const mosquittoFiles = startMosquittoFilesFromConfig({
      config,
      db,
      topics: t,
      events: fleet,
      log: log.child({ part: 'mosquitto-files' }),
    });
    if (mosquittoFiles) cleanups.push(() => mosquittoFiles.close());
    // What the controller follows is loaded before the first message: a persistent broker session
    // hands over, at once, the reports receivers sent while the controller was away.
    bulletins.start();
    cleanups.push(() => bulletins.close());
    await edge.start();
    cleanups.push(() => edge.stop());
    cleanups.push(() => fleet.stop());
    await fleet.publishAllConfigs();

    const approvals = createApprovalService({
      db,
      log: log.child({ part: 'approvals' }),
      fleet,
      audio,
      bulletins,
      users: auth.users,
      confirmations: auth.confirmations,
      approvalPriorities: new Set(config.APPROVAL_PRIORITIES),
      emergencyAllConfirm: config.EMERGENCY_ALL_CONFIRM,
      confirmPriorities: new Set(config.CONFIRM_PRIORITIES),
      confirmWindowS: config.CONFIRM_WINDOW_S,
    });

    // An approved program becomes the version that airs.
    approvals.setProgramSink({
      save: (id, body, user) => schedules.saveProgram(id, body, { user, source: 'api' }),
    });
    const admin = await auth.ensureAdmin(config.ADMIN_PASSWORD);

    // Text-to-speech (TTS_PROVIDER): an engine configured but not usable is logged, and answers
    // 503 tts_unavailable when asked to speak; recordings still go out.
    const tts = await createTtsFromConfig(config, { db, log: log.child({ part: 'tts' }), audio });
    if (tts) cleanups.push(() => tts.close());

    const announcements = createAnnouncementService({
      db,
      log: log.child({ part: 'announcements' }),
      fleet,
      audio,
      bulletins,
      approvals,
      tts,
      renditions,
      webhook:
        config.ANNOUNCE_WEBHOOK_URL && config.ANNOUNCE_WEBHOOK_SECRET
          ? {
              url: config.ANNOUNCE_WEBHOOK_URL,
              secret: config.ANNOUNCE_WEBHOOK_SECRET,
              afterS: config.ANNOUNCE_WEBHOOK_AFTER_S,
            }
          : null,
    });
    announcements.start();
    cleanups.push(() => announcements.close());

    // CAP 1.2 input: a mapping file that does not check out stops the start, with its errors.
    const cap = createCapService({
      db,
      log: log.child({ part: 'cap' }),
      fleet,
      announcements,
      parser: createCapParser(),
      map: config.CAP_MAP ? loadCapMap(config.CAP_MAP) : defaultCapMap(),
    });
    cleanups.push(() => cap.close());

    const services: Services = {
      config,
      db,
      auth,
      audit: createAudit(db),
      csrfKey: createHmac('sha256', secrets.urlSecret).update('loalang csrf').digest(),
      audio,
      renditions,
      fleet,
      bulletins,
      approvals,
      announcements,
      cap,
      tts,
      schedules,
      site,
      signingKeys,
      keyRotation: createKeyRotation({ keys: signingKeys, fleet, log: log.child({ part: 'keys' }) }),
      mqttConnected: () => edge.connected(),
      provisioning: {
        mqttUrl: config.PUBLIC_MQTT_URL ?? mqttUrl,
        topicRoot: t.root,
        httpUrl: publicUrl,
        signingKeys: () => {
          const trusted = signingKeys.trusted();
          const kid = signingKeys.commandKey().kid;
          return { current: trusted.find((k) => k.kid === kid) ?? trusted[0]!, trusted };
        },
      },
    };
    const app = await buildApp(services, log);
    cleanups.push(() => app.close());
    await app.listen({ port: config.PORT, host: config.HOST });
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.PORT;
    const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST;
    httpUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    // Schedules start once audio URLs can be made (with port 0 only now).
    schedules.start();
    cleanups.push(() => schedules.stop());
    if (config.CAP_FEED_URL) {
      const feed = createCapFeed({
        url: config.CAP_FEED_URL,
        intervalS: config.CAP_FEED_INTERVAL_S,
        cap,
        principal: await feedAccount(auth.users, config.CAP_FEED_USER),
        maxAlertBytes: config.CAP_MAX_BYTES,
        log: log.child({ part: 'cap-feed' }),
      });
      feed.start();
      cleanups.push(() => feed.stop());
    }
    // An invalid folder is logged and changes nothing: the controller runs on what it holds.
    await site.reload();

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
      cap,
      schedules,
      site,
      timeSync,
      setupCode: admin.setupCode ?? null,
      renditions,
      wire: {
        topics: t,
        onReceiverMessage(listener) {
          wireListeners.add(listener);
          return () => wireListeners.delete(listener);
        },
        publish: (topic, payload, o) => edge.publish(topic, payload, o),
        commandKey: () => signingKeys.commandKey(),
        nextSeq: () => sequence.next(),
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
