/**
 * Bulletins (play now): create, dispatch, follow each receiver's delivery through its states,
 * resend to receivers that come back or stay silent, re-offer a failed download, expire, cancel,
 * and stop.
 *
 * What the officer sees comes from what receivers reported: a cancel or stop moves the deliveries
 * it covers to `stopping`, and only the receiver's report (`cancelled`, `finished`, or its
 * confirmation of the stop) or a stated deadline ends them. The stops themselves are facts of
 * their own (stops.ts), persisted and re-sent until each receiver confirms.
 *
 * Active bulletins are tracked in memory (loaded again at start) so that a receiver event costs
 * no read; writes are batched into one transaction per event-loop turn.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { decodePayload, eventSchema, type Priority, type ReceiverEvent } from '../../contract/mqtt.js';
import { AppError, badRequest, notFound } from '../../errors.js';
import type { Db } from '../../storage/db.js';
import type { Sequence } from '../../storage/sequence.js';
import { type AudioLibrary, assertPlayable } from '../audio/library.js';
import type { RenditionService } from '../audio/renditions.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import type { Fleet } from '../fleet/fleet.js';
import { type BulletinRow, type BulletinTarget, createBulletinRepo, type DeliveryRow } from './repo.js';
import { createReportHandler } from './reports.js';
import { eventIgnoredBecause, isFinal, NOT_STARTED_STATES } from './states.js';
import { createStopTracker, type StopDetail, type StopRecord, type StopTracker } from './stops.js';
import { type BulletinSummary, summarize } from './summary.js';
import { resolveTargets } from './targets.js';
import { createDeliveryTracker, type Tracked } from './tracker.js';

/** A receiver that has not acknowledged a command within this time gets it again on its own topic. */
const ACK_TIMEOUT_MS = 10_000;
const MAX_ATTEMPTS = 10;
const SWEEP_INTERVAL_MS = 1000;
/** How long cancel and stop wait for the broker to take the command before answering. */
const HANDOFF_MS = 2000;
/**
 * How long a stop stays in force at least, for receivers that were away when it was sent; longer
 * when a bulletin it covers may still be playing (its report deadline), at most STOP_MAX_TTL_MS.
 */
const STOP_TTL_MS = 10 * 60 * 1000;
const STOP_MAX_TTL_MS = 7 * 86400 * 1000;
/**
 * A download that failed (network trouble, a controller restart) is offered again under a new
 * command id while the bulletin is valid: after REOFFER_BASE_MS, doubled at each try, at most
 * three times (reports.ts). Only `download_failed`: a checksum or size mismatch will not get better.
 */
const REOFFER_BASE_MS = 15_000;

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
  /** a stop's progress changed */
  stopProgress: [stopId: string];
}

