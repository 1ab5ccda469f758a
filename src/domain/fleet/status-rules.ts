/**
 * Whether the controller believes a receiver's status (docs/protocol.md §5): the session rule,
 * the bound on sessions, and, where the broker sees connections itself, a live connection
 * outranking what a status claims. Pure: the fleet applies the verdict.
 */
import { MAX_SESSION_AHEAD_S, type Status } from '../../contract/mqtt.js';

export type StatusVerdict =
  | { accept: false; why: 'impossible_session' | 'offline_while_connected' | 'late' }
  | {
      accept: true;
      /** a session not seen before (boot or reconnection): undelivered commands go again */
      newSession: boolean;
      /** the recorded session history was wrong (a live connection said otherwise): start again */
      historyReset: boolean;
    };

/**
 * @param known the last session recorded for the receiver (null: none)
 * @param connected whether the broker holds a live connection of it now (null: it cannot tell)
 * @param nowMs the controller's clock
 */
export function judgeStatus(
  s: Pick<Status, 'state' | 'session'>,
  known: number | null,
  connected: boolean | null,
  nowMs: number,
): StatusVerdict {
  // A session beyond the bound cannot be genuine: accepting it would make every later genuine
  // status look stale.
  if (s.session > Math.floor(nowMs / 1000) + MAX_SESSION_AHEAD_S)
    return { accept: false, why: 'impossible_session' };
  // The broker holds a live connection: an "offline" (its own, or a forged one) waits for the
  // connection to end.
  if (s.state === 'offline' && connected === true) return { accept: false, why: 'offline_while_connected' };
  // [session rule] an older session is late news: a late "offline" (the last will of a connection
  // already replaced) never overwrites a fresh "online" — unless the broker sees the live
  // connection saying "online", which is the truth whatever came before.
  if (known !== null && s.session < known) {
    if (s.state === 'online' && connected === true)
      return { accept: true, newSession: true, historyReset: true };
    return { accept: false, why: 'late' };
  }
  return { accept: true, newSession: known === null || s.session > known, historyReset: false };
}
