/**
 * First-run set-up without a default password. When the controller starts with no account and no
 * ADMIN_PASSWORD, it makes a one-time set-up code (printed in its log, so only whoever runs the
 * controller can read it) instead of an account; whoever holds the code chooses the first admin's
 * name and password in the app (POST /api/auth/setup). The code works once, lives only in memory
 * (a restart before the set-up prints a new one) and is compared in constant time.
 */
import { randomInt, timingSafeEqual } from 'node:crypto';
import { AppError } from '../errors.js';
import type { UserRecord, UserStore } from './users.js';

/** No 0/O, 1/I/L: read off a terminal and typed on a phone without doubt. */
const ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';

/** A code of 3 groups of 4 (~59 bits), e.g. `K7QM-3XPA-W9TD`. */
export function newSetupCode(): string {
  const groups: string[] = [];
  for (let g = 0; g < 3; g++) {
    let s = '';
    for (let i = 0; i < 4; i++) s += ALPHABET[randomInt(ALPHABET.length)];
    groups.push(s);
  }
  return groups.join('-');
}

/** Upper case, no spaces or dashes: what the officer typed, as the code is compared. */
const normalise = (code: string): string => code.toUpperCase().replace(/[^A-Z0-9]/g, '');

export interface FirstRunSetup {
  /** Whether the controller waits for its first admin (no account yet, a code was made). */
  pending(): boolean;
  /** The code, while pending (for the log at start, and tests); null once used or never needed. */
  code(): string | null;
  /** Makes a new code (at start, when there is no account and no ADMIN_PASSWORD) and returns it. */
  arm(): string;
  /**
   * Makes the first admin when `code` is right: 409 `already_set_up` once any account exists or the
   * code was used, 403 `bad_setup_code` for a wrong code.
   */
  complete(code: string, input: { username: string; password: string }): Promise<UserRecord>;
}

export function createFirstRunSetup(users: UserStore): FirstRunSetup {
  let current: string | null = null;
  const alreadySetUp = () =>
    new AppError(409, 'already_set_up', 'This controller is already set up: log in instead.');
  return {
    pending: () => current !== null && users.list().length === 0,
    code: () => current,
    arm() {
      current = newSetupCode();
      return current;
    },
    async complete(given, input) {
      if (current === null || users.list().length > 0) {
        current = null;
        throw alreadySetUp();
      }
      const a = Buffer.from(normalise(given));
      const b = Buffer.from(normalise(current));
      if (a.length !== b.length || !timingSafeEqual(a, b)) {
        throw new AppError(
          403,
          'bad_setup_code',
          "Wrong set-up code: copy it from the controller's log (it changes at every start until set-up is done).",
        );
      }
      // Used before the (slow) hashing, so two requests racing with the right code make one admin.
      const used = current;
      current = null;
      try {
        return await users.create({ username: input.username, password: input.password, roles: ['admin'] });
      } catch (err) {
        if (users.list().length === 0) current = used;
        throw err;
      }
    },
  };
}
