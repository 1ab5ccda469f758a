/**
 * The receiver fleet: zones (villages) and receivers, their adoption, and their live status from
 * MQTT. Receivers that connect with an unknown id appear as `pending` and get nothing until an
 * officer adopts them into a zone; adoption publishes the receiver's signed, retained config and
 * issues the receiver its MQTT credentials (shown once). Whenever a receiver's broker rights change
 * the fleet emits `access`, so brokers can drop its connection and regenerate their files.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import {
  decodePayload,
  type ReceiverConfig,
  type Status,
  statusSchema,
  type Topics,
  type TrustedKey,
} from '../../contract/mqtt.js';
import { type SigningKey, seal } from '../../contract/signing.js';
import { badRequest, conflict, notFound } from '../../errors.js';
import type { Publisher } from '../../mqtt/client.js';
import { type Db, nowIso } from '../../storage/db.js';
import type { Sequence } from '../../storage/sequence.js';
import { createDeviceCredentials, type DeviceCredentials, type IssuedCredentials } from './credentials.js';
import {
  createFleetRepo,
  type NowPlaying,
  type Position,
  type Receiver,
  type StatusUpdate,
  type Zone,
} from './repo.js';
import { judgeStatus } from './status-rules.js';

/** Unknown receivers beyond this many pending ones are not recorded (a flood of random ids). */
const MAX_PENDING = 2000;

export interface FleetEvents {
  /** a receiver started a new session (boot or reconnect): undelivered commands should go again */
  online: [receiverId: string];
  /**
   * The receiver's broker rights changed: credentials issued, re-issued or revoked, adopted, moved
   * to another zone, or removed. The broker drops its connection, so that it reconnects (or not)
   * with exactly its new rights; generated broker files are rewritten.
   */
  access: [receiverId: string];
  /**
   * Something an officer sees of the receiver may have changed: online/offline, what it plays,
   * volume, signal, name, zone, adoption, or it was removed. Emitted at every such update, often
   * many per second: listeners throttle (the live stream of GET /api/receivers/events does).
   */
  changed: [receiverId: string];
}

/** What a broker needs to decide a receiver's rights (see src/mqtt/acl.ts). */
export interface BrokerRights {
  adopted: boolean;
  zoneId: string | null;
}

/** A receiver, and the credentials an operation issued it (the password, shown once). */
export interface Provisioned {
  receiver: Receiver;
  credentials: IssuedCredentials;
}

export interface Fleet extends EventEmitter<FleetEvents> {
  listZones(): Zone[];
  getZone(id: string): Zone;
  createZone(input: { id?: string | undefined; name: string }): Zone;
  renameZone(id: string, name: string): Zone;
  deleteZone(id: string): void;

  listReceivers(filter?: {
    zoneId?: string | undefined;
    adoption?: 'pending' | 'adopted' | undefined;
  }): Receiver[];
  getReceiver(id: string): Receiver;
  /** Registers (or adopts a pending) receiver into a zone, and issues its credentials. */
  createReceiver(input: {
    id: string;
    name?: string | undefined;
    zoneId: string;
    position?: Position | null | undefined;
  }): Promise<Provisioned>;
  /** Adopts a pending receiver into a zone and issues its credentials; 409 when already adopted. */
  adoptReceiver(id: string, input: { zoneId: string; name?: string | undefined }): Promise<Provisioned>;
  /**
   * Renames, moves, sets the volume. A `zoneId` on a pending receiver adopts it, and then
   * `credentials` holds what adoption issued; otherwise it is null.
   */
  updateReceiver(
    id: string,
    patch: {
      name?: string | undefined;
      zoneId?: string | undefined;
      volume?: number | undefined;
      /** where it stands; null forgets it */
      position?: Position | null | undefined;
    },
  ): Promise<{ receiver: Receiver; credentials: IssuedCredentials | null }>;
  /** Removes the receiver and revokes its credentials. */
  deleteReceiver(id: string): Promise<void>;
  /** Issues new credentials to an adopted receiver; the old password stops working at once. */
  issueCredentials(id: string): Provisioned;
  /** Revokes the receiver's credentials: it is cut off until new ones are issued. */
  revokeCredentials(id: string): Receiver;
  /** The receiver id whose live credentials these are, or null. Never blocks the event loop. */
  verifyDevice(username: string, password: string): Promise<string | null>;
  /** Adoption and zone of a known receiver, or null for an unknown id. */
  brokerRights(id: string): BrokerRights | null;
  /** The credential store (hashes only), e.g. for generating a broker's password file. */
  readonly credentials: DeviceCredentials;
  /** Ids of adopted receivers, in some zones or all: the cheap form for dispatch. */
  adoptedIds(zoneIds?: string[]): string[];
  counts(): { total: number; online: number; pending: number };
  isOnline(id: string): boolean;
  /** The codecs a receiver's last online status said it plays (null or empty: none). From memory. */
  codecsOf(id: string): readonly string[] | null;

