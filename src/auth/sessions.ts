/**
 * Login sessions and API tokens. Only the sha256 of a token is stored, so a copy of the database
 * logs nobody in. Session tokens expire (TOKEN_TTL_S); API tokens, for integrations, live until
 * revoked or their optional expiry, and are recognisable by their `llt_` prefix.
 */
import { randomUUID } from 'node:crypto';
import { AppError, notFound } from '../errors.js';
import { type Db, nowIso } from '../storage/db.js';
import { randomSecret, tokenHash } from './passwords.js';
import type { Principal, Role } from './roles.js';

export const API_TOKEN_PREFIX = 'llt_';

export interface ApiTokenInfo {
  id: string;
  name: string;
  userId: string;
  username: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface Sessions {
  open(userId: string, kind: 'bearer' | 'cookie', ip: string): { token: string; expiresAt: string };
  /** The principal a session or API token belongs to, or null (unknown, expired, revoked, disabled). */
  verify(token: string, kind: 'bearer' | 'cookie'): Principal | null;
  close(token: string): void;
  /** Ends every session of a user (password changed, account disabled). */
  closeAll(userId: string): void;
  createApiToken(userId: string, name: string, expiresInDays?: number): { token: string; info: ApiTokenInfo };
  listApiTokens(userId?: string): ApiTokenInfo[];
  revokeApiToken(id: string): ApiTokenInfo;
  /** Revokes every live API token of a user; returns how many. */
  revokeAllApiTokens(userId: string): number;
}

interface PrincipalRow {
  id: string;
  username: string;
  roles: string;
  zones: string | null;
}

const toPrincipal = (r: PrincipalRow, via: Principal['via'], credentialId: string): Principal => ({
  id: r.id,
  username: r.username,
  roles: JSON.parse(r.roles) as Role[],
  zones: r.zones === null ? null : (JSON.parse(r.zones) as string[]),
  via,
  credentialId,
});

export function createSessions(deps: { db: Db; ttlS: number }): Sessions {
  const { db } = deps;
  const insertSession = db.prepare(
    'INSERT INTO tokens (token_hash, user_id, created_at, expires_at, kind, ip) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const sessionUser = db.prepare<[string, string, string], PrincipalRow>(
    `SELECT u.id, u.username, u.roles, u.zones FROM tokens t JOIN users u ON u.id = t.user_id
     WHERE t.token_hash = ? AND t.kind = ? AND t.expires_at > ? AND u.disabled_at IS NULL`,
  );
  const apiUser = db.prepare<[string, string], PrincipalRow & { tokenId: string }>(
    `SELECT u.id, u.username, u.roles, u.zones, a.id AS tokenId FROM api_tokens a JOIN users u ON u.id = a.user_id
     WHERE a.token_hash = ? AND a.revoked_at IS NULL AND (a.expires_at IS NULL OR a.expires_at > ?)
       AND u.disabled_at IS NULL`,
  );
  const touchApi = db.prepare(
    'UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)',
  );
  const tokenInfo = `SELECT a.id, a.name, a.user_id AS userId, u.username, a.created_at AS createdAt,
      a.expires_at AS expiresAt, a.last_used_at AS lastUsedAt, a.revoked_at AS revokedAt
    FROM api_tokens a JOIN users u ON u.id = a.user_id`;

  function getToken(id: string): ApiTokenInfo {
    const info = db.prepare<[string], ApiTokenInfo>(`${tokenInfo} WHERE a.id = ?`).get(id);
    if (!info) throw notFound('API token', id);
    return info;
  }

  return {
    open(userId, kind, ip) {
      const token = randomSecret(32);
      const expiresAt = new Date(Date.now() + deps.ttlS * 1000).toISOString();
      insertSession.run(tokenHash(token), userId, nowIso(), expiresAt, kind, ip);
      db.prepare('DELETE FROM tokens WHERE expires_at <= ?').run(nowIso());
      return { token, expiresAt };
    },

    verify(token, kind) {
      const hash = tokenHash(token);
      const now = nowIso();
      if (token.startsWith(API_TOKEN_PREFIX)) {
        if (kind !== 'bearer') return null;
        const r = apiUser.get(hash, now);
        if (!r) return null;
        // Last use, to the minute: enough to spot a forgotten token, without a write per request.
        touchApi.run(now, r.tokenId, new Date(Date.now() - 60_000).toISOString());
        return toPrincipal(r, 'api_token', hash);
      }
      const r = sessionUser.get(hash, kind, now);
      return r ? toPrincipal(r, kind, hash) : null;
    },

    close(token) {
      db.prepare('DELETE FROM tokens WHERE token_hash = ?').run(tokenHash(token));
    },

    closeAll(userId) {
      db.prepare('DELETE FROM tokens WHERE user_id = ?').run(userId);
    },

    createApiToken(userId, name, expiresInDays) {
      const id = randomUUID();
      const token = `${API_TOKEN_PREFIX}${randomSecret(32)}`;
      const expiresAt = expiresInDays ? new Date(Date.now() + expiresInDays * 86400_000).toISOString() : null;
      db.prepare(
        'INSERT INTO api_tokens (id, name, token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
      ).run(id, name, tokenHash(token), userId, nowIso(), expiresAt);
      return { token, info: getToken(id) };
    },

    listApiTokens(userId) {
      return userId
        ? db
            .prepare<[string], ApiTokenInfo>(`${tokenInfo} WHERE a.user_id = ? ORDER BY a.created_at`)
            .all(userId)
        : db.prepare<[], ApiTokenInfo>(`${tokenInfo} ORDER BY a.created_at`).all();
    },

    revokeApiToken(id) {
      const info = getToken(id);
      if (info.revokedAt) throw new AppError(409, 'already_revoked', 'This API token is already revoked.');
      db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ?').run(nowIso(), id);
      return getToken(id);
    },

    revokeAllApiTokens(userId) {
      return db
        .prepare('UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL')
        .run(nowIso(), userId).changes;
    },
  };
}
