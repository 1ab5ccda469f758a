/**
 * What a receiver's report does to its delivery: what it moves, what it proves (a `finished`
 * only with the audio's sha256), when a failed download is offered again, and what it only adds
 * to the as-run log. A report about a bulletin no longer followed still goes to the log, and a
 * final state the controller concluded yields to the receiver's proof of play.
 */
import type { Logger } from 'pino';
import type { ReceiverEvent } from '../../contract/mqtt.js';
import { nowIso } from '../../storage/db.js';
import type { AudioLibrary } from '../audio/library.js';
import type { Fleet } from '../fleet/fleet.js';
import type { BulletinRepo } from './repo.js';
import { isFinal, stateForEvent } from './states.js';
import type { DeliveryTracker, Tracked, TrackedDelivery } from './tracker.js';

/** Re-offers of a failed download at most (see the service's REOFFER_BASE_MS). */
const MAX_REOFFERS = 3;

export function createReportHandler(deps: {
  tracker: DeliveryTracker;
  repo: BulletinRepo;
  log: Logger;
  fleet: Fleet;
  audio: AudioLibrary;
  /** first wait before a failed download is offered again, doubled at each try */
  reofferBaseMs: number;
}) {
  const { tracker, repo, log, fleet, reofferBaseMs } = deps;
  const { move, logOnly, queueUpdate } = tracker;

  /** A receiver's report about the copy it holds: what it moves, what it proves, what it logs. */
  function applyEvent(t: Tracked, receiverId: string, d: TrackedDelivery, e: ReceiverEvent): void {
    const to = stateForEvent(e.state, e.resumes === true);
    const base = { play: e.play ?? null, receiverTs: e.ts, event: e.state };
    if (e.state === 'finished' && (!e.sha256 || !t.proofs.has(e.sha256))) {
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
        detail:
          'the receiver reports playing bytes whose sha256 is not the bulletin audio nor one of its renditions',
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
    } else if (isFinal(to) || e.state === 'preempted') {
      // an interrupted bulletin no longer sounds, though it may resume
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
          : describe(e)),
      correct,
    });
    // Reports that change nothing (another play while a stop is on its way, a late report) are
    // still what the receiver did: the as-run log keeps them.
    if (!moved) logOnly(t, receiverId, e);
  }

  /** What a report of an interruption or a resume says, for the officer (the as-run log). */
  function describe(e: ReceiverEvent): string | null {
    if (e.state === 'preempted') {
      const where = `interrupted by ${e.by ?? 'a higher priority'}${e.play ? ` in play ${e.play}` : ''}${e.offsetMs !== undefined ? ` at ${(e.offsetMs / 1000).toFixed(1)} s` : ''}`;
      return e.resumes
        ? `${where}; it plays again from the start of that play when the loudspeaker frees`
        : where;
    }
    if (e.state === 'started' && e.resumed)
      return `resumed after an interruption: play ${e.play ?? 1} from its start`;
    return null;
  }

  /**
   * A report for a bulletin no longer tracked (every delivery final): kept in the as-run log, and a
   * final state the controller concluded yields to the receiver's proof of play.
   */
  function lateEvent(receiverId: string, e: ReceiverEvent): void {
    // Acknowledgements and refusals of a bulletin no longer followed say nothing about what aired
    // (resends answered `replayed` are most of them): no database read for them.
    if (e.state === 'rejected' || e.state === 'received' || e.state === 'downloading' || e.state === 'ready')
      return;
    const row = repo.bulletinOfCommand(e.commandId, receiverId);
    const d = row ? repo.delivery(row.id, receiverId) : null;
    if (!row || !d) {
      log.debug(
        { receiverId, commandId: e.commandId, state: e.state },
        'bulletins: event for no bulletin of it',
      );
      return;
    }
    const proof =
      e.state === 'finished' &&
      e.sha256 !== undefined &&
      tracker.filesOf(row.audioId).some((f) => f.sha256 === e.sha256);
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

  return { applyEvent, lateEvent };
}