  /** Handles a payload on `<root>/rx/<id>/status`. Never throws. */
  handleStatus(receiverId: string, payload: Buffer): void;
  /**
   * Records what a receiver plays from its progress events (receivers do not republish their
   * status for playback changes): `now` when it started `commandId`, null when that command ended.
   */
  notePlayback(receiverId: string, commandId: string, now: NowPlaying | null): void;
  /** Publishes every receiver's config again (after a broker restart, or to hand out a new key set). */
  publishAllConfigs(): Promise<void>;
  /** The controller key ids each receiver reported trusting, from its statuses since the start. */
  trustedKids(): ReadonlyMap<string, readonly string[]>;
  /**
   * Where the controller sees connections itself (the embedded broker): whether `id` is connected
   * right now. A live connection outranks a status that says otherwise.
   */
  setConnectionView(isConnected: (id: string) => boolean): void;
  /** The embedded broker saw the receiver's connection end (and no newer one replaced it). */
  connectionClosed(id: string): void;
  /**
   * How a status's `nowPlaying` is checked: it is shown only when it names a command sent to that
   * receiver, with the bulletin and priority of the controller's own record.
   */
  setPlaybackCheck(
    check: (
      receiverId: string,
      commandId: string,
    ) => { bulletinId: string; priority: NowPlaying['priority'] } | null,
  ): void;
  flush(): void;
  stop(): void;
}

/** Slug for a zone id from a Vietnamese name: "Thôn Đồng Bùa" → "thon-dong-bua". */
export function slugify(name: string): string {
  return name
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .replace(/đ/g, 'd')
    .replace(/Đ/g, 'D')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60);
}

