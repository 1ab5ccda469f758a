/**
 * The chaos run's verdict, from the receivers' own histories and the controller's records: no
 * bulletin played twice by one receiver, no accepted bulletin lost, no stop shown confirmed that a
 * receiver did not confirm, and every delivery in the state its receiver's reports call for.
 */
import type { ReceiverEvent } from '../../src/contract/mqtt.js';

/** What the controller shows of one bulletin. */
export interface ControllerBulletin {
  id: string;
  seq: number;
  deliveries: { receiverId: string; state: string }[];
}

/** What the controller shows of one stop. */
export interface ControllerStop {
  id: string;
  seq: number;
  bulletinId: string | null;
  perReceiver: { receiverId: string; state: string }[];
}

/** What one receiver did, by its own account. */
export interface ReceiverHistory {
  id: string;
  events: readonly ReceiverEvent[];
  played: readonly { bulletinId: string }[];
}

export interface Mismatch {
  kind: 'played_twice' | 'lost' | 'stop_unconfirmed' | 'state' | 'unsettled';
  receiverId?: string;
  bulletinId?: string;
  stopId?: string;
  detail: string;
}

export interface Verdict {
  bulletins: number;
  deliveries: number;
  stops: number;
  plays: number;
  byState: Record<string, number>;
  mismatches: Mismatch[];
}

/** The receiver's last word that ends an item, and the delivery state it calls for. */
const TERMINAL: Record<string, string> = {
  finished: 'done',
  cancelled: 'cancelled',
  preempted: 'preempted',
  expired: 'expired',
  failed: 'failed',
};

export function judge(input: {
  /** ids of the bulletins the API accepted (201), with how many receivers each targeted */
  accepted: Map<string, number>;
  bulletins: ControllerBulletin[];
  stops: ControllerStop[];
  receivers: ReceiverHistory[];
}): Verdict {
  const mismatches: Mismatch[] = [];
  const byId = new Map(input.bulletins.map((b) => [b.id, b]));
  const rx = new Map(input.receivers.map((r) => [r.id, r]));
  const byState: Record<string, number> = {};
  let deliveries = 0;
  let plays = 0;

  for (const [id, targeted] of input.accepted) {
    const b = byId.get(id);
    if (!b)
      mismatches.push({ kind: 'lost', bulletinId: id, detail: 'accepted (201) but not in the controller' });
    else if (b.deliveries.length !== targeted)
      mismatches.push({
        kind: 'lost',
        bulletinId: id,
        detail: `${b.deliveries.length} deliveries recorded for ${targeted} receivers targeted`,
      });
  }

  // Stops each receiver confirmed, by its own account: `received`, or `rejected`/`replayed`.
  const confirmedBy = new Map<string, Set<string>>();
  for (const r of input.receivers) {
    const set = new Set<string>();
    for (const e of r.events)
      if (e.state === 'received' || (e.state === 'rejected' && e.reason === 'replayed')) set.add(e.commandId);
    confirmedBy.set(r.id, set);
  }
  for (const st of input.stops) {
    for (const pr of st.perReceiver) {
      if (pr.state !== 'confirmed') continue;
      if (!confirmedBy.get(pr.receiverId)?.has(st.id))
        mismatches.push({
          kind: 'stop_unconfirmed',
          receiverId: pr.receiverId,
          stopId: st.id,
          detail: 'shown confirmed, but the receiver never confirmed it',
        });
    }
  }

  const stopIds = new Set(input.stops.map((s) => s.id));
  for (const b of input.bulletins) {
    for (const d of b.deliveries) {
      deliveries++;
      byState[d.state] = (byState[d.state] ?? 0) + 1;
      const h = rx.get(d.receiverId);
      if (!h) continue;
      // Its reports about the bulletin: every copy (re-offers have other ids), not its stops.
      const mine = h.events.filter((e) => e.bulletinId === b.id && !stopIds.has(e.commandId));
      // (a play begun again after an interruption is `resumed`, not a second playing)
      const firstPlays = mine.filter((e) => e.state === 'started' && e.play === 1 && !e.resumed).length;
      const played = h.played.filter((p) => p.bulletinId === b.id).length;
      plays += played;
      if (firstPlays > 1 || played > 1)
        mismatches.push({
          kind: 'played_twice',
          receiverId: d.receiverId,
          bulletinId: b.id,
          detail: `started ${firstPlays} times, played to the end ${played} times`,
        });
      // A refusal of its own copy (not a duplicate's) is a last word too: the command failed there.
      const ends = (e: ReceiverEvent) =>
        (TERMINAL[e.state] !== undefined && !(e.state === 'preempted' && e.resumes === true)) ||
        (e.state === 'rejected' &&
          !['replayed', 'unsigned', 'bad_signature', 'wrong_topic'].includes(e.reason ?? ''));
      const last = [...mine].reverse().find(ends);
      if (!['done', 'cancelled', 'preempted', 'expired', 'failed'].includes(d.state)) {
        mismatches.push({
          kind: 'unsettled',
          receiverId: d.receiverId,
          bulletinId: b.id,
          detail: `still ${d.state}; receiver's last word: ${last?.state ?? 'none'}`,
        });
        continue;
      }
      if (last) {
        const want = TERMINAL[last.state] ?? 'failed';
        if (d.state !== want)
          mismatches.push({
            kind: 'state',
            receiverId: d.receiverId,
            bulletinId: b.id,
            detail: `shown ${d.state}, but the receiver reported ${last.state}`,
          });
        continue;
      }
      // No last word about the bulletin: only a conclusion the receiver backs is allowed — a
      // stop covering it that the receiver confirmed (cancelled), or the clock (expired).
      const stopped = input.stops.some(
        (st) =>
          st.seq > b.seq &&
          (st.bulletinId === null || st.bulletinId === b.id) &&
          confirmedBy.get(d.receiverId)?.has(st.id),
      );
      const ok = (d.state === 'cancelled' && stopped) || d.state === 'expired';
      if (!ok)
        mismatches.push({
          kind: 'state',
          receiverId: d.receiverId,
          bulletinId: b.id,
          detail: `shown ${d.state}, but the receiver reported nothing that ends it${stopped ? '' : ' and confirmed no stop covering it'}`,
        });
    }
  }
  return {
    bulletins: input.bulletins.length,
    deliveries,
    stops: input.stops.length,
    plays,
    byState,
    mismatches,
  };
}
