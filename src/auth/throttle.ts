/**
 * The in-memory counters that keep password and PIN guessing slow without letting an outsider
 * lock an officer out:
 *
 * - `loginThrottle`: failed logins per (user name, source address). After `maxFailures` in a row
 *   that pair is refused for `lockS`, the right password included; the same name from another
 *   address, the officer's usual one, is not affected. User names that do not exist are counted
 *   the same way, so the answers do not tell them apart.
 * - `recheckThrottle`: wrong PINs or passwords typed by an officer who is already logged in
 *   (confirming an emergency, changing the password, setting the PIN), per officer. It is separate
 *   from the login counters, so failed logins from elsewhere never block the emergency path; after
 *   `maxFailures` in a row each further try must wait, 30 s doubling up to `lockS`.
 *
 * Kept in memory: a restart forgets them (the account-wide lock in the database does not), and
 * the maps are bounded so a flood of names cannot exhaust memory.
 */

/** Most (name, address) pairs remembered; beyond, the oldest are forgotten. */
const MAX_PAIRS = 10_000;
/** First wait after the free tries of a re-check; it doubles with each further failure. */
const RECHECK_BASE_MS = 30_000;
/** A re-check failure is forgotten after a day without another. */
const RECHECK_FORGET_MS = 86_400_000;

interface PairState {
  failures: number;
  last: number;
  lockedUntil: number;
}

export interface LoginThrottle {
  /** Epoch ms until which `username` from `ip` is refused, or 0. */
  lockedUntil(username: string, ip: string): number;
  /** Counts a failure; returns true when this one locked the pair. */
  fail(username: string, ip: string): boolean;
  succeed(username: string, ip: string): void;
  /** Forgets every address's failures for `username` (an admin's unlock). */
  clear(username: string): void;
}

export function createLoginThrottle(opts: {
  maxFailures: number;
  lockS: number;
  now?: () => number;
}): LoginThrottle {
  const now = opts.now ?? Date.now;
  const lockMs = opts.lockS * 1000;
  const pairs = new Map<string, PairState>();
  // User names are case-insensitive (COLLATE NOCASE), so are their counters.
  const key = (username: string, ip: string) => `${username.toLowerCase()}\n${ip}`;

  function current(k: string): PairState | undefined {
    const s = pairs.get(k);
    // A run of failures ends when the lock has passed, or after lockS without another failure.
    if (s && now() - s.last > lockMs && s.lockedUntil <= now()) {
      pairs.delete(k);
      return undefined;
    }
    return s;
  }

  function evict(): void {
    if (pairs.size < MAX_PAIRS) return;
    for (const k of pairs.keys()) current(k);
    // Still full: forget the oldest (Map keeps insertion order).
    for (const k of pairs.keys()) {
      if (pairs.size < MAX_PAIRS) break;
      pairs.delete(k);
    }
  }

  return {
    lockedUntil(username, ip) {
      const until = current(key(username, ip))?.lockedUntil ?? 0;
      return until > now() ? until : 0;
    },
    fail(username, ip) {
      const k = key(username, ip);
      let s = current(k);
      if (!s) {
        evict();
        s = { failures: 0, last: 0, lockedUntil: 0 };
        pairs.set(k, s);
      }
      s.failures += 1;
      s.last = now();
      if (s.failures >= opts.maxFailures) {
        s.lockedUntil = now() + lockMs;
        s.failures = 0;
        return true;
      }
      return false;
    },
    succeed(username, ip) {
      pairs.delete(key(username, ip));
    },
    clear(username) {
      const prefix = `${username.toLowerCase()}\n`;
      for (const k of [...pairs.keys()]) if (k.startsWith(prefix)) pairs.delete(k);
    },
  };
}

export interface RecheckThrottle {
  /** Milliseconds `userId` must still wait before the next try, or 0. */
  waitMs(userId: string): number;
  /** Counts a wrong answer; returns the wait it starts (0 while within the free tries). */
  fail(userId: string): number;
  succeed(userId: string): void;
}

export function createRecheckThrottle(opts: {
  maxFailures: number;
  lockS: number;
  now?: () => number;
}): RecheckThrottle {
  const now = opts.now ?? Date.now;
  const state = new Map<string, { failures: number; last: number; blockedUntil: number }>();
  return {
    waitMs(userId) {
      const s = state.get(userId);
      return s ? Math.max(0, s.blockedUntil - now()) : 0;
    },
    fail(userId) {
      let s = state.get(userId);
      if (!s || now() - s.last > RECHECK_FORGET_MS) {
        s = { failures: 0, last: 0, blockedUntil: 0 };
        state.set(userId, s);
      }
      s.failures += 1;
      s.last = now();
      const over = s.failures - opts.maxFailures;
      if (over < 0) return 0;
      const wait = Math.min(opts.lockS * 1000, RECHECK_BASE_MS * 2 ** Math.min(over, 20));
      s.blockedUntil = now() + wait;
      return wait;
    },
    succeed(userId) {
      state.delete(userId);
    },
  };
}
