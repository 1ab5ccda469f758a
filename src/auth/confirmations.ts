/**
 * One-time confirmations: an officer re-enters their PIN (`POST /api/auth/confirm`) and gets a token
 * that authorizes one emergency to every village within two minutes. The phone UI asks for the PIN
 * when the officer opens the "every village" dialog, so the deliberately slow PIN check happens while
 * they choose the message, and the send itself is immediate. One PIN entry, one fleet-wide alarm.
 * Kept in memory: a restart only means typing the PIN again.
 */
import { randomSecret, tokenHash } from './passwords.js';

export const CONFIRMATION_TTL_MS = 2 * 60 * 1000;

export interface Confirmations {
  /** A fresh one-time token for `userId`, and when it expires. */
  issue(userId: string): { token: string; expiresAt: string };
  /** True once for a live token issued to `userId`; the token is spent either way. */
  consume(userId: string, token: string): boolean;
}

export function createConfirmations(now: () => number = Date.now): Confirmations {
  const live = new Map<string, { userId: string; expires: number }>();
  return {
    issue(userId) {
      for (const [k, v] of live) if (v.expires <= now()) live.delete(k);
      const token = randomSecret(24);
      const expires = now() + CONFIRMATION_TTL_MS;
      live.set(tokenHash(token), { userId, expires });
      return { token, expiresAt: new Date(expires).toISOString() };
    },
    consume(userId, token) {
      const key = tokenHash(token);
      const c = live.get(key);
      live.delete(key);
      return c !== undefined && c.userId === userId && c.expires > now();
    },
  };
}
