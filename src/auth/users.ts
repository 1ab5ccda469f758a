/**
 * Officer accounts: roles, zone scope, PIN, and the lockout that turns a password-guessing run into
 * a locked account. Passwords and PINs are hashed with scrypt (memory-hard, from node:crypto).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { AppError, notFound } from '../errors.js';
import { type Db, nowIso } from '../storage/db.js';
import { hashPassword, randomSecret, verifyPassword } from './passwords.js';
import type { Role } from './roles.js';

/** Verified against when the user does not exist, so both paths cost one scrypt. */
const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

export interface UserRecord {
  id: string;
  username: string;
  displayName: string | null;
  roles: Role[];
  zones: string[] | null;
  disabled: boolean;
  lockedUntil: string | null;
  hasPin: boolean;
  createdAt: string;
}

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

export interface UserStore {
  ensureAdmin(password?: string): Promise<{ created: boolean; generatedPassword?: string }>;
  list(): UserRecord[];
  get(id: string): UserRecord;
  create(input: UserInput): Promise<UserRecord>;
  update(id: string, patch: UserPatch): Promise<UserRecord>;
  remove(id: string): void;
  /** The user when the password is right; throws 401 otherwise, or 423 while the account is locked. */
  checkPassword(username: string, password: string): Promise<UserRecord>;
  changePassword(id: string, current: string, next: string): Promise<void>;
  setPin(id: string, currentPassword: string, pin: string): Promise<void>;
  /** Checks a PIN (or, for a user without one, the password); failures count toward the lockout. */
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

  function lockedError(until: string): AppError {
    return new AppError(
      423,
      'account_locked',
      `Too many wrong passwords: this account is locked until ${until}. Try again later or ask an admin to unlock it.`,
      { lockedUntil: until },
    );
  }

  /** Records a failure; returns the lock's end when this failure locked the account. */
  function recordFailure(r: Row): string | null {
    const until = new Date(Date.now() + deps.lockS * 1000).toISOString();
    failed.run(deps.maxFailures, until, r.id);
    if (r.failed_logins + 1 >= deps.maxFailures) {
      log.warn({ username: r.username, failures: r.failed_logins + 1 }, 'auth: account locked');
      return until;
    }
    return null;
  }

  /**
   * Checks a logged-in officer's password (or PIN, falling back to the password when none is set),
   * under the same lockout as the login: a stolen session cannot guess either one.
   */
  async function checkSecret(r: Row, given: string, which: 'password' | 'pin'): Promise<boolean> {
    if (r.locked_until && r.locked_until > nowIso()) throw lockedError(r.locked_until);
    const ok = await verifyPassword(
      given,
      which === 'pin' ? (r.pin_hash ?? r.password_hash) : r.password_hash,
    );
    if (ok) {
      succeeded.run(r.id);
      return true;
    }
    const locked = recordFailure(r);
    if (locked) throw lockedError(locked);
    return false;
  }

  async function create(input: UserInput): Promise<UserRecord> {
    if (byName.get(input.username)) {
      throw new AppError(409, 'username_taken', `The user name "${input.username}" is already used.`);
    }
    const id = randomUUID();
    db.prepare(
      `INSERT INTO users (id, username, password_hash, roles, zones, display_name, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      id,
      input.username,
      await hashPassword(input.password),
      JSON.stringify(input.roles),
      input.zones ? JSON.stringify(input.zones) : null,
      input.displayName ?? null,
      nowIso(),
    );
    return toRecord(row(id));
  }

  return {
    async ensureAdmin(password) {
      const count = (db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n;
      if (count > 0) return { created: false };
      const generated = password ? undefined : randomSecret(12);
      await create({ username: 'admin', password: password ?? generated!, roles: ['admin'] });
      log.info('created the first admin user "admin"');
      return generated ? { created: true, generatedPassword: generated } : { created: true };
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
      return toRecord(row(id));
    },

    remove(id) {
      const r = row(id);
      if ((JSON.parse(r.roles) as Role[]).includes('admin') && otherAdmins(id) === 0) {
        throw new AppError(409, 'last_admin', 'This is the last admin: make another admin first.');
      }
      db.prepare('DELETE FROM users WHERE id = ?').run(id);
    },

    async checkPassword(username, password) {
      const r = byName.get(username);
      if (!r) {
        // Same work whether or not the user exists, so timing does not reveal user names.
        await verifyPassword(password, DUMMY_HASH);
        throw new AppError(401, 'bad_credentials', 'Wrong user name or password.');
      }
      if (r.locked_until && r.locked_until > nowIso()) throw lockedError(r.locked_until);
      const ok = await verifyPassword(password, r.password_hash);
      if (!ok) {
        const locked = recordFailure(r);
        if (locked) throw lockedError(locked);
        throw new AppError(401, 'bad_credentials', 'Wrong user name or password.');
      }
      if (r.disabled_at) {
        throw new AppError(403, 'account_disabled', 'This account is disabled; ask an admin.');
      }
      succeeded.run(r.id);
      return toRecord(r);
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
