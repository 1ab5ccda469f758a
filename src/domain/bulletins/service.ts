/**
 * Bulletins (play now): create, dispatch, follow each receiver's delivery through its states,
 * resend to receivers that come back or stay silent, expire, cancel, and stop.
 *
 * Active bulletins are tracked in memory (loaded again at start) so that a receiver event costs
 * no read; writes are batched into one transaction per event-loop turn.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import {
  decodePayload,
  eventSchema,
  type PlayCommand,
  type Priority,
  type ReceiverEvent,
  type StopCommand,
} from '../../contract/mqtt.js';
import { AppError, badRequest, notFound } from '../../errors.js';
import { type Db, nowIso } from '../../storage/db.js';
import type { Sequence } from '../../storage/sequence.js';
import { type AudioLibrary, assertPlayable, playable } from '../audio/library.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import type { Fleet } from '../fleet/fleet.js';
import {
  type BulletinRow,
  type BulletinTarget,
  createBulletinRepo,
  type DeliveryRow,
  type DeliveryUpdate,
} from './repo.js';
import {
  canMove,
  type DeliveryState,
  eventIgnoredBecause,
  isFinal,
  NOT_STARTED_STATES,
  stateForEvent,
} from './states.js';
import { type BulletinSummary, summarize } from './summary.js';
import { resolveTargets } from './targets.js';

/** A receiver that has not acknowledged a command within this time gets it again on its own topic. */
const ACK_TIMEOUT_MS = 10_000;
const MAX_ATTEMPTS = 10;
/** A delivery still `playing` this long after it should have finished is marked failed. */
const PLAY_REPORT_GRACE_MS = 120_000;
const SWEEP_INTERVAL_MS = 1000;
/** How long cancel and stop wait for the broker to take the command before answering. */
const HANDOFF_MS = 2000;
/** How long a zone or all-stop stays in force for receivers that were away when it was sent. */
const STOP_TTL_MS = 10 * 60 * 1000;

export interface CreateBulletinInput {
  title?: string | undefined;
  audioId: string;
  target: BulletinTarget;
  priority: Priority;
  repeat: number;
  gapSeconds: number;
  volume?: number | undefined;
  expiresInSeconds?: number | undefined;
  expiresAt?: string | undefined;
  userId?: string | undefined;
  /** the officer who approved it, when it went through the approval queue */
  approvedBy?: string | undefined;
}

export interface BulletinDetail extends Omit<BulletinRow, 'commandId' | 'seq' | 'gapMs'> {
  gapSeconds: number;
  summary: BulletinSummary;
  deliveries?: (DeliveryRow & { receiverName: string | null; zoneId: string | null })[];
}

export interface BulletinServiceEvents {
  /** a bulletin's deliveries changed (after the batch is written) */
  progress: [bulletinId: string];
}

interface Tracked {
  row: BulletinRow;
  /** the play command, sealed per topic at each send */
  readonly command: PlayCommand;
  explicit: string[];
  deliveries: Map<string, { state: DeliveryState; sentAt: number | null; attempts: number }>;
  expiresAtMs: number;
  /** after this, deliveries still `playing` are given up on */
  reportDeadlineMs: number;
}

export interface BulletinService extends EventEmitter<BulletinServiceEvents> {
  create(input: CreateBulletinInput): Promise<BulletinDetail>;
  get(id: string, withDeliveries?: boolean): BulletinDetail;
  /** Newest first; `where` is an SQL condition on the bulletin row (an officer's zone scope). */
  list(
    limit: number,
    offset: number,
    where?: { sql: string; args: string[] },
  ): { items: BulletinDetail[]; total: number };
  cancel(id: string): Promise<BulletinDetail>;
  /** Stops everything playing or queued in some zones, or everywhere. */
  stop(scope: {
    all?: boolean | undefined;
    zones?: string[] | undefined;
  }): Promise<{ commandId: string; cancelled: number }>;
  asRun(id: string): ReturnType<ReturnType<typeof createBulletinRepo>['asRun']>;
  /** The live summary of a bulletin (from memory while it is active) and whether it has ended. */
  progress(id: string): { status: BulletinRow['status']; summary: BulletinSummary };
  /** Handles a payload on `<root>/rx/<id>/event`. Never throws. */
  handleEvent(receiverId: string, payload: Buffer): void;
  /** Loads active bulletins, follows receivers coming online, starts the expiry/resend sweeper. */
  start(): void;
  close(): void;
  flush(): void;
}

