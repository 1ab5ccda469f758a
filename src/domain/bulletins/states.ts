/**
 * The delivery state machine, one delivery per (bulletin, receiver), driven by receiver events:
 *
 *   queued → sent → received → downloading → ready → playing → done
 *                                              playing ⇄ interrupted
 *                                    any non-final state → failed | expired | preempted | cancelled
 *                                    any non-final state → stopping → done | cancelled | failed | …
 *
 * `interrupted` is a preemption the receiver said it will resume from (`preempted` with
 * `resumes: true`, docs/protocol.md §7.3): it goes back to `playing` when the receiver reports the
 * resumed play, or ends as the receiver says (expired, cancelled, …). A `preempted` without it —
 * a receiver built to an earlier protocol, or an item that expired meanwhile — is final as before.
 *
 * Receivers may skip states (a cached emergency goes straight to `started`), so an event moves a
 * delivery forward only. `stopping` is the one state the controller sets by itself: a stop covers
 * the delivery and the receiver has not yet said what became of it; only the receiver's report
 * (or a stated deadline) ends it. A final state the receiver reported never changes; one the
 * controller concluded (see `concluded` in the service) yields to the receiver's later proof of play.
 */
import type { EventState, FailureReason } from '../../contract/mqtt.js';

export const DELIVERY_STATES = [
  'queued',
  'sent',
  'received',
  'downloading',
  'ready',
  'playing',
  'interrupted',
  'stopping',
  'done',
  'failed',
  'expired',
  'preempted',
  'cancelled',
] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

export const FINAL_STATES: ReadonlySet<DeliveryState> = new Set([
  'done',
  'failed',
  'expired',
  'preempted',
  'cancelled',
]);
/** States in which nothing has played yet; these expire with the bulletin. */
export const NOT_STARTED_STATES: ReadonlySet<DeliveryState> = new Set([
  'queued',
  'sent',
  'received',
  'downloading',
  'ready',
]);

const RANK: Record<DeliveryState, number> = {
  queued: 0,
  sent: 1,
  received: 2,
  downloading: 3,
  ready: 4,
  playing: 5,
  interrupted: 5,
  stopping: 5,
  done: 6,
  failed: 6,
  expired: 6,
  preempted: 6,
  cancelled: 6,
};

/**
 * The delivery state a receiver event stands for; `resumes` is the flag of a `preempted` event
 * (the receiver holds the bulletin to play it again).
 */
export function stateForEvent(state: EventState, resumes = false): DeliveryState {
  switch (state) {
    case 'received':
      return 'received';
    case 'downloading':
      return 'downloading';
    case 'ready':
      return 'ready';
    case 'started':
      return 'playing';
    case 'finished':
      return 'done';
    case 'preempted':
      return resumes ? 'interrupted' : 'preempted';
    case 'expired':
      return 'expired';
    case 'failed':
    case 'rejected':
      return 'failed';
    case 'cancelled':
      return 'cancelled';
  }
}

/**
 * Whether a delivery in `from` may move to `to`. A `stopping` delivery leaves only for a final
 * state: what the receiver does before it confirms the stop (another play of the repeat count) is
 * recorded in the as-run log but does not hide that a stop is under way.
 */
export function canMove(from: DeliveryState, to: DeliveryState): boolean {
  if (FINAL_STATES.has(from)) return false;
  if (to === 'stopping') return from !== 'stopping';
  if (from === 'stopping') return FINAL_STATES.has(to);
  // another play of the repeat count; an interruption; the resumed play after it
  if (from === 'playing') return to === 'playing' || to === 'interrupted' || RANK[to] > RANK[from];
  if (from === 'interrupted') return to === 'playing' || RANK[to] > RANK[from];
  return RANK[to] > RANK[from];
}

export const isFinal = (s: DeliveryState): boolean => FINAL_STATES.has(s);

/**
 * Refusals that never concern the command this controller sent: it signs every command, for the
 * topic it publishes it on, so these are about some other payload claiming the command's id (a
 * forgery, or a copy replayed onto another topic), or a duplicate of a command the receiver
 * already holds (`replayed`: a resend, or a copy that also came through a zone topic).
 */
const NOT_ABOUT_OUR_COPY: ReadonlySet<FailureReason> = new Set([
  'replayed',
  'unsigned',
  'bad_signature',
  'wrong_topic',
]);

/**
 * Why a receiver event must leave the delivery as it is (null: apply it). A receiver refuses a
 * command (`rejected`) as its first and only answer to it, so a refusal after the delivery moved
 * past `sent` is about another copy; and an item that started plays to its end, so `expired`
 * cannot end a `playing` delivery. Without these rules a forged or replayed copy, or the
 * controller's own resend, could make a good delivery look failed.
 */
export function eventIgnoredBecause(
  e: { state: EventState; reason?: FailureReason | undefined },
  from: DeliveryState,
): string | null {
  if (e.state === 'rejected') {
    if (e.reason && NOT_ABOUT_OUR_COPY.has(e.reason))
      return `receiver refused a copy (${e.reason}); delivery unchanged`;
    if (from !== 'queued' && from !== 'sent')
      return 'refusal after the receiver accepted the command; delivery unchanged';
  }
  // (an interrupted item may expire: it is not resumed after its expiry)
  if (e.state === 'expired' && from === 'playing')
    return 'expired reported for an item already playing; ignored';
  return null;
}
