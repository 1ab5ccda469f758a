/**
 * The Idempotency-Key request header (IETF draft-ietf-httpapi-idempotency-key-header) on the routes
 * whose config says `idempotent`: an officer on 3G taps "Announce", the answer is lost, the phone
 * sends the same request again — and the horns must not sound twice.
 *
 * - The first request with a key is processed; a successful (2xx) answer is kept with the key, per
 *   officer, for 24 hours (expired ones are pruned as new keys come).
 * - The same key and the same request again: the kept answer, with `Idempotent-Replayed: true`, and
 *   nothing else happens (no second bulletin, no second audit line).
 * - The same key for another request: 422. The same key while the first is still running: 409.
 * - A refused or failed answer (4xx, 5xx) is not kept: nothing was made, so the same key may be sent
 *   again once the cause is fixed — with the PIN after a 428, say.
 * - No key: the route works as before.
 *
 * Requests still running are known in memory only: one controller process serves the database, and
 * after a crash nothing is left claiming a key that no request holds any more.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { Db } from '../storage/db.js';

/** How long an answer is kept for retries (the draft leaves it to the server; Stripe keeps 24 h). */
export const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;
export const REPLAYED_HEADER = 'idempotent-replayed';

const KEY_WORDS =
  'Idempotency-Key must be 1 to 255 printable ASCII characters, for example a UUID, bare or in double quotes';
/** The header as sent: printable ASCII (a Structured Field String in quotes, or bare as Stripe takes it). */
const keySchema = z.string().regex(/^[\x20-\x7e]{1,255}$/, KEY_WORDS);

/** The request headers of an idempotent route, for its schema (and so for OpenAPI). Other headers pass. */
export const idempotencyHeaders = z.looseObject({
  'idempotency-key': keySchema
    .optional()
    .describe(
      'Makes a retry safe: send one unique key (e.g. a UUID) per thing to make, and the same key when ' +
        'you send it again after a lost answer. The same key and the same body again get the first ' +
        'answer back (header Idempotent-Replayed: true) and nothing is done twice; the same key with ' +
        'another body is refused (422 idempotency_key_reused), and while the first is still running ' +
        '(409 idempotency_key_in_use). Kept per officer for 24 hours; a 4xx or 5xx answer is not kept, ' +
        'so the same key may be retried after fixing the cause (e.g. with the PIN after a 428).',
    ),
});

/**
 * The key in the header: the draft writes it as a Structured Field String (`"…"`, RFC 8941 §3.3.3,
 * where `\"` and `\\` are escapes); a bare value is taken as it is. Throws 400 when it is empty.
 */
