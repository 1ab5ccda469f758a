/**
 * Officer accounts: roles, zone scope, PIN, and what keeps password and PIN guessing slow.
 * Passwords and PINs are hashed with scrypt (memory-hard, from node:crypto).
 *
 * Logins: `LOGIN_MAX_FAILURES` wrong passwords in a row for one name from one address refuse that
 * name from that address for `LOGIN_LOCK_S` (`throttle.ts`); ten times as many from all addresses
 * together lock the account itself (`locked_until`), except from an address where the officer has a
 * live session. Every refusal answers the same 401, with one scrypt, whether the name exists,
 * the password was wrong or a lock applies: the answers do not tell which names exist.
 * A logged-in officer's re-entered PIN or password has its own counter, so nobody elsewhere can
 * block them from confirming an emergency.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Officer } from '../contract/officer.js';
import { AppError, notFound } from '../errors.js';
import { type Db, nowIso } from '../storage/db.js';
import { hashPassword, verifyPassword } from './passwords.js';
import type { Role } from './roles.js';
import { createLoginThrottle, createRecheckThrottle } from './throttle.js';

/** Verified against when the user does not exist, so both paths cost one scrypt. */
const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

/** An officer's account as the API answers it (the contract the phone app reads too). */
export type UserRecord = Officer;

interface Row {
  id: string;
  username: string;
  display_name: string | null;
  roles: string;
  zones: string | null;
  password_hash: string;
  pin_hash: string | null;
  failed_logins: number;
  locked_until: string | null;
  disabled_at: string | null;
  created_at: string;
}

export interface UserInput {
  username: string;
  password: string;
  roles: Role[];
  zones?: string[] | null | undefined;
  displayName?: string | null | undefined;
}

export interface UserPatch {
  roles?: Role[] | undefined;
  zones?: string[] | null | undefined;
  displayName?: string | null | undefined;
  disabled?: boolean | undefined;
  password?: string | undefined;
  unlock?: boolean | undefined;
}

/** Why a login was refused, for the audit log only: the caller always hears the same 401. */
export type LoginRefusal = 'bad_credentials' | 'locked_here' | 'account_locked';

/** The one answer to every refused login; `reason` is for the audit log, never sent. */
export class LoginRefused extends AppError {
  constructor(
    readonly reason: LoginRefusal,
    lockS: number,
  ) {
    super(
      401,
      'bad_credentials',
      `Wrong user name or password, or too many wrong tries: wait ${Math.ceil(lockS / 60)} minutes and try again, or ask an admin to unlock the account.`,
    );
  }
}

/** Failed logins from all addresses together that lock the account, as a multiple of LOGIN_MAX_FAILURES. */
export const ACCOUNT_LOCK_FACTOR = 10;

export interface UserStore {
  /** Creates the admin "admin" with `password` when there is no account yet. */
  ensureAdmin(password: string): Promise<{ created: boolean }>;
  list(): UserRecord[];
  get(id: string): UserRecord;
  create(input: UserInput): Promise<UserRecord>;
  update(id: string, patch: UserPatch): Promise<UserRecord>;
  remove(id: string): void;
  /**
   * The user when the password is right and no lock applies to `username` from `ip`; throws
   * `LoginRefused` (401, the same for every reason) otherwise, or 403 for a disabled account.
   */
  checkPassword(username: string, password: string, ip?: string): Promise<UserRecord>;
  changePassword(id: string, current: string, next: string): Promise<void>;
  setPin(id: string, currentPassword: string, pin: string): Promise<void>;
  /**
   * Checks a logged-in officer's PIN (or, for one without a PIN, the password). Wrong answers count
   * on the officer's own re-check counter; past it, 429 until the wait is over.
   */
  confirm(id: string, pinOrPassword: string): Promise<boolean>;
}

