/**
 * Time as the schedule sees it. Production uses the system clock; tests and demos run a day in
 * seconds with a scaled clock shared by the controller and the simulated receivers, so nothing
 * waits real hours and nothing sleeps: timers fire at clock instants.
 */

export interface Clock {
  /** now, epoch ms (the "true" time scale of a test; the system clock in production) */
  now(): number;
  /** real milliseconds a span of `clockMs` takes on this clock */
  realMs(clockMs: number): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  realMs: (ms) => ms,
};

/**
 * A clock that runs `factor` times faster than real time from `start` (epoch ms, default now).
 * Sub-millisecond precision from `performance.now()`.
 */
export function scaledClock(factor: number, start = Date.now()): Clock {
  if (!(factor > 0)) throw new Error('clock factor must be positive');
  const r0 = performance.now();
  return {
    now: () => start + (performance.now() - r0) * factor,
    realMs: (ms) => ms / factor,
  };
}

/** Longest setTimeout Node honours (about 24.8 days); longer waits are re-armed. */
const MAX_TIMER_MS = 2_147_483_647;

export interface Timer {
  cancel(): void;
}

/**
 * Runs `fn` when `clock` reaches `atMs`. Re-arms on waking early (a long wait, a coarse timer), so
 * it never fires before the instant; returns a handle to cancel it.
 */
export function at(clock: Clock, atMs: number, fn: () => void): Timer {
  let handle: NodeJS.Timeout;
  let cancelled = false;
  const delay = () => Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(clock.realMs(atMs - clock.now()))));
  const wake = () => {
    if (cancelled) return;
    if (clock.now() >= atMs) fn();
    else handle = setTimeout(wake, delay());
  };
  // Never synchronous, even when already due: callers finish what they are doing first.
  handle = setTimeout(wake, delay());
  return {
    cancel() {
      cancelled = true;
      clearTimeout(handle);
    },
  };
}
