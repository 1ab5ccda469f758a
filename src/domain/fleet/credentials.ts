/**
 * Per-device MQTT credentials. Adopting (or registering) a receiver issues it a random password,
 * shown once; only its hash is kept, in Mosquitto's own `$7$` format (PBKDF2-HMAC-SHA512, as
 * `mosquitto_passwd` writes it), so one stored row serves the embedded broker, a generated Mosquitto
 * password file and EMQX's HTTP authentication alike. Revoking deletes nothing: the row keeps
 * `revoked_at` for the record and stops verifying.
 */
import { pbkdf2 as pbkdf2Cb, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { type Db, nowIso } from '../../storage/db.js';

const pbkdf2 = promisify(pbkdf2Cb);

/**
 * Mosquitto's default iteration count. The passwords are 256-bit random secrets, not words a
 * person chose, so a slow hash adds nothing but connection cost for a fleet of thousands.
 */
const ITERATIONS = 101;
const SALT_BYTES = 12;
const HASH_BYTES = 64;

/** Hashes `password` as Mosquitto 2 does: `$7$<iterations>$<salt base64>$<hash base64>`. */
export function mosquittoHash(password: string, salt: Buffer = randomBytes(SALT_BYTES)): string {
  const hash = pbkdf2Sync(password, salt, ITERATIONS, HASH_BYTES, 'sha512');
  return `$7$${ITERATIONS}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Checks `password` against a `$7$` hash without blocking the event loop. Never throws. */
export async function verifyMosquittoHash(password: string, stored: string): Promise<boolean> {
  const m = /^\$7\$(\d{1,7})\$([A-Za-z0-9+/=]{1,100})\$([A-Za-z0-9+/=]{1,200})$/.exec(stored);
  if (!m) return false;
  const expected = Buffer.from(m[3]!, 'base64');
  const actual = await pbkdf2(
    password,
    Buffer.from(m[2]!, 'base64'),
    Number(m[1]),
    expected.length,
    'sha512',
  );
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

export interface IssuedCredentials {
  receiverId: string;
  username: string;
  /** shown once; never stored */
  password: string;
}

export interface CredentialRow {
  receiverId: string;
  username: string;
  passwordHash: string;
  createdAt: string;
  revokedAt: string | null;
}

export interface DeviceCredentials {
  /** Issues (or replaces) the receiver's credentials; the old password stops working at once. */
  issue(receiverId: string): IssuedCredentials;
  /** The receiver id these credentials belong to, or null (unknown, wrong password, revoked). */
  verify(username: string, password: string): Promise<string | null>;
  /** Revokes the receiver's credentials; returns whether there were live ones. */
  revoke(receiverId: string): boolean;
  /** Whether the receiver holds live credentials. */
  has(receiverId: string): boolean;
  /** When the receiver's live credentials were issued, or null when it holds none. */
  issuedAt(receiverId: string): string | null;
  /** Every live credential, for generating broker password files. */
  live(): CredentialRow[];
}

export function createDeviceCredentials(db: Db): DeviceCredentials {
  const upsert = db.prepare(
    `INSERT INTO receiver_credentials (receiver_id, username, password_hash, created_at, revoked_at)
     VALUES (?, ?, ?, ?, NULL)
     ON CONFLICT (receiver_id) DO UPDATE SET username = excluded.username,
       password_hash = excluded.password_hash, created_at = excluded.created_at, revoked_at = NULL`,
  );
  const byUsername = db.prepare<[string], { receiverId: string; passwordHash: string }>(
    `SELECT receiver_id AS receiverId, password_hash AS passwordHash FROM receiver_credentials
     WHERE username = ? AND revoked_at IS NULL`,
  );
  const revokeStmt = db.prepare(
    'UPDATE receiver_credentials SET revoked_at = ? WHERE receiver_id = ? AND revoked_at IS NULL',
  );
  const hasStmt = db.prepare<[string], { n: number }>(
    'SELECT count(*) AS n FROM receiver_credentials WHERE receiver_id = ? AND revoked_at IS NULL',
  );
  const issuedAtStmt = db.prepare<[string], { createdAt: string }>(
    'SELECT created_at AS createdAt FROM receiver_credentials WHERE receiver_id = ? AND revoked_at IS NULL',
  );
  const liveStmt = db.prepare<[], CredentialRow>(
    `SELECT receiver_id AS receiverId, username, password_hash AS passwordHash, created_at AS createdAt,
       revoked_at AS revokedAt
     FROM receiver_credentials WHERE revoked_at IS NULL ORDER BY receiver_id`,
  );

  return {
    issue(receiverId) {
      // The username is the receiver id: brokers and ACLs then need no lookup table.
      const password = randomBytes(32).toString('base64url');
      upsert.run(receiverId, receiverId, mosquittoHash(password), nowIso());
      return { receiverId, username: receiverId, password };
    },
    async verify(username, password) {
      const row = byUsername.get(username);
      if (!row) return null;
      return (await verifyMosquittoHash(password, row.passwordHash)) ? row.receiverId : null;
    },
    revoke: (receiverId) => revokeStmt.run(nowIso(), receiverId).changes > 0,
    has: (receiverId) => (hasStmt.get(receiverId)?.n ?? 0) > 0,
    issuedAt: (receiverId) => issuedAtStmt.get(receiverId)?.createdAt ?? null,
    live: () => liveStmt.all(),
  };
}
