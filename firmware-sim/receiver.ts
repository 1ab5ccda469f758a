/**
 * SimReceiver: a simulated 4G loudspeaker receiver, and the reference behaviour for firmware
 * vendors. It speaks the contract in `src/contract/` over a real MQTT connection and downloads
 * real bytes over HTTP; only the loudspeaker itself is a timer.
 *
 * Connection rules a vendor must copy:
 * - every (re)connection uses a new, larger `session` and a last will "offline" carrying it;
 * - subscribe first (own cmd and config, then the zones its retained config names), then
 *   announce "online": a controller that sees the receiver online may send at once;
 * - events are at-least-once: unacknowledged ones are sent again after a reconnection;
 * - every command is checked in the order of docs/protocol.md §7.1 (signature over the arrival
 *   topic, replay by id, expiry, not-yet-valid) and each refusal reported; the trusted keys
 *   follow the verified configs (§7.6).
 */
import type { KeyObject } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { type Logger, pino } from 'pino';
import type { AudioRef } from '../src/contract/mqtt.js';
import {
  CLOCK_SKEW_TOLERANCE_MS,
  commandSchema,
  DEFAULT_TOPIC_ROOT,
  deviceIdSchema,
  type EventState,
  type ReceiverConfig,
  type Status,
  type Topics,
  topics,
} from '../src/contract/mqtt.js';
import type { ScheduleDoc } from '../src/contract/schedule.js';
import { type Clock, systemClock } from '../src/time/clock.js';
import type { SimBreak } from './breaks.js';
import { AudioCache } from './cache.js';
import { ownTime } from './clockmodel.js';
import { downloadAudio } from './download.js';
import { applyConfig, type CommandVerdict, CommandVerifier, syncGroupSubscriptions } from './inbound.js';
import { type LinkHooks, MqttLink, subscribeGranted } from './link.js';
import { ObservableReceiver } from './observable.js';
import { buildEvent, buildStatus, EventOutbox, statusProblem } from './outbound.js';
import { type EventExtra, type NowPlaying, Player } from './player/player.js';
import { ScheduleEngine } from './schedule/engine.js';
import { type AiringRecord, AiringReporter } from './schedule/reports.js';
import { TimeLink } from './timelink.js';
import type { SyncState } from './timesync.js';
import { DEFAULT_SIM_CODECS, resolveFaults, type SimFaults, type SimReceiverOptions } from './types.js';
import { firstOf, iso, ReplayMemory, Serial } from './util.js';

export type { SimFaults, SimReceiverEventMap, SimReceiverOptions } from './types.js';

/**
 * One simulated receiver. Create, `start()`, drive it with MQTT commands and configs, observe
 * it through its accessors and local events, `stop()`. Faults can be switched at any time.
 */
