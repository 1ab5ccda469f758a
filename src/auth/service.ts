/**
 * Users and bearer tokens. A first-run admin is created from ADMIN_PASSWORD, or with a generated
 * password printed once. Roles exist in the schema (admin, operator, viewer); enforcing them per
 * route comes with the roles issue, through `requireRole`.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import { type Db, nowIso } from '../storage/db.js';
import { hashPassword, randomSecret, tokenHash, verifyPassword } from './passwords.js';

/** Verified against when the user does not exist, so both paths cost one scrypt. */
const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

export type Role = 'admin' | 'operator' | 'viewer';
export interface User {
  id: string;
  username: string;
  role: Role;
}

export interface AuthService {
  /** Creates the first admin if there is no user yet; returns the generated password, if any. */
  ensureAdmin(password?: string): Promise<{ created: boolean; generatedPassword?: string }>;
  login(username: string, password: string): Promise<{ token: string; expiresAt: string; user: User }>;
  /** The user a bearer token belongs to, or null when unknown or expired. */
  verifyToken(token: string): User | null;
  logout(token: string): void;
  createUser(username: string, password: string, role: Role): Promise<User>;
}

export function createAuthService(deps: { db: Db; log: Logger; tokenTtlS: number }): AuthService {
  const { db, log } = deps;
  const byName = db.prepare<[string], { id: string; username: string; role: Role; password_hash: string }>(
    'SELECT id, username, role, password_hash FROM users WHERE username = ?',
  );
  const insertUser = db.prepare(
    'INSERT INTO users (id, username, password_hash, role, created_at) VALUES (?, ?, ?, ?, ?)',
  );
  const insertToken = db.prepare(
    'INSERT INTO tokens (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)',
  );
  const tokenUser = db.prepare<[string, string], User>(
    `SELECT u.id, u.username, u.role FROM tokens t JOIN users u ON u.id = t.user_id
     WHERE t.token_hash = ? AND t.expires_at > ?`,
  );

  async function createUser(username: string, password: string, role: Role): Promise<User> {
    const id = randomUUID();
    insertUser.run(id, username, await hashPassword(password), role, nowIso());
    return { id, username, role };
  }

  return {
    async ensureAdmin(password) {
      const count = (db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n;
      if (count > 0) return { created: false };
      const generated = password ? undefined : randomSecret(12);
      await createUser('admin', password ?? generated!, 'admin');
      log.info('created the first admin user "admin"');
      return generated ? { created: true, generatedPassword: generated } : { created: true };
    },

    async login(username, password) {
      const row = byName.get(username);
      // Same work whether or not the user exists, so timing does not reveal user names.
      let ok = false;
      if (row) ok = await verifyPassword(password, row.password_hash);
      else await verifyPassword(password, DUMMY_HASH);
      if (!row || !ok) throw new AppError(401, 'bad_credentials', 'Wrong user name or password.');
      const token = randomSecret(32);
      const expiresAt = new Date(Date.now() + deps.tokenTtlS * 1000).toISOString();
      insertToken.run(tokenHash(token), row.id, nowIso(), expiresAt);
      db.prepare('DELETE FROM tokens WHERE expires_at <= ?').run(nowIso());
      return { token, expiresAt, user: { id: row.id, username: row.username, role: row.role } };
    },

    verifyToken(token) {
      return tokenUser.get(tokenHash(token), nowIso()) ?? null;
    },

    logout(token) {
      db.prepare('DELETE FROM tokens WHERE token_hash = ?').run(tokenHash(token));
    },

    createUser,
  };
}