export function createFleet(deps: {
  db: Db;
  log: Logger;
  topics: Topics;
  publisher: Publisher;
  /** the key that signs configs, and the keys every config lists (see signing-keys.ts) */
  keys: { configKey(): SigningKey; trusted(): TrustedKey[] };
  sequence: Sequence;
  /** default: the store over `db` */
  credentials?: DeviceCredentials;
}): Fleet {
  const { db, log, topics: t } = deps;
  const repo = createFleetRepo(db);
  const credentials = deps.credentials ?? createDeviceCredentials(db);
  const emitter = new EventEmitter<FleetEvents>();
  /** live view of each known receiver, so a status message needs no SELECT */
  const live = new Map<
    string,
    { session: number | null; online: boolean; codecs?: readonly string[] | null }
  >();
  for (const r of repo.listReceivers())
    live.set(r.id, { session: r.session, online: r.online, codecs: r.codecs });
  let pending: StatusUpdate[] = [];
  /**
   * What each receiver plays now, from its events and statuses. Volatile by nature, so it lives
   * in memory only (a restart learns it again from the next heartbeat) and costs no write per event.
   */
  const playing = new Map<string, NowPlaying>();
  /** key ids each receiver last reported trusting (memory only: retained statuses restore it) */
  const kids = new Map<string, readonly string[]>();
  let flushScheduled = false;
  let isConnected: ((id: string) => boolean) | null = null;
  let playbackCheck:
    | ((
        receiverId: string,
        commandId: string,
      ) => { bulletinId: string; priority: NowPlaying['priority'] } | null)
    | null = null;

  /** New credentials mean a new device, or a cleaned one: its session history starts again. */
  function resetSession(id: string): void {
    flush();
    repo.resetSession(id);
    const known = live.get(id);
    if (known) {
      known.session = null;
      known.online = false;
    }
    playing.delete(id);
  }

  const writeBatch = db.transaction((batch: StatusUpdate[]) => {
    for (const s of batch) repo.applyStatus(s);
  });

  function flush(): void {
    flushScheduled = false;
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    writeBatch(batch);
  }

  /** A receiver row with the live now-playing laid over it. */
  const live_ = (r: Receiver): Receiver => ({
    ...r,
    nowPlaying: r.online ? (playing.get(r.id) ?? null) : null,
  });

  function scheduleFlush(): void {
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  }

  async function publishConfig(r: Receiver): Promise<void> {
    const config: ReceiverConfig = {
      v: 1,
      seq: deps.sequence.next(),
      issuedAt: nowIso(),
      adopted: r.adoption === 'adopted',
      zones: r.adoption === 'adopted' && r.zoneId ? [r.zoneId] : [],
      ...(r.volume !== null ? { volume: r.volume } : {}),
      keys: deps.keys.trusted(),
    };
    const topic = t.receiverConfig(r.id);
    await deps.publisher.publish(topic, seal(deps.keys.configKey(), topic, config), {
      qos: 1,
      retain: true,
    });
  }

  function requireZone(id: string): Zone {
    const z = repo.getZone(id);
    if (!z) throw notFound('Zone', id);
    return z;
  }
  function requireReceiver(id: string): Receiver {
    flush();
    const r = repo.getReceiver(id);
    if (!r) throw notFound('Receiver', id);
    return live_(r);
  }

  function recordUnknown(id: string): boolean {
    if (repo.pendingCount() >= MAX_PENDING) {
      log.warn({ receiverId: id }, 'fleet: too many pending receivers, not recording a new one');
      return false;
    }
    repo.insertReceiver({
      id,
      name: id,
      zoneId: null,
      adoption: 'pending',
      createdAt: nowIso(),
      adoptedAt: null,
    });
    live.set(id, { session: null, online: false });
    log.info({ receiverId: id }, 'fleet: unknown receiver connected; pending adoption');
    // Every known receiver has a retained config, so at its next connection it knows at once
    // that it is not adopted instead of waiting to see whether one arrives.
    const r = repo.getReceiver(id);
    if (r) {
      publishConfig(r).catch((err: unknown) =>
        log.warn({ err: (err as Error).message, receiverId: id }, 'fleet: config publish failed'),
      );
    }
    return true;
  }

  /** Tells listeners (the live stream) that `id` changed; a listener's failure is only logged. */
  function changed(id: string): void {
    try {
      emitter.emit('changed', id);
    } catch (err) {
      log.error({ err, receiverId: id }, 'fleet: a change listener failed');
    }
  }

  /** Tells listeners (brokers) that `id`'s rights changed; a listener's failure is only logged. */
  function accessChanged(id: string): void {
    try {
      emitter.emit('access', id);
    } catch (err) {
      log.error({ err, receiverId: id }, 'fleet: an access listener failed');
    }
  }

  /** Adopts an existing pending receiver (or inserts a new adopted one) and issues credentials. */
  const adoptTx = db.transaction(
    (input: { id: string; name?: string | undefined; zoneId: string }, existing: Receiver | null) => {
      const at = nowIso();
      if (existing) {
        repo.updateReceiver({
          id: input.id,
          name: input.name ?? existing.name,
          zoneId: input.zoneId,
          adoption: 'adopted',
          adoptedAt: at,
        });
      } else {
        repo.insertReceiver({
          id: input.id,
          name: input.name ?? input.id,
          zoneId: input.zoneId,
          adoption: 'adopted',
          createdAt: at,
          adoptedAt: at,
        });
      }
      return credentials.issue(input.id);
    },
  );

  async function adopt(
    input: { id: string; name?: string | undefined; zoneId: string },
    existing: Receiver | null,
  ): Promise<Provisioned> {
    const issued = adoptTx(input, existing);
    if (!existing) live.set(input.id, { session: null, online: false });
    else resetSession(input.id);
    log.info({ receiverId: input.id, zoneId: input.zoneId }, 'fleet: receiver adopted, credentials issued');
    accessChanged(input.id);
    changed(input.id);
    const r = requireReceiver(input.id);
    await publishConfig(r);
    return { receiver: r, credentials: issued };
  }

  const fleet = Object.assign(emitter, {
    credentials,
    listZones: () => repo.listZones(),
    getZone: requireZone,
    createZone(input: { id?: string | undefined; name: string }) {
      const id = input.id ?? slugify(input.name);
      if (!id)
        throw badRequest('invalid_zone_id', 'Give the zone an id of letters and digits, e.g. "thon-1".');
      if (repo.getZone(id)) throw conflict('zone_exists', `A zone with id "${id}" already exists.`);
      repo.insertZone(id, input.name, nowIso());
      return requireZone(id);
    },
    renameZone(id: string, name: string) {
      requireZone(id);
      repo.renameZone(id, name);
      return requireZone(id);
    },
    deleteZone(id: string) {
      const z = requireZone(id);
      if (z.receiverCount > 0) {
        throw conflict(
          'zone_not_empty',
          `Zone "${id}" still has ${z.receiverCount} receiver(s); move or delete them first.`,
        );
      }
      repo.deleteZone(id);
    },

    listReceivers(
      filter: { zoneId?: string | undefined; adoption?: 'pending' | 'adopted' | undefined } = {},
    ) {
      flush();
      return repo
        .listReceivers()
        .filter(
          (r) =>
            (!filter.zoneId || r.zoneId === filter.zoneId) &&
            (!filter.adoption || r.adoption === filter.adoption),
        )
        .map(live_);
    },
    getReceiver: requireReceiver,

    async createReceiver(input: {
      id: string;
      name?: string | undefined;
      zoneId: string;
      position?: Position | null | undefined;
    }) {
      requireZone(input.zoneId);
      flush();
      const existing = repo.getReceiver(input.id);
      if (existing && existing.adoption === 'adopted') {
        throw conflict(
          'receiver_exists',
          `Receiver "${input.id}" is already registered (zone ${existing.zoneId}).`,
        );
      }
      const { position, ...rest } = input;
      const made = await adopt(rest, existing);
      if (position === undefined) return made;
      repo.setPosition(input.id, position);
      return { ...made, receiver: requireReceiver(input.id) };
    },

    async adoptReceiver(id: string, input: { zoneId: string; name?: string | undefined }) {
      const existing = requireReceiver(id);
      requireZone(input.zoneId);
      if (existing.adoption === 'adopted') {
        throw conflict(
          'receiver_adopted',
          `Receiver "${id}" is already adopted (zone ${existing.zoneId}); move it with PATCH, or ` +
            're-issue its credentials with POST /api/receivers/:id/credentials.',
        );
      }
      return adopt({ id, ...input }, existing);
    },

    async updateReceiver(
      id: string,
      patch: {
        name?: string | undefined;
        zoneId?: string | undefined;
        volume?: number | undefined;
        position?: Position | null | undefined;
      },
    ) {
      const r = requireReceiver(id);
      if (patch.zoneId) requireZone(patch.zoneId);
      if (patch.position !== undefined) {
        repo.setPosition(id, patch.position);
        // Where it stands is the controller's business only: the receiver's config is unchanged.
        if (patch.name === undefined && patch.zoneId === undefined && patch.volume === undefined) {
          return { receiver: requireReceiver(id), credentials: null };
        }
      }
      if (patch.zoneId && r.adoption === 'pending') {
        // Adoption: the same as POST /api/receivers/:id/adopt, plus the volume.
        if (patch.volume !== undefined) repo.updateReceiver({ ...r, volume: patch.volume });
        return adopt({ id, name: patch.name, zoneId: patch.zoneId }, r);
      }
      repo.updateReceiver({
        id,
        name: patch.name ?? r.name,
        zoneId: patch.zoneId ?? r.zoneId,
        adoption: r.adoption,
        adoptedAt: r.adoptedAt,
        ...(patch.volume !== undefined ? { volume: patch.volume } : {}),
      });
      const moved = patch.zoneId !== undefined && patch.zoneId !== r.zoneId;
      // Its old zone subscription must not survive the move: the broker drops the connection.
      if (moved) accessChanged(id);
      changed(id);
      const updated = requireReceiver(id);
      if (updated.adoption === 'adopted') await publishConfig(updated);
      return { receiver: updated, credentials: null };
    },

    async deleteReceiver(id: string) {
      const r = requireReceiver(id);
      db.transaction(() => {
        repo.deleteReceiver(id);
        credentials.revoke(id);
      })();
      live.delete(id);
      playing.delete(id);
      kids.delete(id);
      accessChanged(id);
      changed(id);
      // Tell the device it is no longer adopted, so it leaves its zone and all-receiver topics.
      await publishConfig({ ...r, adoption: 'pending', zoneId: null });
    },

    issueCredentials(id: string) {
      const r = requireReceiver(id);
      if (r.adoption !== 'adopted') {
        throw conflict(
          'receiver_pending',
          `Receiver "${id}" is pending: adopt it into a zone, which issues its credentials.`,
        );
      }
      const issued = credentials.issue(id);
      resetSession(id);
      log.info({ receiverId: id }, 'fleet: credentials re-issued; the old password no longer works');
      accessChanged(id);
      changed(id);
      return { receiver: requireReceiver(id), credentials: issued };
    },

    revokeCredentials(id: string) {
      requireReceiver(id);
      const had = credentials.revoke(id);
      log.info({ receiverId: id, had }, 'fleet: credentials revoked');
      accessChanged(id);
      changed(id);
      return requireReceiver(id);
    },

    verifyDevice: (username: string, password: string) => credentials.verify(username, password),

    brokerRights(id: string): BrokerRights | null {
      const row = repo.rights(id);
      return row ? { adopted: row.adoption === 'adopted', zoneId: row.zone_id } : null;
    },

    adoptedIds: (zoneIds?: string[]) => {
      flush();
      return zoneIds ? repo.adoptedIdsInZones(zoneIds) : repo.adoptedIds();
    },
    counts: () => {
      flush();
      return repo.counts();
    },
    isOnline: (id: string) => live.get(id)?.online ?? false,
    codecsOf: (id: string) => live.get(id)?.codecs ?? null,

    handleStatus(receiverId: string, payload: Buffer) {
      // An empty retained payload clears the topic; nothing to record.
      if (payload.byteLength === 0) return;
      const decoded = decodePayload(statusSchema, payload);
      if (!decoded.ok) {
        log.warn({ receiverId, error: decoded.error }, 'fleet: invalid status payload ignored');
        return;
      }
      const s: Status = decoded.value;
      let known = live.get(receiverId);
      if (!known) {
        if (s.state === 'offline') return;
        if (!recordUnknown(receiverId)) return;
        known = live.get(receiverId)!;
      }
      const verdict = judgeStatus(s, known.session, isConnected?.(receiverId) ?? null, Date.now());
      if (!verdict.accept) {
        const level = verdict.why === 'impossible_session' ? 'warn' : 'debug';
        log[level](
          { receiverId, session: s.session, current: known.session, why: verdict.why },
          'fleet: status not taken',
        );
        return;
      }
      if (verdict.historyReset)
        log.warn(
          { receiverId, session: s.session, previous: known.session },
          'fleet: live connection with a lower session than recorded; session history reset',
        );
      const { newSession } = verdict;
      const online = s.state === 'online';
      const wasOnline = known.online;
      known.session = s.session;
      known.online = online;
      const now = Date.now();
      pending.push({
        id: receiverId,
        online,
        session: s.session,
        lastSeen: new Date(now).toISOString(),
        firmware: s.firmware ?? null,
        volume: s.volume ?? null,
        signalLink: s.signal?.link ?? null,
        signalRssi: s.signal?.rssi ?? null,
        clockSkewMs: online ? Date.parse(s.ts) - now : null,
        // An online status says all the receiver plays: none listed (an older firmware) is "[]",
        // MP3 assumed. An offline one (the last will) leaves what was said.
        codecs: online ? JSON.stringify(s.codecs ?? []) : null,
      });
      if (online) known.codecs = s.codecs ?? [];
      if (s.keys) kids.set(receiverId, s.keys);
      const claimed = online && s.nowPlaying ? s.nowPlaying : null;
      const sent = claimed ? (playbackCheck?.(receiverId, claimed.commandId) ?? null) : null;
      if (claimed && sent)
        playing.set(receiverId, { ...claimed, bulletinId: sent.bulletinId, priority: sent.priority });
      else {
        if (claimed)
          log.warn(
            { receiverId, commandId: claimed.commandId },
            'fleet: nowPlaying names no command sent to it; not shown',
          );
        playing.delete(receiverId);
      }
      scheduleFlush();
      changed(receiverId);
      // Listeners work from memory (isOnline, the tracked deliveries): no need to write first,
      // so a thousand receivers reconnecting at once still cost a few batched transactions.
      if (online && (newSession || !wasOnline)) {
        emitter.emit('online', receiverId);
      }
    },

    notePlayback(receiverId: string, commandId: string, now: NowPlaying | null) {
      if (!live.has(receiverId)) return;
      if (now) playing.set(receiverId, now);
      else if (playing.get(receiverId)?.commandId === commandId) playing.delete(receiverId);
      else return;
      changed(receiverId);
    },

    async publishAllConfigs() {
      for (const r of repo.listReceivers()) await publishConfig(r);
    },
    trustedKids: () => kids,
    setConnectionView(view: (id: string) => boolean) {
      isConnected = view;
    },
    connectionClosed(id: string) {
      const known = live.get(id);
      if (!known?.online) return;
      known.online = false;
      playing.delete(id);
      pending.push({
        id,
        online: false,
        session: known.session,
        lastSeen: nowIso(),
        firmware: null,
        volume: null,
        signalLink: null,
        signalRssi: null,
        clockSkewMs: null,
      });
      scheduleFlush();
      changed(id);
    },
    setPlaybackCheck(
      check: (
        receiverId: string,
        commandId: string,
      ) => { bulletinId: string; priority: NowPlaying['priority'] } | null,
    ) {
      playbackCheck = check;
    },
    flush,
    stop() {
      flush();
    },
  });
  return fleet;
}