export class SimReceiver extends ObservableReceiver {
  /** Live fault switches; read at each use. */
  readonly faults: SimFaults;
  /** deliberate protocol violations (breaks.ts), for the conformance kit's tests; empty normally */
  readonly breaks: ReadonlySet<SimBreak>;
  /** Scales playback time; settable. */
  timeFactor: number;
  #opts: SimReceiverOptions;
  /** the true time scale (the system clock, or a test's scaled clock) */
  readonly clock: Clock;
  readonly #topics: Topics;
  readonly #log: Logger;
  readonly #cache: AudioCache;
  readonly #player: Player;
  /** command ids handled, until they expire (a firmware keeps this in non-volatile storage) */
  readonly #seen = new ReplayMemory();
  /** controller keys trusted: the provisioned ones, then those its verified configs list */
  #trusted: ReadonlyMap<string, KeyObject>;
  readonly #serial = new Serial();
  #session: number;
  /** the session of its first connection (for the session-resets-at-boot violation) */
  readonly #initialSession: number;
  /** stop() was called once: a later start() is a boot */
  #stoppedOnce = false;
  #sessionUsed = false;
  /** the last will of the first connection, kept only by the `will-wrong-session` violation */
  #firstWill: { topic: string; payload: string } | null = null;
  #state: 'online' | 'offline' = 'offline';
  readonly #link: MqttLink;
  /** from the provisioning bundle: MQTT login, and HTTP Basic for audio downloads */
  #credentials: { username: string; password: string } | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #flushPending = false;
  #volume: number;
  #config: ReceiverConfig | null = null;
  /** configs taken (#config) whose subscriptions are still being changed */
  #configsSyncing = 0;
  /** zone and all topics the current config asks for */
  #groupTopics = new Set<string>();
  /** of those, the ones the current connection holds */
  #subscribedGroup = new Set<string>();
  /** generation of the connection on which a config payload was last dealt with */
  #configSeenOn = -1;
  /** ends the wait for the retained config in #onConnected */
  #configSeen: (() => void) | null = null;
  /** generation of the connection whose own subscriptions are in place */
  #subscribedOn = -1;
  readonly #outbox = new EventOutbox(1000);
  readonly #verifier: CommandVerifier;
  /** drift counts from here (./clockmodel.ts) */
  readonly #t0: number;
  /** network delays and the time exchange */
  readonly #time: TimeLink;
  /** the schedule it holds and keeps by its own clock (firmware-sim/schedule/) */
  readonly #schedule: ScheduleEngine;
  readonly #airingReports: AiringReporter;

