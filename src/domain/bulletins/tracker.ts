/**
 * The deliveries the bulletin service follows, in memory: one entry per active bulletin (and per
 * cancelled one whose receivers have not all said what became of it), so that a receiver report
 * costs no read; their writes batched into one transaction per event-loop turn; the moves the
 * state machine allows; and the sends of one bulletin's command to one receiver.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { PlayCommand, ReceiverEvent } from '../../contract/mqtt.js';
import { nowIso } from '../../storage/db.js';
import { type AudioLibrary, playable } from '../audio/library.js';
import { type AudioFile, codecOfOriginal } from '../audio/renditions.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import { pickFile } from '../dispatch/pick.js';
import type { Fleet } from '../fleet/fleet.js';
import type { BulletinRepo, BulletinRow, BulletinTarget, DeliveryRow, DeliveryUpdate } from './repo.js';
import { canMove, type DeliveryState, isFinal, stateForEvent } from './states.js';

/** A delivery still `playing` this long after it should have finished is marked failed. */
const PLAY_REPORT_GRACE_MS = 120_000;

export interface TrackedDelivery {
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

export interface Tracked {
  row: BulletinRow;
  /**
   * the play command per file of the audio (by sha256): each receiver gets the one picked for it
   * (dispatch/pick.ts), sealed per topic at each send
   */
  readonly commands: Map<string, PlayCommand>;
  /** sha256 of the bulletin's audio and of its renditions: a `finished` proves a play only with one */
  readonly proofs: Set<string>;
  explicit: string[];
  deliveries: Map<string, TrackedDelivery>;
  expiresAtMs: number;
  /** after this, deliveries still `playing` are given up on */
  reportDeadlineMs: number;
}

export function createDeliveryTracker(deps: {
  repo: BulletinRepo;
  log: Logger;
  fleet: Fleet;
  audio: AudioLibrary;
  dispatcher: Dispatcher;
  /** the original and the renditions of an audio (renditions.ts); default: the original only */
  files?: ((audioId: string) => AudioFile[]) | undefined;
  /** a bulletin's deliveries changed (after the batch is written) */
  progress: (bulletinId: string) => void;
}) {
  const { repo, log, fleet, dispatcher } = deps;
  const active = new Map<string, Tracked>();
  /** command id (the bulletin's, or a re-offer's) → bulletin id */
  const byCommand = new Map<string, string>();
  let pending: DeliveryUpdate[] = [];
  let flushScheduled = false;

  /** The original and the renditions of an audio that may be played, original first. */
  function filesOf(audioId: string): AudioFile[] {
    if (deps.files) return deps.files(audioId);
    // Audio stored from a damaged file (no valid duration) cannot be played: as if it were gone.
    const a = playable(deps.audio.get(audioId));
    if (!a) return [];
    const { sha256, size, durationMs, mime } = a;
    return [{ audioId, codec: codecOfOriginal(a), rendition: null, mime, sha256, size, durationMs }];
  }

  function track(row: BulletinRow, deliveries: DeliveryRow[]): Tracked {
    const audio = playable(deps.audio.get(row.audioId));
    const expiresAtMs = Date.parse(row.expiresAt);
    const playMs = audio ? audio.durationMs * row.repeat + row.gapMs * (row.repeat - 1) : 0;
    const t: Tracked = {
      row,
      // Commands are built at first send, not at load: at start the HTTP server (and so the URL
      // base) is not up yet.
      commands: new Map(),
      proofs: new Set(filesOf(row.audioId).map((f) => f.sha256)),
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

  /** The file `receiverId` is to get: the smallest it can play (dispatch/pick.ts). */
  function fileFor(t: Tracked, receiverId: string): AudioFile {
    const files = filesOf(t.row.audioId);
    if (files.length === 0) throw new Error(`audio ${t.row.audioId} of bulletin ${t.row.id} is gone`);
    return pickFile(files, fleet.codecsOf(receiverId));
  }

  /** The bulletin's play command with `file` (one per file, its URL signed once). */
  function playWith(t: Tracked, file: AudioFile): PlayCommand {
    let command = t.commands.get(file.sha256);
    if (!command) {
      const { rendition } = file;
      command = dispatcher.playCommand(t.row, file, (exp) =>
        rendition
          ? deps.audio.signedUrl(t.row.audioId, exp, rendition)
          : deps.audio.signedUrl(t.row.audioId, exp),
      );
      t.commands.set(file.sha256, command);
      t.proofs.add(file.sha256);
    }
    return command;
  }

  /** The play command as `receiverId` is to get it: its file, with the bulletin's or its re-offer's id. */
  function commandFor(t: Tracked, d: TrackedDelivery, receiverId: string): PlayCommand {
    const command = playWith(t, fileFor(t, receiverId));
    return d.commandId ? { ...command, id: d.commandId } : command;
  }

  /**
   * The one command every receiver of `receiverIds` is to get, when they all get the same file (one
   * publish per zone, or one for all, then does); null when they differ.
   */
  function sharedCommand(t: Tracked, receiverIds: readonly string[]): PlayCommand | null {
    const files = filesOf(t.row.audioId);
    if (files.length === 0) throw new Error(`audio ${t.row.audioId} of bulletin ${t.row.id} is gone`);
    let first: AudioFile | null = null;
    const seen = new Map<string, AudioFile>();
    for (const id of receiverIds) {
      const codecs = fleet.codecsOf(id);
      const key = codecs?.join(',') ?? '';
      let f = seen.get(key);
      if (!f) {
        f = pickFile(files, codecs);
        seen.set(key, f);
      }
      if (first === null) first = f;
      else if (f.sha256 !== first.sha256) return null;
    }
    return playWith(t, first ?? pickFile(files, null));
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
      deps.progress(id);
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
      await dispatcher.sendToReceiver(commandFor(t, d, receiverId), receiverId);
    } catch (err) {
      log.warn({ err: (err as Error).message, receiverId }, 'bulletins: resend failed; will retry');
    }
  }

  return {
    active,
    byCommand,
    track,
    untrack,
    commandFor,
    sharedCommand,
    filesOf,
    queueUpdate,
    flush,
    move,
    logOnly,
    markSent,
    resend,
  };
}
export type DeliveryTracker = ReturnType<typeof createDeliveryTracker>;