export function parseIdempotencyKey(raw: string): string {
  const value = raw.trim();
  const quoted = /^"((?:[^"\\]|\\["\\])*)"$/.exec(value);
  const key = quoted ? quoted[1]!.replace(/\\(["\\])/g, '$1') : value;
  if (!key) throw new AppError(400, 'bad_idempotency_key', `${KEY_WORDS}; it is empty.`);
  return key;
}

export type Begin =
  | { kind: 'new' }
  | { kind: 'replay'; status: number; body: string }
  | { kind: 'in_flight' }
  | { kind: 'mismatch' };

export interface IdempotencyStore {
  /** Claims `key` for this request, or says what to answer instead. Prunes expired answers. */
  begin(userId: string, key: string, fingerprint: string): Begin;
  /** Ends the claim: a 2xx answer is kept for the key; anything else (or no JSON body) frees it. */
  finish(userId: string, key: string, fingerprint: string, status: number, body: string | null): void;
}

export function createIdempotencyStore(
  db: Db,
  opts: { ttlMs?: number; now?: () => number } = {},
): IdempotencyStore {
  const ttlMs = opts.ttlMs ?? IDEMPOTENCY_TTL_MS;
  const now = opts.now ?? Date.now;
  const prune = db.prepare('DELETE FROM idempotency_keys WHERE expires_at <= ?');
  const find = db.prepare<[string, string], { fingerprint: string; status: number; body: string }>(
    'SELECT fingerprint, status, body FROM idempotency_keys WHERE user_id = ? AND key = ?',
  );
  const keep = db.prepare(
    `INSERT OR REPLACE INTO idempotency_keys (user_id, key, fingerprint, status, body, created_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  /** officer + key → fingerprint of the request running with it */
  const running = new Map<string, string>();
  const id = (userId: string, key: string) => `${userId}\n${key}`;

  return {
    begin(userId, key, fingerprint) {
      prune.run(new Date(now()).toISOString());
      const inFlight = running.get(id(userId, key));
      if (inFlight !== undefined) return { kind: inFlight === fingerprint ? 'in_flight' : 'mismatch' };
      const kept = find.get(userId, key);
      if (kept) {
        return kept.fingerprint === fingerprint
          ? { kind: 'replay', status: kept.status, body: kept.body }
          : { kind: 'mismatch' };
      }
      running.set(id(userId, key), fingerprint);
      return { kind: 'new' };
    },
    finish(userId, key, fingerprint, status, body) {
      running.delete(id(userId, key));
      if (status < 200 || status >= 300 || body === null) return;
      const at = now();
      keep.run(
        userId,
        key,
        fingerprint,
        status,
        body,
        new Date(at).toISOString(),
        new Date(at + ttlMs).toISOString(),
      );
    },
  };
}

/**
 * What identifies "the same request": method, route and the body as validated, without the fields
 * the route lists in `ignore` (how it was authorised, like `confirm`, is not what it asks for).
 * zod rebuilds the body in its schema's key order, so two spellings of one request match.
 */
function fingerprintOf(request: FastifyRequest, ignore: readonly string[]): string {
  const body = request.body;
  const kept =
    body && typeof body === 'object' && !Array.isArray(body)
      ? Object.fromEntries(Object.entries(body).filter(([k]) => !ignore.includes(k)))
      : body;
  return createHash('sha256')
    .update(`${request.method} ${request.routeOptions.url}\n${JSON.stringify(kept ?? null)}`)
    .digest('hex');
}

/** Installs the hooks; routes opt in with `config: { idempotent: {} }` and `schema.headers: idempotencyHeaders`. */
export function installIdempotency(app: FastifyInstance, store: IdempotencyStore): void {
  // After authentication and validation: the officer is known, the body is the validated one.
  app.addHook('preHandler', async (request, reply) => {
    const opts = request.routeOptions.config?.idempotent;
    const raw = request.headers['idempotency-key'];
    if (!opts || typeof raw !== 'string' || !request.user) return;
    const key = parseIdempotencyKey(raw);
    const userId = request.user.id;
    const fingerprint = fingerprintOf(request, opts.ignore ?? []);
    const begun = store.begin(userId, key, fingerprint);
    switch (begun.kind) {
      case 'new':
        request.idempotency = { userId, key, fingerprint, replayed: false };
        return;
      case 'replay':
        request.idempotency = { userId, key, fingerprint, replayed: true };
        return reply
          .code(begun.status)
          .header(REPLAYED_HEADER, 'true')
          .type('application/json; charset=utf-8')
          .send(begun.body);
      case 'in_flight':
        throw new AppError(
          409,
          'idempotency_key_in_use',
          'The first request with this Idempotency-Key is still being processed; wait a moment and retry with the same key.',
        );
      case 'mismatch':
        throw new AppError(
          422,
          'idempotency_key_reused',
          'This Idempotency-Key was already used for a different request; send a new key for a new request.',
        );
      default: {
        const never: never = begun;
        return never;
      }
    }
  });
  app.addHook('onSend', async (request, reply, payload) => {
    const claim = request.idempotency;
    if (!claim || claim.replayed) return payload;
    request.idempotency = undefined; // once, even if the answer is sent again
    store.finish(
      claim.userId,
      claim.key,
      claim.fingerprint,
      reply.statusCode,
      typeof payload === 'string' ? payload : null,
    );
    return payload;
  });
}
