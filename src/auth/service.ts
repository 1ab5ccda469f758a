/**
 * Officers' authentication: accounts (`users.ts`), sessions and API tokens (`sessions.ts`).
 * The first admin's password comes from ADMIN_PASSWORD, or the operator chooses it in the app with
 * a one-time set-up code the controller prints (`setup.ts`): there is no default password.
 */
import type { Logger } from 'pino';
import type { Db } from '../storage/db.js';
import { type Confirmations, createConfirmations } from './confirmations.js';
import type { Principal } from './roles.js';
import { createSessions, type Sessions } from './sessions.js';
import { createFirstRunSetup, type FirstRunSetup } from './setup.js';
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
  /** the first-run set-up by code, armed by `ensureAdmin` without a password */
  setup: FirstRunSetup;
  /**
   * With no account yet: creates the admin with `password`, or without one arms the first-run
   * set-up and returns its code (to print).
   */
  ensureAdmin(password?: string): Promise<{ created: boolean; setupCode?: string }>;
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
  const setup = createFirstRunSetup(users);
  return {
    users,
    sessions,
    setup,
    confirmations: createConfirmations(),
    async ensureAdmin(password) {
      if (users.list().length > 0) return { created: false };
      if (password) return users.ensureAdmin(password);
      const setupCode = setup.arm();
      deps.log.warn(
        { setupCode },
        'first run: no account yet and no ADMIN_PASSWORD; open the app and choose "First set-up" with this code',
      );
      return { created: false, setupCode };
    },
    async login(username, password, opts = {}) {
      const user = await users.checkPassword(username, password, opts.ip ?? '');
      const { token, expiresAt } = sessions.open(user.id, opts.kind ?? 'bearer', opts.ip ?? '');
      return { token, expiresAt, user };
    },
    logout: (token) => sessions.close(token),
  };
}
