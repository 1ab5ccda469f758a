/**
 * Officers' authentication: accounts (`users.ts`), sessions and API tokens (`sessions.ts`).
 * The first admin's password comes from ADMIN_PASSWORD or is generated and printed once: there
 * is no default password.
 */
import type { Logger } from 'pino';
import type { Db } from '../storage/db.js';
import { type Confirmations, createConfirmations } from './confirmations.js';
import type { Principal } from './roles.js';
import { createSessions, type Sessions } from './sessions.js';
import { createUserStore, type UserRecord, type UserStore } from './users.js';

export type { Principal, Role } from './roles.js';
export type User = Principal;

export interface LoginResult {
  token: string;
  expiresAt: string;
  user: UserRecord;
}

export interface AuthService {
  users: UserStore;
  sessions: Sessions;
  confirmations: Confirmations;
  /** Creates the first admin if there is no user yet; returns the generated password, if any. */
  ensureAdmin(password?: string): Promise<{ created: boolean; generatedPassword?: string }>;
  login(
    username: string,
    password: string,
    opts?: { kind?: 'bearer' | 'cookie'; ip?: string },
  ): Promise<LoginResult>;
  logout(token: string): void;
}

export function createAuthService(deps: {
  db: Db;
  log: Logger;
  tokenTtlS: number;
  maxFailures?: number;
  lockS?: number;
}): AuthService {
  const users = createUserStore({
    db: deps.db,
    log: deps.log,
    maxFailures: deps.maxFailures ?? 5,
    lockS: deps.lockS ?? 900,
  });
  const sessions = createSessions({ db: deps.db, ttlS: deps.tokenTtlS });
  return {
    users,
    sessions,
    confirmations: createConfirmations(),
    ensureAdmin: (password) => users.ensureAdmin(password),
    async login(username, password, opts = {}) {
      const user = await users.checkPassword(username, password, opts.ip ?? '');
      const { token, expiresAt } = sessions.open(user.id, opts.kind ?? 'bearer', opts.ip ?? '');
      return { token, expiresAt, user };
    },
    logout: (token) => sessions.close(token),
  };
}
