/**
 * The receiver fleet: zones (villages) and receivers, their adoption, and their live status from
 * MQTT. Receivers that connect with an unknown id appear as `pending` and get nothing until an
 * officer adopts them into a zone; adoption publishes the receiver's signed, retained config.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import {
  decodePayload,
  type ReceiverConfig,
  type Status,
  statusSchema,
  type Topics,
} from '../../contract/mqtt.js';
import { type SigningKey, seal } from '../../contract/signing.js';
import { badRequest, conflict, notFound } from '../../errors.js';
import type { Publisher } from '../../mqtt/client.js';
import { type Db, nowIso } from '../../storage/db.js';
import type { Sequence } from '../../storage/sequence.js';
import { createFleetRepo, type NowPlaying, type Receiver, type StatusUpdate, type Zone } from './repo.js';

/** Unknown receivers beyond this many pending ones are not recorded (a flood of random ids). */
const MAX_PENDING = 2000;

export interface FleetEvents {
  /** a receiver started a new session (boot or reconnect): undelivered commands should go again */
  online: [receiverId: string];
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
  /** Registers (or adopts a pending) receiver into a zone. */
  createReceiver(input: { id: string; name?: string | undefined; zoneId: string }): Promise<Receiver>;
  updateReceiver(
    id: string,
    patch: { name?: string | undefined; zoneId?: string | undefined; volume?: number | undefined },
  ): Promise<Receiver>;
  deleteReceiver(id: string): Promise<void>;
  /** Ids of adopted receivers, in some zones or all: the cheap form for dispatch. */
  adoptedIds(zoneIds?: string[]): string[];
  counts(): { total: number; online: number; pending: number };
  isOnline(id: string): boolean;

  /** Handles a payload on `<root>/rx/<id>/status`. Never throws. */
  handleStatus(receiverId: string, payload: Buffer): void;
  /**
   * Records what a receiver plays from its progress events (receivers do not republish their
   * status for playback changes): `now` when it started `commandId`, null when that command ended.
   */
  notePlayback(receiverId: string, commandId: string, now: NowPlaying | null): void;
  /** Publishes every adopted receiver's config again (after a broker restart loses retained messages). */
  publishAllConfigs(): Promise<void>;
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
  signingKey: SigningKey;
  sequence: Sequence;
}): Fleet {
  const { db, log, topics: t } = deps;
  const repo = createFleetRepo(db);
  const emitter = new EventEmitter<FleetEvents>();
  /** live view of each known receiver, so a status message needs no SELECT */
  const live = new Map<string, { session: number | null; online: boolean }>();
  for (const r of repo.listReceivers()) live.set(r.id, { session: r.session, online: r.online });
  let pending: StatusUpdate[] = [];
  /**
   * What each receiver plays now, from its events and statuses. Volatile by nature, so it lives
   * in memory only (a restart learns it again from the next heartbeat) and costs no write per event.
   */
  const playing = new Map<string, NowPlaying>();
  let flushScheduled = false;

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
    };
    await deps.publisher.publish(t.receiverConfig(r.id), seal(deps.signingKey, config), {
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

  const fleet = Object.assign(emitter, {
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

    async createReceiver(input: { id: string; name?: string | undefined; zoneId: string }) {
      requireZone(input.zoneId);
      flush();
      const existing = repo.getReceiver(input.id);
      const at = nowIso();
      if (existing && existing.adoption === 'adopted') {
        throw conflict(
          'receiver_exists',
          `Receiver "${input.id}" is already registered (zone ${existing.zoneId}).`,
        );
      }
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
        live.set(input.id, { session: null, online: false });
      }
      const r = requireReceiver(input.id);
      await publishConfig(r);
      return r;
    },

    async updateReceiver(
      id: string,
      patch: { name?: string | undefined; zoneId?: string | undefined; volume?: number | undefined },
    ) {
      const r = requireReceiver(id);
      if (patch.zoneId) requireZone(patch.zoneId);
      const adoption = patch.zoneId ? 'adopted' : r.adoption;
      repo.updateReceiver({
        id,
        name: patch.name ?? r.name,
        zoneId: patch.zoneId ?? r.zoneId,
        adoption,
        adoptedAt: adoption === 'adopted' ? (r.adoptedAt ?? nowIso()) : null,
        ...(patch.volume !== undefined ? { volume: patch.volume } : {}),
      });
      const updated = requireReceiver(id);
      if (updated.adoption === 'adopted') await publishConfig(updated);
      return updated;
    },

    async deleteReceiver(id: string) {
      const r = requireReceiver(id);
      repo.deleteReceiver(id);
      live.delete(id);
      // Tell the device it is no longer adopted, so it leaves its zone and all-receiver topics.
      await publishConfig({ ...r, adoption: 'pending', zoneId: null });
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
      // [session rule] a status from an older session is late news: a late "offline" (last will of
      // a connection already replaced) must never overwrite a fresh "online".
      if (known.session !== null && s.session < known.session) {
        log.debug({ receiverId, session: s.session, current: known.session }, 'fleet: late status ignored');
        return;
      }
      const newSession = known.session === null || s.session > known.session;
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
      });
      if (online && s.nowPlaying) playing.set(receiverId, s.nowPlaying);
      else playing.delete(receiverId);
      scheduleFlush();
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
    },

    async publishAllConfigs() {
      for (const r of repo.listReceivers()) await publishConfig(r);
    },
    flush,
    stop() {
      flush();
    },
  });
  return fleet;
}