export function createBulletinService(deps: {
  db: Db;
  log: Logger;
  fleet: Fleet;
  audio: AudioLibrary;
  dispatcher: Dispatcher;
  sequence: Sequence;
  defaultTtlS: number;
}): BulletinService {
  const { log, fleet, dispatcher } = deps;
  const repo = createBulletinRepo(deps.db);
  const emitter = new EventEmitter<BulletinServiceEvents>();
  // One listener per open progress stream (officers' phones, dashboards): no arbitrary cap.
  emitter.setMaxListeners(0);
  const active = new Map<string, Tracked>();
  const byCommand = new Map<string, string>();
  let pending: DeliveryUpdate[] = [];
  let flushScheduled = false;
  let sweeper: NodeJS.Timeout | null = null;

  function track(row: BulletinRow, deliveries: DeliveryRow[]): Tracked {
    // Audio stored from a damaged file (no valid duration) cannot be played: as if it were gone.
    const audio = playable(deps.audio.get(row.audioId));
    let command: PlayCommand | null = null;
    const expiresAtMs = Date.parse(row.expiresAt);
    const playMs = audio ? audio.durationMs * row.repeat + row.gapMs * (row.repeat - 1) : 0;
    const t: Tracked = {
      row,
      // Built at first send, not at load: at start the HTTP server (and so the URL base) is not up yet.
      get command() {
        if (command === null) {
          if (!audio) throw new Error(`audio ${row.audioId} of bulletin ${row.id} is gone`);
          command = dispatcher.playCommand(row, audio, (exp) => deps.audio.signedUrl(row.audioId, exp));
        }
        return command;
      },
      explicit: explicitReceivers(row.target),
      deliveries: new Map(
        deliveries.map((d) => [
          d.receiverId,
          { state: d.state, sentAt: d.sentAt ? Date.parse(d.sentAt) : null, attempts: d.attempts },
        ]),
      ),
      expiresAtMs,
      reportDeadlineMs: expiresAtMs + playMs + PLAY_REPORT_GRACE_MS,
    };
    active.set(row.id, t);
    byCommand.set(row.commandId, row.id);
    return t;
  }

  function explicitReceivers(target: BulletinTarget): string[] {
    if (target.all || !target.receivers?.length) return [];
    const inZones = new Set(fleet.adoptedIds(target.zones ?? []));
    return target.receivers.filter((id) => !inZones.has(id));
  }

  function queueUpdate(u: DeliveryUpdate): void {
    pending.push(u);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  }

  function flush(): void {
    flushScheduled = false;
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    repo.applyUpdates(batch);
    const touched = new Set(batch.map((u) => u.bulletinId));
    for (const id of touched) {
      const t = active.get(id);
      if (t && [...t.deliveries.values()].every((d) => isFinal(d.state))) {
        if (t.row.status === 'active') repo.setStatus(id, 'completed');
        active.delete(id);
        byCommand.delete(t.row.commandId);
      }
      emitter.emit('progress', id);
    }
  }

  /** Moves a tracked delivery, if the state machine allows it, and queues the write. */
  function move(
    t: Tracked,
    receiverId: string,
    to: DeliveryState,
    extra: {
      reason?: string | null;
      detail?: string | null;
      play?: number | null;
      receiverTs?: string | null;
    } = {},
  ): boolean {
    const d = t.deliveries.get(receiverId);
    if (!d || !canMove(d.state, to)) return false;
    d.state = to;
    queueUpdate({
      bulletinId: t.row.id,
      receiverId,
      state: to,
      reason: extra.reason ?? null,
      detail: extra.detail ?? null,
      play: extra.play ?? null,
      at: nowIso(),
      receiverTs: extra.receiverTs ?? null,
    });
    return true;
  }

  function markSent(t: Tracked, receiverId: string): void {
    const d = t.deliveries.get(receiverId);
    if (!d) return;
    const now = Date.now();
    d.sentAt = now;
    d.attempts += 1;
    if (d.state === 'queued') d.state = 'sent';
    queueUpdate({
      bulletinId: t.row.id,
      receiverId,
      state: d.state,
      reason: null,
      detail: null,
      play: null,
      at: new Date(now).toISOString(),
      receiverTs: null,
      sent: true,
    });
  }

  async function resend(t: Tracked, receiverId: string): Promise<void> {
    markSent(t, receiverId);
    try {
      await dispatcher.sendToReceiver(t.command, receiverId);
    } catch (err) {
      log.warn({ err: (err as Error).message, receiverId }, 'bulletins: resend failed; will retry');
    }
  }

  function detail(row: BulletinRow, withDeliveries: boolean): BulletinDetail {
    const deliveries = repo.deliveries(row.id);
    const { commandId: _c, seq: _s, gapMs, ...rest } = row;
    const out: BulletinDetail = { ...rest, gapSeconds: gapMs / 1000, summary: summarize(deliveries) };
    if (withDeliveries) {
      const receivers = new Map(fleet.listReceivers().map((r) => [r.id, r]));
      out.deliveries = deliveries.map((d) => ({
        ...d,
        receiverName: receivers.get(d.receiverId)?.name ?? null,
        zoneId: receivers.get(d.receiverId)?.zoneId ?? null,
      }));
    }
    return out;
  }

  /** Stops issued recently, sent again to receivers that come back before they expire. */
  const recentStops: {
    command: StopCommand;
    expiresAtMs: number;
    covers: (receiverId: string) => boolean;
  }[] = [];
  function rememberStop(
    command: StopCommand,
    expiresAtMs: number,
    covers: (receiverId: string) => boolean,
  ): void {
    recentStops.push({ command, expiresAtMs, covers });
    if (recentStops.length > 200) recentStops.shift();
  }

  /**
   * Waits a little for the broker to take a stop, so that the answer usually means "sent"; never
   * longer than HANDOFF_MS (a broker that is away gets it from mqtt.js's queue when it is back).
   */
  async function handedOff(sent: Promise<void>, what: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const ok = await Promise.race([
      sent.then(
        () => true,
        (err: unknown) => {
          log.error({ err: (err as Error).message }, `bulletins: ${what} publish failed`);
          return false;
        },
      ),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), HANDOFF_MS);
      }),
    ]);
    clearTimeout(timer);
    if (!ok)
      log.warn(`bulletins: ${what} not yet acknowledged by the broker; it goes out when the broker is back`);
  }

  function sweep(): void {
    const now = Date.now();
    for (const t of active.values()) {
      for (const [receiverId, d] of t.deliveries) {
        if (isFinal(d.state)) continue;
        if (now > t.expiresAtMs && NOT_STARTED_STATES.has(d.state)) {
          move(t, receiverId, 'expired', {
            reason: 'expired',
            detail: 'not played before the bulletin expired',
          });
        } else if (now > t.reportDeadlineMs && d.state === 'playing') {
          move(t, receiverId, 'failed', {
            reason: 'no_report',
            detail: 'the receiver never reported the end of playback',
          });
        } else if (
          d.state === 'sent' &&
          d.sentAt !== null &&
          now - d.sentAt > ACK_TIMEOUT_MS &&
          d.attempts < MAX_ATTEMPTS &&
          fleet.isOnline(receiverId)
        ) {
          void resend(t, receiverId);
        }
      }
    }
    flush();
  }

  const service = Object.assign(emitter, {
    async create(input: CreateBulletinInput): Promise<BulletinDetail> {
      const audio = deps.audio.get(input.audioId);
      if (!audio)
        throw badRequest('unknown_audio', `Audio "${input.audioId}" does not exist; upload it first.`);
      assertPlayable(audio);
      const target: BulletinTarget = {
        ...(input.target.all ? { all: true } : {}),
        ...(input.target.zones?.length ? { zones: [...new Set(input.target.zones)] } : {}),
        ...(input.target.receivers?.length ? { receivers: [...new Set(input.target.receivers)] } : {}),
      };
      if (!target.all && !target.zones && !target.receivers) {
        throw badRequest('empty_target', 'Choose where to play: "all": true, some zones, or some receivers.');
      }
      const receiverIds = resolveTargets(fleet, target);
      if (receiverIds.length === 0) {
        throw badRequest('no_receivers', 'No adopted receiver is in the chosen target; nothing would play.');
      }
      const now = new Date();
      const expiresAt = input.expiresAt
        ? new Date(input.expiresAt)
        : new Date(now.getTime() + (input.expiresInSeconds ?? deps.defaultTtlS) * 1000);
      if (expiresAt.getTime() <= now.getTime()) throw badRequest('expired', 'expiresAt is in the past.');
      const row: BulletinRow = {
        id: randomUUID(),
        commandId: randomUUID(),
        seq: deps.sequence.next(),
        title: input.title ?? audio.name,
        audioId: audio.id,
        priority: input.priority,
        repeat: input.repeat,
        gapMs: Math.round(input.gapSeconds * 1000),
        volume: input.volume ?? null,
        target,
        status: 'active',
        createdAt: now.toISOString(),
        expiresAt: expiresAt.toISOString(),
        createdBy: input.userId ?? null,
        approvedBy: input.approvedBy ?? null,
      };
      const online = receiverIds.filter((id) => fleet.isOnline(id));
      const sentTo = new Set(online);
      // One write per delivery, already in its state: this is the fleet-wide emergency's hot path.
      repo.insertWithDeliveries(row, receiverIds, sentTo);
      const t = track(
        row,
        receiverIds.map((id) => ({
          bulletinId: row.id,
          receiverId: id,
          state: sentTo.has(id) ? ('sent' as const) : ('queued' as const),
          reason: null,
          detail: null,
          play: null,
          attempts: sentTo.has(id) ? 1 : 0,
          sentAt: sentTo.has(id) ? row.createdAt : null,
          updatedAt: row.createdAt,
        })),
      );
      if (online.length > 0) {
        // Not awaited: with the broker away, mqtt.js keeps the command until it is back, and the
        // officer's request must not hang meanwhile. Deliveries stay `sent`; the sweeper resends
        // to each receiver that does not acknowledge.
        dispatcher.sendToTarget(t.command, target, t.explicit).catch((err: unknown) => {
          log.error({ err: (err as Error).message, bulletinId: row.id }, 'bulletins: publish failed');
        });
      }
      log.info(
        { bulletinId: row.id, priority: row.priority, receivers: receiverIds.length, online: online.length },
        'bulletin dispatched',
      );
      // The answer comes from memory: reading back a thousand deliveries would only delay it.
      const { commandId: _c, seq: _s, gapMs, ...rest } = row;
      return { ...rest, gapSeconds: gapMs / 1000, summary: summarize(t.deliveries.values()) };
    },

    get(id: string, withDeliveries = true): BulletinDetail {
      flush();
      const row = repo.get(id);
      if (!row) throw notFound('Bulletin', id);
      return detail(row, withDeliveries);
    },

    list(limit: number, offset: number, where?: { sql: string; args: string[] }) {
      flush();
      if (where) {
        const page = repo.listWhere(where, limit, offset);
        return { items: page.rows.map((r) => detail(r, false)), total: page.total };
      }
      return { items: repo.list(limit, offset).map((r) => detail(r, false)), total: repo.count() };
    },

    async cancel(id: string): Promise<BulletinDetail> {
      flush();
      const row = repo.get(id);
      if (!row) throw notFound('Bulletin', id);
      if (row.status !== 'active') {
        throw new AppError(
          409,
          'not_active',
          `Bulletin "${id}" is already ${row.status}; nothing to cancel.`,
        );
      }
      const t = active.get(id);
      repo.setStatus(id, 'cancelled');
      if (t) {
        t.row.status = 'cancelled';
        for (const receiverId of t.deliveries.keys()) {
          move(t, receiverId, 'cancelled', { reason: 'cancelled', detail: 'cancelled by an officer' });
        }
      }
      const expiresAt = new Date(Date.parse(row.expiresAt));
      const { command, sent } = dispatcher.stop(row.target, { bulletinId: id, expiresAt });
      const targeted = new Set(t ? t.deliveries.keys() : repo.deliveries(id).map((d) => d.receiverId));
      rememberStop(command, expiresAt.getTime(), (receiverId) => targeted.has(receiverId));
      await handedOff(sent, 'cancel');
      flush();
      return detail(repo.get(id)!, true);
    },

    async stop(scope: { all?: boolean | undefined; zones?: string[] | undefined }) {
      if (!scope.all && !scope.zones?.length) {
        throw badRequest('empty_target', 'Say where to stop: "all": true or some zones.');
      }
      const zones = scope.all ? [] : [...new Set(scope.zones)];
      const known = new Set(fleet.listZones().map((z) => z.id));
      const unknown = zones.filter((z) => !known.has(z));
      if (unknown.length) throw badRequest('unknown_zone', `Unknown zone(s): ${unknown.join(', ')}.`);
      const inScope = scope.all ? null : new Set(fleet.adoptedIds(zones));
      let cancelled = 0;
      for (const t of active.values()) {
        for (const receiverId of t.deliveries.keys()) {
          if (inScope && !inScope.has(receiverId)) continue;
          if (move(t, receiverId, 'cancelled', { reason: 'stopped', detail: 'stopped by an officer' }))
            cancelled++;
        }
      }
      const expiresAt = new Date(Date.now() + STOP_TTL_MS);
      const { command, sent } = dispatcher.stop(scope.all ? { all: true } : { zones }, {
        expiresAt,
      });
      rememberStop(command, expiresAt.getTime(), (receiverId) => !inScope || inScope.has(receiverId));
      await handedOff(sent, 'stop');
      flush();
      log.warn({ scope, cancelled }, 'stop issued');
      return { commandId: command.id, cancelled };
    },

    progress(id: string) {
      const t = active.get(id);
      if (t) return { status: t.row.status, summary: summarize(t.deliveries.values()) };
      flush();
      const row = repo.get(id);
      if (!row) throw notFound('Bulletin', id);
      return { status: row.status, summary: summarize(repo.deliveries(id)) };
    },

    asRun: (id: string) => {
      flush();
      if (!repo.get(id)) throw notFound('Bulletin', id);
      return repo.asRun(id);
    },

    handleEvent(receiverId: string, payload: Buffer): void {
      const decoded = decodePayload(eventSchema, payload);
      if (!decoded.ok) {
        log.warn({ receiverId, error: decoded.error }, 'bulletins: invalid event payload ignored');
        return;
      }
      const e: ReceiverEvent = decoded.value;
      const bulletinId = byCommand.get(e.commandId);
      const t = bulletinId ? active.get(bulletinId) : undefined;
      if (!t) {
        log.debug(
          { receiverId, commandId: e.commandId, state: e.state },
          'bulletins: event for no active bulletin',
        );
        return;
      }
      if (!t.deliveries.has(receiverId)) {
        log.warn({ receiverId, bulletinId }, 'bulletins: event from a receiver the bulletin was not sent to');
        return;
      }
      const ignored = eventIgnoredBecause(e, t.deliveries.get(receiverId)!.state);
      if (ignored) {
        log[e.reason === 'replayed' ? 'debug' : 'warn'](
          { receiverId, commandId: e.commandId, state: e.state, reason: e.reason },
          `bulletins: ${ignored}`,
        );
        return;
      }
      const to = stateForEvent(e.state);
      if (e.state === 'started') {
        fleet.notePlayback(receiverId, e.commandId, {
          commandId: e.commandId,
          bulletinId: t.row.id,
          priority: t.row.priority,
          play: e.play ?? 1,
          startedAt: e.ts,
        });
      } else if (isFinal(to)) {
        fleet.notePlayback(receiverId, e.commandId, null);
      }
      move(t, receiverId, to, {
        reason: e.reason ?? (e.state === 'rejected' ? 'rejected' : null),
        detail: e.detail ?? null,
        play: e.play ?? null,
        receiverTs: e.ts,
      });
    },

    start(): void {
      for (const row of repo.active()) track(row, repo.deliveries(row.id));
      fleet.on('online', (receiverId) => {
        // First the stops it may have missed while away: a receiver that only lost its link still
        // holds what it was told to drop (the all-stop must always work).
        const now = Date.now();
        for (let i = recentStops.length - 1; i >= 0; i--) {
          if (recentStops[i]!.expiresAtMs < now) recentStops.splice(i, 1);
        }
        for (const s of recentStops) {
          if (s.covers(receiverId)) {
            dispatcher.sendToReceiver(s.command, receiverId).catch((err: unknown) => {
              log.warn({ err: (err as Error).message, receiverId }, 'bulletins: stop resend failed');
            });
          }
        }
        for (const t of active.values()) {
          const d = t.deliveries.get(receiverId);
          if (!d || Date.now() > t.expiresAtMs) continue;
          // Back from offline or rebooted: anything not started goes again on its own topic; a
          // receiver that still holds it ignores the duplicate id.
          if (NOT_STARTED_STATES.has(d.state)) void resend(t, receiverId);
        }
      });
      sweeper = setInterval(sweep, SWEEP_INTERVAL_MS);
      sweeper.unref();
    },

    close(): void {
      if (sweeper) clearInterval(sweeper);
      sweeper = null;
      flush();
    },

    flush,
  });
  return service;
}
