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
import {
  decodePayload,
  eventSchema,
  type PlayCommand,
  type Priority,
  type ReceiverEvent,
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
import { createStopTracker, type StopDetail, type StopRecord, type StopTracker } from './stops.js';
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
/**
 * How long a stop stays in force at least, for receivers that were away when it was sent; longer
 * when a bulletin it covers may still be playing (its report deadline), at most STOP_MAX_TTL_MS.
 */
const STOP_TTL_MS = 10 * 60 * 1000;
const STOP_MAX_TTL_MS = 7 * 86400 * 1000;
/**
 * A download that failed (network trouble, a controller restart) is offered again under a new
 * command id while the bulletin is valid: after REOFFER_BASE_MS, doubled at each try, at most
 * MAX_REOFFERS times. Only `download_failed`: a checksum or size mismatch will not get better.
 */
const REOFFER_BASE_MS = 15_000;
const MAX_REOFFERS = 3;

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

interface TrackedDelivery {
  state: DeliveryState;
  sentAt: number | null;
  attempts: number;
  /** a play of it started (the receiver said so) */
  played: boolean;
  /** the final state is the controller's conclusion, not the receiver's report */
  concluded: boolean;
  /** the id of the copy offered last, when a re-offer gave it one */
  commandId: string | null;
  reoffers: number;
  /** a failed download is offered again from then on */
  retryAtMs: number | null;
}

interface Tracked {
  row: BulletinRow;
  /** the play command, sealed per topic at each send */
  readonly command: PlayCommand;
  /** sha256 of the bulletin's audio: a `finished` proves a play only with it */
  sha256: string | null;
  explicit: string[];
  deliveries: Map<string, TrackedDelivery>;
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
}): BulletinService {
  const reofferBaseMs = deps.reofferBaseMs ?? REOFFER_BASE_MS;
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
  const stops: StopTracker = createStopTracker({
    db: deps.db,
    log,
    dispatcher,
    isOnline: (id) => fleet.isOnline(id),
    connected: deps.connected ?? (() => true),
    confirmed: (stop, receiverId) => stopConfirmed(stop, receiverId),
    changed: (stopId) => emitter.emit('stopProgress', stopId),
  });

  function track(row: BulletinRow, deliveries: DeliveryRow[]): Tracked {
    // Audio stored from a damaged file (no valid duration) cannot be played: as if it were gone.
    const audio = playable(deps.audio.get(row.audioId));
    let command: PlayCommand | null = null;
    const expiresAtMs = Date.parse(row.expiresAt);
    const playMs = audio ? audio.durationMs * row.repeat + row.gapMs * (row.repeat - 1) : 0;
    const t: Tracked = {
      row,
      sha256: audio?.sha256 ?? null,
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
          {
            state: d.state,
            sentAt: d.sentAt ? Date.parse(d.sentAt) : null,
            attempts: d.attempts,
            played: d.play !== null,
            concluded: d.concluded ?? false,
            commandId: d.commandId ?? null,
            reoffers: d.reoffers ?? 0,
            // a re-offer due before a restart goes out at the first sweep
            retryAtMs: d.state === 'queued' && (d.reoffers ?? 0) > 0 ? 0 : null,
          },
        ]),
      ),
      expiresAtMs,
      reportDeadlineMs: expiresAtMs + playMs + PLAY_REPORT_GRACE_MS,
    };
    active.set(row.id, t);
    byCommand.set(row.commandId, row.id);
    for (const d of t.deliveries.values()) if (d.commandId) byCommand.set(d.commandId, row.id);
    return t;
  }

  /** The play command as `receiverId` is to get it: the bulletin's, or its re-offer's id. */
  function commandFor(t: Tracked, d: TrackedDelivery): PlayCommand {
    return d.commandId ? { ...t.command, id: d.commandId } : t.command;
  }

  /** Forgets a bulletin whose deliveries are all final. */
  function untrack(t: Tracked): void {
    active.delete(t.row.id);
    byCommand.delete(t.row.commandId);
    for (const d of t.deliveries.values()) if (d.commandId) byCommand.delete(d.commandId);
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
        if (t.row.status === 'active') {
          repo.setStatus(id, 'completed');
          t.row.status = 'completed';
        }
        untrack(t);
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
      /** the receiver's own word; absent: the controller's conclusion */
      event?: string | null;
      /** allow leaving a final state the controller concluded (the receiver's later proof) */
      correct?: boolean;
    } = {},
  ): boolean {
    const d = t.deliveries.get(receiverId);
    if (!d) return false;
    const allowed = canMove(d.state, to) || (extra.correct === true && d.concluded && isFinal(d.state));
    if (!allowed) return false;
    d.state = to;
    const concluded = extra.event === undefined || extra.event === null;
    d.concluded = isFinal(to) && concluded;
    queueUpdate({
      bulletinId: t.row.id,
      receiverId,
      state: to,
      reason: extra.reason ?? null,
      detail: extra.detail ?? null,
      play: extra.play ?? null,
      at: nowIso(),
      receiverTs: extra.receiverTs ?? null,
      event: extra.event ?? null,
      concluded: d.concluded,
    });
    return true;
  }

  /** Writes a receiver's report to the as-run log without changing the delivery. */
  function logOnly(t: Tracked, receiverId: string, e: ReceiverEvent, detail: string | null = null): void {
    const d = t.deliveries.get(receiverId);
    queueUpdate({
      bulletinId: t.row.id,
      receiverId,
      state: d?.state ?? stateForEvent(e.state),
      reason: e.reason ?? null,
      detail: detail ?? e.detail ?? null,
      play: e.play ?? null,
      at: nowIso(),
      receiverTs: e.ts,
      event: e.state,
      logOnly: true,
    });
  }

  function markSent(t: Tracked, receiverId: string, reoffer = false): void {
    const d = t.deliveries.get(receiverId);
    if (!d) return;
    const now = Date.now();
    d.sentAt = now;
    d.attempts += 1;
    if (reoffer) {
      // A new id: the receiver remembers the old one as handled and would refuse it as a replay.
      d.commandId = randomUUID();
      d.reoffers += 1;
      d.retryAtMs = null;
      byCommand.set(d.commandId, t.row.id);
    }
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
      ...(reoffer ? { commandId: d.commandId, reoffers: d.reoffers } : {}),
    });
  }

  async function resend(t: Tracked, receiverId: string, reoffer = false): Promise<void> {
    markSent(t, receiverId, reoffer);
    const d = t.deliveries.get(receiverId);
    if (!d) return;
    try {
      await dispatcher.sendToReceiver(commandFor(t, d), receiverId);
    } catch (err) {
      log.warn({ err: (err as Error).message, receiverId }, 'bulletins: resend failed; will retry');
    }
  }

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
        } else if (now > t.reportDeadlineMs && (d.state === 'playing' || stopping)) {
          move(t, receiverId, 'failed', {
            reason: 'no_report',
            detail: stopping
              ? 'stopped while playing; the receiver never confirmed the stop nor reported the end'
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

  /** A receiver's report about the copy it holds: what it moves, what it proves, what it logs. */
  function applyEvent(t: Tracked, receiverId: string, d: TrackedDelivery, e: ReceiverEvent): void {
    const to = stateForEvent(e.state);
    const base = { play: e.play ?? null, receiverTs: e.ts, event: e.state };
    if (e.state === 'finished' && (!e.sha256 || e.sha256 !== t.sha256)) {
      // [protocol §9] `finished` proves a play only with the sha256 of the bytes played.
      if (!e.sha256) {
        log.warn(
          { receiverId, commandId: e.commandId },
          'bulletins: finished without sha256; not proof of play',
        );
        logOnly(t, receiverId, e, 'finished reported without the sha256 of the bytes played: not counted');
        return;
      }
      move(t, receiverId, 'failed', {
        ...base,
        reason: 'checksum_mismatch',
        detail: 'the receiver reports playing bytes whose sha256 differs from the bulletin audio',
        correct: true,
      });
      fleet.notePlayback(receiverId, e.commandId, null);
      return;
    }
    if (e.state === 'started' || e.state === 'finished') d.played = true;
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
    if (
      e.state === 'failed' &&
      e.reason === 'download_failed' &&
      d.state !== 'stopping' &&
      d.reoffers < MAX_REOFFERS &&
      Date.now() + reofferBaseMs < t.expiresAtMs &&
      t.row.status === 'active'
    ) {
      // Not final yet: the download is offered again later (a controller restart, a 4G outage).
      d.state = 'queued';
      d.retryAtMs = Date.now() + reofferBaseMs * 2 ** d.reoffers;
      queueUpdate({
        bulletinId: t.row.id,
        receiverId,
        state: 'queued',
        reason: 'download_failed',
        detail: `download failed (${e.detail ?? 'no detail'}); offered again at ${new Date(d.retryAtMs).toISOString()} (re-offer ${d.reoffers + 1} of ${MAX_REOFFERS})`,
        play: null,
        at: nowIso(),
        receiverTs: e.ts,
        event: e.state,
      });
      return;
    }
    // Started or finished after the controller concluded otherwise (a clock or deadline
    // conclusion, a stop's confirmation): the receiver's word wins, and says what aired.
    const correct = e.state === 'finished' || (e.state === 'started' && d.concluded);
    const moved = move(t, receiverId, d.state === 'stopping' && e.state === 'finished' ? 'done' : to, {
      ...base,
      reason: e.reason ?? (e.state === 'rejected' ? 'rejected' : null),
      detail:
        e.detail ??
        (d.state === 'stopping' && e.state === 'finished'
          ? 'played to the end before the stop reached it'
          : null),
      correct,
    });
    // Reports that change nothing (another play while a stop is on its way, a late report) are
    // still what the receiver did: the as-run log keeps them.
    if (!moved) logOnly(t, receiverId, e);
  }

  /**
   * A report for a bulletin no longer tracked (every delivery final): kept in the as-run log, and a
   * final state the controller concluded yields to the receiver's proof of play.
   */
  function lateEvent(receiverId: string, e: ReceiverEvent): void {
    const row = repo.bulletinOfCommand(e.commandId, receiverId);
    const d = row ? repo.delivery(row.id, receiverId) : null;
    if (!row || !d) {
      log.debug(
        { receiverId, commandId: e.commandId, state: e.state },
        'bulletins: event for no bulletin of it',
      );
      return;
    }
    if (e.state === 'rejected' || e.state === 'received' || e.state === 'downloading' || e.state === 'ready')
      return;
    const sha = deps.audio.get(row.audioId)?.sha256 ?? null;
    const proof = e.state === 'finished' && e.sha256 !== undefined && e.sha256 === sha;
    const correct = proof && d.concluded === true && d.state !== 'done';
    queueUpdate({
      bulletinId: row.id,
      receiverId,
      state: correct ? 'done' : d.state,
      reason: e.reason ?? null,
      detail: correct
        ? 'played; the report came after the controller had concluded otherwise'
        : (e.detail ?? null),
      play: e.play ?? null,
      at: nowIso(),
      receiverTs: e.ts,
      event: e.state,
      logOnly: !correct,
    });
    if (correct)
      log.warn({ receiverId, bulletinId: row.id }, 'bulletins: a late report corrected a concluded delivery');
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
