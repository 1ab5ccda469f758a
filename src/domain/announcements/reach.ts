/**
 * The reach report of an announcement: per village and receiver, heard / playing / not yet / failed
 * (with the reason), read from the deliveries — that is, from what each receiver reported, or a
 * stated deadline passing. Never from what the controller meant to happen.
 */
import type { DeliveryState } from '../bulletins/states.js';
import type { ReachState } from './types.js';

/**
 * What a delivery state means to the officer waiting for the villages to hear. `played`: at least
 * one play finished (the receiver reported the next one starting).
 */
export function reachOf(state: DeliveryState | string, played: boolean): ReachState {
  switch (state) {
    case 'done':
      return 'heard';
    case 'playing':
      return 'playing';
    case 'stopping':
    case 'interrupted':
      // waiting for the receiver's word on a stop, or cut by a newer alert and waiting to play
      // again: a play it already finished was heard
      return played ? 'heard' : 'not_yet';
    case 'failed':
    case 'expired':
    case 'preempted':
    case 'cancelled':
      // a bulletin cut after it had played once in full reached the ears anyway
      return played ? 'heard' : 'failed';
    default:
      // queued, sent, received, downloading, ready, or held to play again after an interruption
      return 'not_yet';
  }
}

export interface ReachReceiver {
  id: string;
  name: string | null;
  online: boolean;
  reach: ReachState;
  /** the delivery state as the bulletin shows it */
  state: string;
  reason: string | null;
  detail: string | null;
  /** plays started so far (of the repeat count) */
  play: number | null;
  updatedAt: string;
}

export interface ReachCounts {
  total: number;
  heard: number;
  playing: number;
  not_yet: number;
  failed: number;
}

export interface ReachVillage {
  zoneId: string | null;
  name: string;
  counts: ReachCounts;
  receivers: ReachReceiver[];
}

export interface ReachReport {
  counts: ReachCounts;
  villages: ReachVillage[];
  /** every receiver has an outcome (heard or failed) */
  complete: boolean;
}

export const emptyCounts = (): ReachCounts => ({ total: 0, heard: 0, playing: 0, not_yet: 0, failed: 0 });

/** Groups deliveries by village, villages by name, receivers by name. */
export function buildReach(
  deliveries: readonly {
    receiverId: string;
    state: string;
    reason: string | null;
    detail: string | null;
    play: number | null;
    updatedAt: string;
    receiverName: string | null;
    zoneId: string | null;
  }[],
  zoneNames: ReadonlyMap<string, string>,
  isOnline: (receiverId: string) => boolean,
): ReachReport {
  const counts = emptyCounts();
  const villages = new Map<string | null, ReachVillage>();
  for (const d of deliveries) {
    // `play` counts plays started: one finished before the current (cut) one began only from 2 on
    const reach = reachOf(d.state, (d.play ?? 0) > 1);
    let v = villages.get(d.zoneId);
    if (!v) {
      v = {
        zoneId: d.zoneId,
        name: d.zoneId ? (zoneNames.get(d.zoneId) ?? d.zoneId) : '—',
        counts: emptyCounts(),
        receivers: [],
      };
      villages.set(d.zoneId, v);
    }
    v.receivers.push({
      id: d.receiverId,
      name: d.receiverName,
      online: isOnline(d.receiverId),
      reach,
      state: d.state,
      reason: d.reason,
      detail: d.detail,
      play: d.play,
      updatedAt: d.updatedAt,
    });
    for (const c of [counts, v.counts]) {
      c.total += 1;
      c[reach] += 1;
    }
  }
  const list = [...villages.values()].sort((a, b) => a.name.localeCompare(b.name, 'vi'));
  for (const v of list) v.receivers.sort((a, b) => (a.name ?? a.id).localeCompare(b.name ?? b.id, 'vi'));
  return { counts, villages: list, complete: counts.playing + counts.not_yet === 0 };
}