/** What the answer to a cancel or stop says: the stop, recorded, and how far it got. */
export interface StopAnswer {
  stop: StopDetail;
  /** deliveries now `stopping`, waiting for their receivers' word */
  stopping: number;
  /** whether the broker took the stop before the answer (false: accepted, goes out when it is back) */
  handedOff: boolean;
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
  /** Cancels a bulletin: its deliveries show `stopping` until each receiver says what became of them. */
  cancel(id: string, userId?: string | null): Promise<BulletinDetail & { stop: StopAnswer }>;
  /** Stops everything playing or queued in some zones, or everywhere. */
  stop(
    scope: { all?: boolean | undefined; zones?: string[] | undefined },
    userId?: string | null,
  ): Promise<StopAnswer>;
  /** A stop with each receiver's progress, or null. */
  getStop(id: string): StopDetail | null;
  listStops(
    limit: number,
    offset: number,
    where?: { sql: string; args: string[] },
  ): { items: StopDetail[]; total: number };
  /**
   * The bulletin and priority of `commandId` when it is a command sent to `receiverId` (so that a
   * receiver's `nowPlaying` is shown only for what it was really sent), else null.
   */
  commandSentTo(receiverId: string, commandId: string): { bulletinId: string; priority: Priority } | null;
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
  /** whether the controller's link to the broker is up */
  connected?: () => boolean;
  /** first wait before a failed download is offered again (default REOFFER_BASE_MS) */
  reofferBaseMs?: number;
  /** the small speech renditions each receiver may be sent instead of the original */
  renditions?: Pick<RenditionService, 'files' | 'ensure'> | null;
}): BulletinService {
  const reofferBaseMs = deps.reofferBaseMs ?? REOFFER_BASE_MS;
  const { log, fleet, dispatcher } = deps;
  const repo = createBulletinRepo(deps.db);
  const emitter = new EventEmitter<BulletinServiceEvents>();
  // One listener per open progress stream (officers' phones, dashboards): no arbitrary cap.
  emitter.setMaxListeners(0);
  const tracker = createDeliveryTracker({
    repo,
    log,
    fleet,
    audio: deps.audio,
    dispatcher,
    files: deps.renditions ? (id) => deps.renditions!.files(id) : undefined,
    progress: (id: string) => emitter.emit('progress', id),
  });
  const { active, byCommand, track, move, logOnly, resend, flush } = tracker;
  const { applyEvent, lateEvent } = createReportHandler({
    tracker,
    repo,
    log,
    fleet,
    audio: deps.audio,
    reofferBaseMs,
  });
  let sweeper: NodeJS.Timeout | null = null;
  const stops: StopTracker = createStopTracker({
    db: deps.db,
    log,
    dispatcher,
    isOnline: (id) => fleet.isOnline(id),
    connected: deps.connected ?? (() => true),
    confirmed: (stop, receiverId) => stopConfirmed(stop, receiverId),
    changed: (stopId) => emitter.emit('stopProgress', stopId),
  });

  /**
   * A receiver applied `stop`: it reported `cancelled` for each item of it that it held, before
   * confirming. Deliveries it covers that are still `stopping` were not held (never received, or
   * already over and their report lost): nothing of them can play there any more.
   */
  function stopConfirmed(stop: StopRecord, receiverId: string): void {
    for (const t of active.values()) {
      if (t.row.seq >= stop.seq || (stop.bulletinId && stop.bulletinId !== t.row.id)) continue;
      if (t.deliveries.get(receiverId)?.state !== 'stopping') continue;
      move(t, receiverId, 'cancelled', {
        reason: stop.kind === 'cancel' ? 'cancelled' : 'stopped',
        detail: 'the receiver confirmed the stop; it was not playing or holding this bulletin',
      });
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

  /**
   * Waits a little for the broker to take a stop, so that the answer usually means "sent"; never
   * longer than HANDOFF_MS (a broker that is away gets it from mqtt.js's queue when it is back).
   */
  async function handedOff(sent: Promise<boolean>, what: string): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const ok = await Promise.race([
      sent,
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), HANDOFF_MS);
      }),
    ]);
    clearTimeout(timer);
    if (!ok)
      log.warn(`bulletins: ${what} not yet acknowledged by the broker; it goes out when the broker is back`);
    return ok;
  }

  /**
   * Records and sends a stop over `receiverIds`, moving every delivery it covers that is not final
   * to `stopping`. The stop stays valid at least STOP_TTL_MS, and as long as a covered bulletin may
   * still be playing somewhere.
   */
  async function issueStop(input: {
    kind: 'cancel' | 'stop';
    bulletinId?: string;
    target: BulletinTarget;
    receiverIds: string[];
    covers: (t: Tracked) => boolean;
    userId?: string | null | undefined;
  }): Promise<StopAnswer> {
    const now = Date.now();
    let until = now + STOP_TTL_MS;
    let stopping = 0;
    const inScope = new Set(input.receiverIds);
    for (const t of active.values()) {
      if (!input.covers(t)) continue;
      let touched = false;
      for (const receiverId of t.deliveries.keys()) {
        if (!inScope.has(receiverId)) continue;
        if (move(t, receiverId, 'stopping', { detail: `${input.kind} sent; waiting for the receiver` })) {
          stopping++;
          touched = true;
        }
      }
      if (touched) until = Math.max(until, t.reportDeadlineMs);
    }
    until = Math.min(until, now + STOP_MAX_TTL_MS);
    const { record, sent } = stops.issue({
      kind: input.kind,
      bulletinId: input.bulletinId,
      target: input.target,
      receiverIds: input.receiverIds,
      expiresAt: new Date(until),
      userId: input.userId,
    });
    flush();
    const ok = await handedOff(sent, input.kind);
    stops.flush();
    return { stop: stops.get(record.id, false)!, stopping, handedOff: ok };
  }

  function sweep(): void {
    const now = Date.now();
    const up = deps.connected?.() ?? true;
    for (const t of active.values()) {
      for (const [receiverId, d] of t.deliveries) {
        if (isFinal(d.state)) continue;
        const stopping = d.state === 'stopping';
        if (now > t.expiresAtMs && (NOT_STARTED_STATES.has(d.state) || (stopping && !d.played))) {
          // A receiver cannot start a bulletin after its expiry (protocol §7.1): the clock decides.
          move(t, receiverId, 'expired', {
            reason: 'expired',
            detail: stopping
              ? 'stopped; the receiver never confirmed, and the bulletin has expired unplayed there'
              : 'not played before the bulletin expired',
          });
        } else if (
          now > t.reportDeadlineMs &&
          (d.state === 'playing' || d.state === 'interrupted' || stopping)
        ) {
          // An interrupted bulletin resumes before its expiry or not at all: by this deadline its
          // end (or its expiry) would have been reported.
          move(t, receiverId, 'failed', {
            reason: 'no_report',
            detail: stopping
              ? 'stopped while playing; the receiver never confirmed the stop nor reported the end'
              : d.state === 'interrupted'
                ? 'interrupted; the receiver never reported resuming it, its expiry or its end'
                : 'the receiver never reported the end of playback',
          });
        } else if (
          d.state === 'queued' &&
          d.retryAtMs !== null &&
          now >= d.retryAtMs &&
          now < t.expiresAtMs &&
          fleet.isOnline(receiverId) &&
          up
        ) {
          void resend(t, receiverId, true);
        } else if (
          d.state === 'sent' &&
          d.sentAt !== null &&
          now - d.sentAt > ACK_TIMEOUT_MS &&
          d.attempts < MAX_ATTEMPTS &&
          fleet.isOnline(receiverId) &&
          up
        ) {
          void resend(t, receiverId);
        }
      }
    }
    flush();
    stops.sweep(now);
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
      // The bulletin does not wait for its renditions: what exists goes now (the original at
      // least), and receivers sent it later (a reconnection, a re-offer) get the small copies.
      deps.renditions?.ensure(audio.id).catch(() => undefined);
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
        // One publish per zone (or one for all) when every receiver gets the same file; else each
        // online receiver gets the file picked for it on its own topic (protocol §7.3).
        const shared = tracker.sharedCommand(t, receiverIds);
        const sends = shared
          ? [dispatcher.sendToTarget(shared, target, t.explicit)]
          : online.map((id) => {
              const d = t.deliveries.get(id)!;
              return dispatcher.sendToReceiver(tracker.commandFor(t, d, id), id);
            });
        Promise.all(sends).catch((err: unknown) => {
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

    async cancel(id: string, userId?: string | null) {
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
      if (t) t.row.status = 'cancelled';
      const receiverIds = t ? [...t.deliveries.keys()] : repo.deliveries(id).map((d) => d.receiverId);
      const answer = await issueStop({
        kind: 'cancel',
        bulletinId: id,
        target: row.target,
        receiverIds,
        covers: (x) => x.row.id === id,
        userId,
      });
      log.warn({ bulletinId: id, stopId: answer.stop.id, stopping: answer.stopping }, 'bulletin cancelled');
      return { ...detail(repo.get(id)!, true), stop: answer };
    },

    async stop(scope: { all?: boolean | undefined; zones?: string[] | undefined }, userId?: string | null) {
      if (!scope.all && !scope.zones?.length) {
        throw badRequest('empty_target', 'Say where to stop: "all": true or some zones.');
      }
      const zones = scope.all ? [] : [...new Set(scope.zones)];
      const known = new Set(fleet.listZones().map((z) => z.id));
      const unknown = zones.filter((z) => !known.has(z));
      if (unknown.length) throw badRequest('unknown_zone', `Unknown zone(s): ${unknown.join(', ')}.`);
      const receiverIds = scope.all ? fleet.adoptedIds() : fleet.adoptedIds(zones);
      const answer = await issueStop({
        kind: 'stop',
        target: scope.all ? { all: true } : { zones },
        receiverIds,
        covers: () => true,
        userId,
      });
      log.warn(
        { scope, stopId: answer.stop.id, stopping: answer.stopping, handedOff: answer.handedOff },
        'stop issued',
      );
      return answer;
    },

    getStop: (id: string) => stops.get(id, true),
    listStops: (limit: number, offset: number, where?: { sql: string; args: string[] }) =>
      stops.list(limit, offset, where),

    commandSentTo(receiverId: string, commandId: string) {
      const bulletinId = byCommand.get(commandId);
      const t = bulletinId ? active.get(bulletinId) : undefined;
      if (t) return t.deliveries.has(receiverId) ? { bulletinId: t.row.id, priority: t.row.priority } : null;
      const row = repo.bulletinOfCommand(commandId, receiverId);
      if (!row || !repo.delivery(row.id, receiverId)) return null;
      return { bulletinId: row.id, priority: row.priority };
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
        if (stops.handleEvent(receiverId, e)) return;
        lateEvent(receiverId, e);
        return;
      }
      const d = t.deliveries.get(receiverId);
      if (!d) {
        log.warn({ receiverId, bulletinId }, 'bulletins: event from a receiver the bulletin was not sent to');
        return;
      }
      // A copy offered earlier than the receiver's current one (a re-offer gave it a new id).
      const current = d.commandId ?? t.row.commandId;
      if (e.commandId !== current && e.state !== 'started' && e.state !== 'finished') {
        log.debug(
          { receiverId, commandId: e.commandId },
          'bulletins: report about an earlier copy; logged only',
        );
        logOnly(t, receiverId, e);
        return;
      }
      const ignored = eventIgnoredBecause(e, d.state);
      if (ignored) {
        log[e.reason === 'replayed' ? 'debug' : 'warn'](
          { receiverId, commandId: e.commandId, state: e.state, reason: e.reason },
          `bulletins: ${ignored}`,
        );
        return;
      }
      applyEvent(t, receiverId, d, e);
    },

    start(): void {
      for (const row of repo.active()) track(row, repo.deliveries(row.id));
      stops.start();
      fleet.on('online', (receiverId) => {
        // First the stops it may have missed while away: a receiver that only lost its link still
        // holds what it was told to drop (the all-stop must always work).
        stops.online(receiverId);
        for (const t of active.values()) {
          const d = t.deliveries.get(receiverId);
          if (!d || Date.now() > t.expiresAtMs) continue;
          // Back from offline or rebooted: anything not started goes again on its own topic; a
          // receiver that still holds it ignores the duplicate id. A failed download waits for
          // its re-offer time.
          if (NOT_STARTED_STATES.has(d.state) && d.retryAtMs === null) void resend(t, receiverId);
        }
      });
      sweeper = setInterval(sweep, SWEEP_INTERVAL_MS);
      sweeper.unref();
    },

    close(): void {
      if (sweeper) clearInterval(sweeper);
      sweeper = null;
      flush();
      stops.flush();
    },

    flush,
  });
  return service;
}
