/**
 * The delivery state machine, one delivery per (bulletin, receiver), driven by receiver events:
 *
 *   queued → sent → received → downloading → ready → playing → done
 *                                    any non-final state → failed | expired | preempted | cancelled
 *
 * Receivers may skip states (a cached emergency goes straight to `started`), so an event moves a
 * delivery forward only; a final state never changes.
 */
import type { EventState } from '../../contract/mqtt.js';

export const DELIVERY_STATES = [
  'queued',
  'sent',
  'received',
  'downloading',
  'ready',
  'playing',
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
  done: 6,
  failed: 6,
  expired: 6,
  preempted: 6,
  cancelled: 6,
};

/** The delivery state a receiver event stands for. */
export function stateForEvent(state: EventState): DeliveryState {
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
      return 'preempted';
    case 'expired':
      return 'expired';
    case 'failed':
    case 'rejected':
      return 'failed';
    case 'cancelled':
      return 'cancelled';
  }
}

/** Whether a delivery in `from` may move to `to`. */
export function canMove(from: DeliveryState, to: DeliveryState): boolean {
  if (FINAL_STATES.has(from)) return false;
  return RANK[to] > RANK[from] || (from === 'playing' && to === 'playing');
}

export const isFinal = (s: DeliveryState): boolean => FINAL_STATES.has(s);