  constructor(opts: SimReceiverOptions) {
    super(opts.historySize ?? 1000);
    if (!deviceIdSchema.safeParse(opts.id).success) {
      throw new Error(`invalid receiver id "${opts.id}": letters, digits, "_", "." or "-", at most 64`);
    }
    this.#opts = opts;
    this.#verifier = opts.commandVerifier ?? new CommandVerifier();
    this.#trusted = opts.trustedKeys;
    this.#topics = topics(opts.topicRoot ?? DEFAULT_TOPIC_ROOT);
    this.#log = (opts.log ?? pino({ level: 'silent' })).child({ rx: opts.id });
    this.#cache = new AudioCache(opts.cacheItems ?? 50);
    this.#session = opts.initialSession ?? Math.floor(Date.now() / 1000);
    this.#initialSession = this.#session;
    this.#volume = opts.volume ?? 70;
    this.clock = opts.clock ?? systemClock;
    this.timeFactor = opts.timeFactor ?? this.clock.realMs(1);
    this.faults = resolveFaults(opts);
    this.breaks = new Set(opts.breaks ?? []);
    this.#credentials =
      opts.username !== undefined && opts.password !== undefined
        ? { username: opts.username, password: opts.password }
        : undefined;
    this.#t0 = this.clock.now();
    this.#time = new TimeLink({
      receiverId: opts.id,
      topics: this.#topics,
      delay: opts.delay,
      timeSync: opts.timeSync,
      now: () => this.now(),
      trusted: () => this.#trusted,
      link: () => this.#link,
      realMs: (ms) => this.clock.realMs(ms),
      onSynced: (state) => this.emit('synced', state),
      breaks: this.breaks,
      log: this.#log,
    });
    this.on('online', () => this.#time.online());
    this.on('offline', () => this.#time.halt());
    this.on('stopped', () => this.#time.halt());
    const reconnectMinMs = this.breaks.has('slow-reconnect') ? 20_000 : opts.reconnectMinMs;
    this.#link = new MqttLink(
      { ...opts, reconnectMinMs, clientId: opts.id, log: this.#log },
      this.#linkHooks(),
    );
    this.#player = new Player({
      breaks: this.breaks,
      now: () => this.now(),
      timeFactor: () => this.timeFactor,
      volume: () => this.#volume,
      cache: this.#cache,
      download: (audio, signal) => this.#download(audio, signal),
      report: (cmd, state, extra) => this.#report(cmd.id, cmd.bulletinId, state, extra),
      played: (entry) => this.recordPlayed(entry),
      speaker: {
        holder: () => this.#schedule.onAir,
        preempt: (commandId) => this.#schedule.preemptedBy(commandId),
        free: (next) => this.#schedule.speakerFree(next),
      },
      quiet: () => this.#schedule.quietAt(this.controllerNow()),
    });
    this.#airingReports = new AiringReporter(
      {
        controllerNow: () => this.controllerNow(),
        ownNow: () => this.now(),
        trueNow: () => this.clock.now(),
        session: () => this.#session,
        check: opts.checkOwnPayloads ?? true,
        recorded: (record) => {
          this.emit('airing', record);
          this.#flushSoon();
        },
        protocolError: (message, payload) => this.#protocolError(message, payload),
      },
      1000,
      opts.historySize ?? 1000,
    );
    this.#schedule = new ScheduleEngine({
      id: opts.id,
      topic: this.#topics.receiverSchedule(opts.id),
      trusted: () => this.#trusted,
      // Every schedule instant is on the controller's time scale; timer delays in real ms.
      clock: { now: () => this.controllerNow(), realMs: (ms) => this.clock.realMs(ms) },
      cache: this.#cache,
      download: (audio, signal) => this.#download(audio, signal),
      reporter: this.#airingReports,
      bulletins: {
        playing: () => {
          const np = this.#player.nowPlaying;
          return np ? { id: np.commandId, priority: np.priority } : null;
        },
        yieldTo: (by) => this.#player.yieldTo(by),
        resume: () => this.#player.resume(),
      },
      ...opts.schedule,
      breaks: this.breaks,
      linkUp: () => this.#state === 'online',
      log: this.#log,
    });
    this.on('online', () => this.#schedule.linkRestored());
  }

  #download(audio: AudioRef, signal: AbortSignal) {
    return downloadAudio(audio, {
      signal,
      faults: this.faults,
      retryBaseMs: this.#opts.downloadRetryBaseMs,
      retryMaxMs: this.#opts.downloadRetryMaxMs,
      attempts: this.#opts.downloadAttempts,
      // The signed URL alone is refused: the receiver proves who it is with its credentials.
      auth: this.#credentials,
      log: this.#log,
      breaks: this.breaks,
    });
  }

  /** Every report about its schedule and airings (published, or queued while offline), oldest first. */
  get airings(): readonly AiringRecord[] {
    return this.#airingReports.records;
  }
  /** Airing reports not yet acknowledged by the broker. */
  get airingsPending(): number {
    return this.#airingReports.pending;
  }
  /** The schedule document in force, or null. */
  get schedule(): ScheduleDoc | null {
    return this.#schedule.memory.doc;
  }

  get id(): string {
    return this.#opts.id;
  }
  get session(): number {
    return this.#session;
  }
  get state(): 'online' | 'offline' {
    return this.#state;
  }
  get nowPlaying(): NowPlaying | null {
    return this.#player.nowPlaying;
  }
  /** Ids of the commands waiting to play, in play order. */
  get queued(): string[] {
    return this.#player.queued;
  }
  /** The last configuration applied, or null. */
  get config(): ReceiverConfig | null {
    return this.#config;
  }
  /** The config whose subscriptions are in place too (null while they change): what waitForConfig sees. */
  protected override get settledConfig(): ReceiverConfig | null {
    return this.#configsSyncing > 0 ? null : this.#config;
  }
  /** The receiver's own volume (a command's volume applies to its bulletin only). */
  get volume(): number {
    return this.#volume;
  }
  /** Ids of the controller keys it trusts now, sorted. */
  get trustedKids(): string[] {
    return [...this.#trusted.keys()].sort();
  }
  /** sha256 of every cached audio file. */
  get cached(): string[] {
    return this.#cache.keys();
  }
  get clockOffsetMs(): number {
    return this.faults.clockOffsetMs;
  }
  set clockOffsetMs(ms: number) {
    this.faults.clockOffsetMs = ms;
  }

  /** The receiver's own clock, epoch ms: the true time plus its offset and drift (./clockmodel.ts). */
  now(): number {
    return ownTime(this.clock.now(), this.faults.clockOffsetMs, this.#opts.driftPpm ?? 0, this.#t0);
  }

  /**
   * The receiver's best estimate of the controller's time scale, on which every schedule instant
   * is given: its own clock corrected by the time exchange (docs/protocol.md §12); before the
   * first sync, or with timeSync off, its own clock.
   */
  controllerNow(): number {
    return this.#time.controllerNow(this.now());
  }

  /** The time exchange's state (synced false while it has not succeeded, or with timeSync off). */
  get sync(): SyncState {
    return this.#time.state;
  }

  /** Starts a time-exchange burst now (timeSync on and online); 'synced' follows. */
  resync(): void {
    if (this.#state === 'online') this.#time.online();
  }

  /**
   * Changes the status republication period (heartbeatMs) from now on, e.g. for a load test of
   * the controller's status ingestion; the running heartbeat is re-armed with it.
   */
  setHeartbeat(ms: number): void {
    this.#opts = { ...this.#opts, heartbeatMs: ms };
    if (this.#heartbeatTimer !== undefined) this.#heartbeat(true);
  }

  /** Empties the audio cache, as after a flash wipe. */
  clearCache(): void {
    this.#cache.clear();
  }

  /**
   * Installs new credentials, as an installer does with a new provisioning bundle (after adoption,
   * or a re-issue). A link waiting after a refusal reconnects with them at once; a connected one
   * uses them from its next connection.
   */
  setCredentials(username: string, password: string): void {
    this.#credentials = { username, password };
    this.#link.setCredentials(username, password);
  }

  /** Connects; resolves once subscribed and "online" is published. */
  async start(): Promise<void> {
    if (this.#state === 'online') return;
    // Deliberate violations (breaks.ts): what a receiver without non-volatile storage loses at boot.
    if (this.#stoppedOnce) {
      if (this.breaks.has('volatile-replay-memory')) this.#seen.clear();
      if (this.breaks.has('volatile-config-seq')) this.#config = null;
      if (this.breaks.has('volatile-schedule')) this.#schedule.memory.doc = null;
      if (this.breaks.has('volatile-aired')) this.#schedule.memory.forgetHandled();
      // (one below, as the next connection adds one: it says its first session again)
      if (this.breaks.has('session-resets-at-boot')) this.#session = this.#initialSession - 1;
    }
    const online = this.#waitOnline(this.#opts.startTimeoutMs ?? 30_000);
    // The schedule held runs from power-on, broker or not.
    this.#schedule.start();
    this.#link.open();
    await online;
  }

  /** Fault: the link dies without a DISCONNECT, so the broker publishes the will; no reconnection until goOnline(). */
  goOffline(): Promise<void> {
    return this.#link.drop();
  }

  /** Ends a goOffline(): reconnects with the next session. */
  goOnline(): Promise<void> {
    return this.start();
  }

  /** Graceful shutdown: publishes "offline" for the session, disconnects, silences everything. */
  async stop(): Promise<void> {
    this.#stoppedOnce = true;
    this.#heartbeat(false);
    this.#schedule.shutdown();
    this.#player.shutdown();
    const wasOnline = this.#state === 'online';
    this.#state = 'offline';
    this.emit('stopped');
    // Sent whenever connected, even mid-setup: an "online" may already be retained for this session.
    const lastWords = {
      topic: this.#topics.receiverStatus(this.id),
      payload: JSON.stringify(this.#status('offline')),
    };
    await this.#link.close(lastWords);
    if (wasOnline) this.emit('offline');
  }

  #linkHooks(): LinkHooks {
    return {
      will: () => {
        // A session that reached the broker is spent: its will may still fire, so never reuse it.
        if (this.#sessionUsed && !this.breaks.has('session-not-increasing')) this.#session += 1;
        this.#sessionUsed = false;
        const will = {
          topic: this.#topics.receiverStatus(this.id),
          payload: JSON.stringify(this.#status('offline')),
        };
        if (!this.breaks.has('will-wrong-session')) return will;
        this.#firstWill ??= will;
        return this.#firstWill;
      },
      up: (client, gen) => {
        this.#sessionUsed = true;
        this.#onConnected(client, gen).catch((err: unknown) =>
          this.#log.warn({ err }, 'sim: connection setup failed'),
        );
      },
      message: (topic, payload) => this.#time.arrive(topic, payload, (tp, p) => this.#onMessage(tp, p)),
      refused: (code, reason) => {
        // Keep the credentials and retry slowly: an officer may re-issue them (re-provisioning).
        this.#log.warn({ code, reason }, 'sim: the broker refused the connection; check the credentials');
        this.emit('refused', code, reason);
      },
      down: () => {
        const wasOnline = this.#state === 'online';
        this.#state = 'offline';
        this.#subscribedGroup = new Set();
        this.#heartbeat(false);
        if (this.breaks.has('drop-queued-events')) this.#outbox.clear();
        if (!wasOnline) return;
        this.#log.info({ session: this.#session }, 'sim: offline');
        this.emit('offline');
      },
    };
  }

  /**
   * Connection set-up, in the order docs/protocol.md §2 gives: subscribe, let the retained config
   * arrive and apply it (zone subscriptions acknowledged), then announce "online", so nothing the
   * controller sends in reaction to "online" is missed.
   */
  async #onConnected(client: MqttClient, gen: number): Promise<void> {
    const graceMs = this.#opts.configGraceMs ?? 200;
    if (this.breaks.has('online-before-subscribe') || this.breaks.has('online-before-config')) {
      // Deliberate violations (breaks.ts): "online" before the subscriptions, or before the
      // retained config; what comes late comes after the grace, holding up the config.
      const first = this.breaks.has('online-before-subscribe');
      await this.#serial.run(async () => {
        if (!first) await this.#subscribe(client, gen);
        await this.#announce(client, gen);
        await new Promise((r) => setTimeout(r, graceMs));
        if (first && gen === this.#link.generation && client.connected) await this.#subscribe(client, gen);
      });
      return;
    }
    await this.#serial.run(() => this.#subscribe(client, gen));
    // The retained config follows the SUBACK within milliseconds, but "none" cannot be told from
    // "not yet": wait for it a little. Even with a config from an earlier connection: the retained
    // one may bring a new key set (a key rotation while this receiver was away), and what the
    // controller resends in reaction to "online" is signed with the new key.
    if (this.#configSeenOn !== gen && graceMs > 0) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.off('stopped', done);
          if (this.#configSeen === done) this.#configSeen = null;
          resolve();
        };
        const timer = setTimeout(done, graceMs);
        this.#configSeen = done;
        this.on('stopped', done);
      });
    }
    // Queued behind any config still being applied.
    await this.#serial.run(() => this.#announce(client, gen));
  }

  async #subscribe(client: MqttClient, gen: number): Promise<void> {
    const t = this.#topics;
    const own = [
      t.receiverCommand(this.id),
      t.receiverConfig(this.id),
      t.receiverSchedule(this.id),
      ...this.#time.topics,
    ];
    // Zones from the last config are subscribed at once; the retained config then corrects them.
    const group = [...this.#groupTopics];
    const beyond = this.breaks.has('subscribe-beyond-own') ? [`${t.root}/rx/+/cmd`] : [];
    const granted = await subscribeGranted(client, [...own, ...group, ...beyond], 1);
    if (gen !== this.#link.generation) return;
    this.#subscribedGroup = new Set();
    for (const g of granted) {
      // Refused own command topic while pending (discovery), or an old zone after a move (the
      // retained config corrects the zones next): expected, so a warning, not an error.
      if (g.qos === 128) this.#log.warn({ topic: g.topic }, 'sim: subscription refused by the broker');
      else if (this.#groupTopics.has(g.topic)) this.#subscribedGroup.add(g.topic);
    }
    this.#subscribedOn = gen;
  }

  async #announce(client: MqttClient, gen: number): Promise<void> {
    if (gen !== this.#link.generation) return;
    const online = this.#status('online');
    const problem = statusProblem(online);
    if (problem) this.#protocolError(problem, online);
    await client.publishAsync(this.#topics.receiverStatus(this.id), JSON.stringify(online), {
      qos: this.breaks.has('status-qos0') ? 0 : 1,
      retain: true,
    });
    if (gen !== this.#link.generation) return;
    this.#state = 'online';
    this.#link.settled();
    this.#heartbeat(true);
    this.#log.info({ session: this.#session }, 'sim: online');
    this.emit('online', this.#session);
    this.#flushOutbox();
  }

  #onMessage(topic: string, payload: Buffer): void {
    // Whatever arrives, a receiver must not crash: every handler is contained.
    try {
      if (topic === this.#topics.receiverConfig(this.id)) {
        const gen = this.#link.generation;
        this.#serial
          .run(() => this.#applyConfig(topic, payload))
          .catch((err: unknown) => {
            this.#log.warn({ err }, 'sim: config not applied');
          })
          .finally(() => {
            // Applied or refused, the retained config of this connection has been dealt with.
            this.#configSeenOn = gen;
            this.#configSeen?.();
          });
      } else if (topic === this.#topics.receiverSchedule(this.id)) {
        this.#schedule.onDocument(payload);
      } else if (topic === this.#topics.receiverCommand(this.id) || this.#groupTopics.has(topic)) {
        const all = topic === this.#topics.allCommand();
        if (this.breaks.has(all ? 'ignore-all-topic' : 'ignore-zone-topic') && this.#groupTopics.has(topic))
          return;
        this.#onCommand(topic, payload);
      } else {
        this.#log.debug({ topic }, 'sim: message on a topic not listened to, ignored');
      }
    } catch (err) {
      this.#log.error({ err, topic }, 'sim: message handling failed');
    }
  }

  /**
   * A command, checked in the order of docs/protocol.md §7.1. Every refusal is reported (when the
   * payload names a command id) and nothing in a refused command is acted on.
   */
  #onCommand(topic: string, payload: Buffer): void {
    // 1–6: size, JSON object, envelope, known key, signature over this topic and the body, schema.
    let verdict = this.#verifier.verify(this.#trusted, topic, payload);
    if (!verdict.ok && this.breaks.size > 0) verdict = brokenVerdict(this.breaks, verdict, payload);
    if (!verdict.ok) {
      this.#log.warn({ topic, reason: verdict.reason, error: verdict.error }, 'sim: command refused');
      // Tell the controller which command id was refused (taken from the unverified payload for
      // that report only); a payload without a readable id is only logged.
      const { claimed } = verdict;
      if (claimed && this.breaks.has('forgery-uses-id'))
        this.#seen.add(claimed.id, this.now() + 3600_000, this.now());
      if (claimed)
        this.#report(claimed.id, claimed.bulletinId, 'rejected', {
          reason: verdict.reason,
          detail: verdict.error.slice(0, 500),
        });
      return;
    }
    const { cmd } = verdict;
    const now = this.now();
    // 7. Replay: an id already handled never acts again, whatever topic it came on.
    if (this.#seen.has(cmd.id, now) && !this.breaks.has('no-replay-memory')) {
      this.#log.info({ topic, cmd: cmd.id }, 'sim: command id already handled; not acted on again');
      this.#report(cmd.id, cmd.bulletinId, 'rejected', {
        reason: 'replayed',
        detail: 'command id already handled',
      });
      return;
    }
    // 8. Expiry, by the receiver's clock, without tolerance.
    const expiresAt = Date.parse(cmd.expiresAt);
    if (now > expiresAt && !this.breaks.has('no-expiry-check')) {
      this.#report(cmd.id, cmd.bulletinId, 'expired', { reason: 'expired' });
      return;
    }
    // 9. Not yet valid: issued in the future beyond the skew tolerance (a clock far behind, or a
    // command signed ahead of time).
    if (Date.parse(cmd.issuedAt) > now + CLOCK_SKEW_TOLERANCE_MS && !this.breaks.has('no-issued-check')) {
      this.#report(cmd.id, cmd.bulletinId, 'rejected', {
        reason: 'not_yet_valid',
        detail: `issuedAt ${cmd.issuedAt} is ahead of the receiver clock ${iso(now)}`,
      });
      return;
    }
    // Remembered before acting, until it can no longer be valid.
    this.#seen.add(cmd.id, Math.max(expiresAt, now) + CLOCK_SKEW_TOLERANCE_MS, now);
    // 10. Act: a stop cancels what has a lower seq; a play is checked against the stops seen.
    if (
      cmd.type === 'stop' &&
      cmd.bulletinId === undefined &&
      topic === this.#topics.receiverCommand(this.id) &&
      this.breaks.has('ignore-allstop-on-own-topic')
    ) {
      return;
    }
    if (cmd.type === 'stop') {
      // An all-stop or zone stop also ends the airing on air (not later ones), docs/protocol.md §13.9.
      const early = this.breaks.has('confirm-before-cancel');
      if (early) this.#report(cmd.id, cmd.bulletinId, 'received');
      this.#schedule.stop(cmd);
      this.#player.stop(cmd);
      this.#player.resume();
      // Confirms the stop after the `cancelled` of each item it stopped (docs/protocol.md §7.4):
      // the controller then knows nothing the stop covers can still play here.
      if (!early) this.#report(cmd.id, cmd.bulletinId, 'received');
    } else if (this.faults.rejectCommands) {
      this.#report(cmd.id, cmd.bulletinId, 'rejected', { reason: 'busy' });
    } else if (cmd.priority !== 'emergency' && this.#schedule.quietAt(this.controllerNow())) {
      this.#report(cmd.id, cmd.bulletinId, 'rejected', {
        reason: 'quiet_hours',
        detail: 'normal and priority bulletins do not start inside quiet hours',
      });
    } else {
      this.#player.play(cmd);
    }
  }

  async #applyConfig(topic: string, payload: Buffer): Promise<void> {
    const current = {
      config: this.#config,
      volume: this.#volume,
      groupTopics: this.#groupTopics,
      trusted: this.#trusted,
    };
    const next = applyConfig(
      topic,
      this.#topics,
      current,
      payload,
      this.#log,
      (keys) => this.#verifier.keySet(keys),
      this.breaks,
    );
    if (!next) return;
    if (this.breaks.has('keep-old-zone') && this.#config) next.groupTopics = this.#groupTopics;
    const volumeChanged = next.volume !== this.#volume;
    const before = this.trustedKids.join(' ');
    this.#config = next.config;
    this.#volume = next.volume;
    this.#groupTopics = next.groupTopics;
    // Taken at once, before any subscription change: the next command may be signed by a new key.
    this.#trusted = next.trusted;
    const keysChanged = this.trustedKids.join(' ') !== before;
    if (keysChanged) this.#log.info({ keys: this.trustedKids }, 'sim: trusted controller keys replaced');
    const client = this.#link.client;
    if (client && this.#subscribedOn === this.#link.generation) {
      const gen = this.#link.generation;
      this.#configsSyncing++;
      try {
        const held = await syncGroupSubscriptions(
          client,
          this.#groupTopics,
          this.#subscribedGroup,
          this.#log,
        );
        if (gen === this.#link.generation) this.#subscribedGroup = held;
      } finally {
        this.#configsSyncing--;
      }
    }
    this.emit('config', next.config);
    // The controller follows a key rotation by the keys each receiver reports.
    if ((volumeChanged && !this.breaks.has('no-volume-status')) || keysChanged) this.#publishStatus();
  }

  #report(
    commandId: string,
    bulletinId: string | undefined,
    state: EventState,
    extra: EventExtra = {},
  ): void {
    const base = { commandId, bulletinId, state, session: this.#session, ts: iso(this.now()) };
    const built = buildEvent(base, extra, this.#opts.checkOwnPayloads ?? true);
    if (!built.ok) {
      this.#protocolError(built.error, { ...base, ...extra });
      return;
    }
    this.#log.info({ cmd: commandId, state, ...extra }, 'sim: event');
    this.#outbox.add(JSON.stringify(built.event));
    this.recordEvent(built.event);
    this.#flushOutbox();
  }

  /**
   * Airing reports go out in the check phase of this turn of the event loop, together: the timer
   * that starts an item only records the report, so the item's start is not held up by the
   * publishing — nor, in a simulator hosting many receivers on one event loop, are the timers of
   * the other receivers due at the same instant (bench/README.md, "Start accuracy").
   */
  #flushSoon(): void {
    if (this.#flushPending) return;
    this.#flushPending = true;
    setImmediate(() => {
      this.#flushPending = false;
      this.#flushOutbox();
    });
  }

  #flushOutbox(): void {
    const client = this.#link.client;
    if (client && this.#state === 'online') {
      this.#outbox.flush(client, this.#topics.receiverEvent(this.id), this.#link.generation);
      this.#airingReports.flush(client, this.#topics.receiverAiring(this.id), this.#link.generation);
    }
  }

  #status(state: 'online' | 'offline'): Status {
    return buildStatus(state, {
      session: this.#session,
      ts: iso(this.now()),
      firmware: this.#opts.firmware ?? 'loalang-sim/0.1',
      volume: this.#volume,
      nowPlaying: this.#player.nowPlaying,
      rssi: this.#opts.rssi ?? -85,
      cached: this.#cache.keys(),
      keys: this.breaks.has('status-without-keys') ? undefined : this.trustedKids,
      codecs: this.#opts.codecs === undefined ? DEFAULT_SIM_CODECS : (this.#opts.codecs ?? []),
    });
  }

  #publishStatus(): void {
    const client = this.#link.client;
    if (!client || this.#state !== 'online') return;
    const status = this.#status('online');
    const problem = statusProblem(status);
    if (problem) {
      this.#protocolError(problem, status);
      return;
    }
    client
      .publishAsync(this.#topics.receiverStatus(this.id), JSON.stringify(status), {
        qos: this.breaks.has('status-qos0') ? 0 : 1,
        retain: true,
      })
      .catch((err: unknown) => this.#log.debug({ err }, 'sim: status not published'));
  }

  #protocolError(message: string, payload: unknown): void {
    this.#log.error({ payload, message }, 'sim: own payload breaks the contract');
    this.emit('protocolError', message, payload);
  }

  /** Republishes the status every heartbeatMs while `on`. */
  #heartbeat(on: boolean): void {
    clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = on
      ? setInterval(() => this.#publishStatus(), this.#opts.heartbeatMs ?? 60_000)
      : undefined;
  }

  #waitOnline(timeoutMs: number): Promise<void> {
    const describe = () => `${this.id}: not online within ${timeoutMs} ms (${this.#opts.brokerUrl})`;
    return firstOf(this, ['online', 'stopped'], timeoutMs, describe).then((what) => {
      if (what === 'stopped') throw new Error(`${this.id}: stopped before coming online`);
    });
  }
}

/** What a receiver with verification breaks (breaks.ts) makes of a command it should refuse. */
function brokenVerdict(
  breaks: ReadonlySet<SimBreak>,
  verdict: CommandVerdict,
  payload: Buffer,
): CommandVerdict {
  if (verdict.ok) return verdict;
  const accepts =
    (verdict.reason === 'unsigned' && breaks.has('accept-unsigned')) ||
    (verdict.reason === 'unknown_key' && breaks.has('accept-unknown-key')) ||
    (verdict.reason === 'bad_signature' && breaks.has('accept-bad-signature')) ||
    (verdict.reason === 'wrong_topic' && breaks.has('accept-wrong-topic'));
  if (!accepts) return verdict;
  try {
    const outer = JSON.parse(payload.toString('utf8')) as { body?: unknown };
    const body = typeof outer.body === 'string' ? JSON.parse(outer.body) : outer;
    const cmd = commandSchema.safeParse(body);
    return cmd.success ? { ok: true, cmd: cmd.data } : verdict;
  } catch {
    return verdict;
  }
}