export function createUserStore(deps: {
  db: Db;
  log: Logger;
  maxFailures: number;
  lockS: number;
}): UserStore {
  const { db, log } = deps;
  const byName = db.prepare<[string], Row>('SELECT * FROM users WHERE username = ?');
  const byId = db.prepare<[string], Row>('SELECT * FROM users WHERE id = ?');
  const failed = db.prepare(
    'UPDATE users SET failed_logins = failed_logins + 1, locked_until = CASE WHEN failed_logins + 1 >= ? THEN ? ELSE locked_until END WHERE id = ?',
  );
  const succeeded = db.prepare('UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?');
  const hasSessionFrom = db.prepare<[string, string, string], { one: number }>(
    'SELECT 1 AS one FROM tokens WHERE user_id = ? AND ip = ? AND expires_at > ? LIMIT 1',
  );
  const accountMaxFailures = deps.maxFailures * ACCOUNT_LOCK_FACTOR;
  const pairs = createLoginThrottle(deps);
  const rechecks = createRecheckThrottle(deps);

  const toRecord = (r: Row): UserRecord => ({
    id: r.id,
    username: r.username,
    displayName: r.display_name,
    roles: JSON.parse(r.roles) as Role[],
    zones: r.zones === null ? null : (JSON.parse(r.zones) as string[]),
    disabled: r.disabled_at !== null,
    lockedUntil: r.locked_until && r.locked_until > nowIso() ? r.locked_until : null,
    hasPin: r.pin_hash !== null,
    createdAt: r.created_at,
  });

  function row(id: string): Row {
    const r = byId.get(id);
    if (!r) throw notFound('User', id);
    return r;
  }

  /** Enabled admins other than `exceptId`: there must always be one left. */
  function otherAdmins(exceptId: string): number {
    return (
      db
        .prepare<[string], { n: number }>(
          `SELECT count(*) AS n FROM users, json_each(users.roles)
           WHERE json_each.value = 'admin' AND users.disabled_at IS NULL AND users.id <> ?`,
        )
        .get(exceptId)?.n ?? 0
    );
  }

  /** Counts a login failure toward the account-wide lock. */
  function recordFailure(r: Row): void {
    const until = new Date(Date.now() + deps.lockS * 1000).toISOString();
    failed.run(accountMaxFailures, until, r.id);
    if (r.failed_logins + 1 === accountMaxFailures) {
      log.warn({ username: r.username, failures: r.failed_logins + 1 }, 'auth: account locked');
    }
  }

  /**
   * Checks a logged-in officer's password (or PIN, falling back to the password when none is set)
   * on the officer's own re-check counter: a stolen session cannot guess either one, and failed
   * logins from elsewhere do not block it.
   */
  async function checkSecret(r: Row, given: string, which: 'password' | 'pin'): Promise<boolean> {
    const wait = rechecks.waitMs(r.id);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      throw new AppError(
        429,
        'too_many_tries',
        `Too many wrong ${which === 'pin' ? 'PINs' : 'passwords'} in a row: try again in ${seconds} seconds.`,
        { retryAfterSeconds: seconds },
      );
    }
    const ok = await verifyPassword(
      given,
      which === 'pin' ? (r.pin_hash ?? r.password_hash) : r.password_hash,
    );
    if (ok) {
      rechecks.succeed(r.id);
      return true;
    }
    if (rechecks.fail(r.id) > 0) log.warn({ username: r.username }, 'auth: re-checks slowed down');
    return false;
  }

  async function create(input: UserInput): Promise<UserRecord> {
    const taken = () =>
      new AppError(409, 'username_taken', `The user name "${input.username}" is already used.`);
    if (byName.get(input.username)) throw taken();
    const id = randomUUID();
    const hash = await hashPassword(input.password);
    try {
      db.prepare(
        `INSERT INTO users (id, username, password_hash, roles, zones, display_name, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        id,
        input.username,
        hash,
        JSON.stringify(input.roles),
        input.zones ? JSON.stringify(input.zones) : null,
        input.displayName ?? null,
        nowIso(),
      );
    } catch (err) {
      // Two requests for one name both passed the check above while hashing: the UNIQUE
      // constraint decides, and the loser hears why.
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw taken();
      throw err;
    }
    return toRecord(row(id));
  }

  return {
    async ensureAdmin(password) {
      const count = (db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n;
      if (count > 0) return { created: false };
      await create({ username: 'admin', password, roles: ['admin'] });
      log.info('created the first admin user "admin"');
      return { created: true };
    },

    list: () => db.prepare<[], Row>('SELECT * FROM users ORDER BY username').all().map(toRecord),
    get: (id) => toRecord(row(id)),
    create,

    async update(id, patch) {
      const r = row(id);
      const losesAdmin =
        (patch.roles && !patch.roles.includes('admin')) || patch.disabled === true || patch.zones;
      if (losesAdmin && (JSON.parse(r.roles) as Role[]).includes('admin') && otherAdmins(id) === 0) {
        throw new AppError(
          409,
          'last_admin',
          'This is the last admin with access to every zone: make another admin first.',
        );
      }
      const hash = patch.password ? await hashPassword(patch.password) : null;
      db.transaction(() => {
        if (patch.roles)
          db.prepare('UPDATE users SET roles = ? WHERE id = ?').run(JSON.stringify(patch.roles), id);
        if (patch.zones !== undefined) {
          db.prepare('UPDATE users SET zones = ? WHERE id = ?').run(
            patch.zones ? JSON.stringify(patch.zones) : null,
            id,
          );
        }
        if (patch.displayName !== undefined) {
          db.prepare('UPDATE users SET display_name = ? WHERE id = ?').run(patch.displayName, id);
        }
        if (patch.disabled !== undefined) {
          db.prepare('UPDATE users SET disabled_at = ? WHERE id = ?').run(
            patch.disabled ? nowIso() : null,
            id,
          );
        }
        if (hash) db.prepare('UPDATE users SET password_hash = ? WHERE id = ?').run(hash, id);
        if (patch.unlock || hash) succeeded.run(id);
      })();
      if (patch.unlock || hash) {
        pairs.clear(r.username);
        rechecks.succeed(id);
      }
      return toRecord(row(id));
    },

    remove(id) {
      const r = row(id);
      if ((JSON.parse(r.roles) as Role[]).includes('admin') && otherAdmins(id) === 0) {
        throw new AppError(409, 'last_admin', 'This is the last admin: make another admin first.');
      }
      db.prepare('DELETE FROM users WHERE id = ?').run(id);
    },

    async checkPassword(username, password, ip = '') {
      const r = byName.get(username);
      // One scrypt on every path (a dummy hash for unknown names), so neither the answer nor its
      // timing tells whether the name exists or a lock applies.
      const ok = await verifyPassword(password, r?.password_hash ?? DUMMY_HASH);
      if (pairs.lockedUntil(username, ip)) throw new LoginRefused('locked_here', deps.lockS);
      if (!r) {
        pairs.fail(username, ip);
        throw new LoginRefused('bad_credentials', deps.lockS);
      }
      const accountLocked = r.locked_until !== null && r.locked_until > nowIso();
      if (accountLocked && !hasSessionFrom.get(r.id, ip, nowIso())) {
        throw new LoginRefused('account_locked', deps.lockS);
      }
      if (!ok) {
        if (pairs.fail(username, ip)) {
          log.warn({ username: r.username, ip }, 'auth: logins for this name from this address paused');
        }
        recordFailure(r);
        throw new LoginRefused('bad_credentials', deps.lockS);
      }
      if (r.disabled_at) {
        throw new AppError(403, 'account_disabled', 'This account is disabled; ask an admin.');
      }
      succeeded.run(r.id);
      pairs.succeed(username, ip);
      return toRecord({ ...r, failed_logins: 0, locked_until: null });
    },

    async changePassword(id, current, next) {
      if (!(await checkSecret(row(id), current, 'password'))) {
        throw new AppError(403, 'bad_credentials', 'The current password is wrong.');
      }
      db.prepare('UPDATE users SET password_hash = ? WHERE id = ?').run(await hashPassword(next), id);
    },

    async setPin(id, currentPassword, pin) {
      if (!(await checkSecret(row(id), currentPassword, 'password'))) {
        throw new AppError(403, 'bad_credentials', 'The current password is wrong.');
      }
      db.prepare('UPDATE users SET pin_hash = ? WHERE id = ?').run(await hashPassword(pin), id);
    },

    confirm: (id, pinOrPassword) => checkSecret(row(id), pinOrPassword, 'pin'),
  };
}
