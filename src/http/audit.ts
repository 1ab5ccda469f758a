/**
 * The audit log: every successful state-changing API call, every login and upload attempt, who made it,
 * from which address, on what. Circular 39 asks for broadcast logs and information security; after
 * the siren hijackings (see shared/domain.md) an officer must be able to answer "who started that
 * broadcast?". The table is append-only (database triggers refuse UPDATE and DELETE).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Db } from '../storage/db.js';

const CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Recorded explicitly (with the user name tried), or not worth a line. */
const SKIP = new Set([
  '/api/auth/login',
  '/api/auth/logout',
  '/api/auth/setup',
  // uploads, refused ones too, are recorded by the audio routes (with the audio id or the reason)
  '/api/audio',
  // the broker's callbacks (EMQX), one per MQTT connection and per uncached publish: they change nothing
  '/api/mqtt/emqx/authn',
  '/api/mqtt/emqx/authz',
]);

export interface Audit {
  /** Records one action by the request's user (or `userId`), from the request's address. */
  record(
    request: FastifyRequest,
    action: string,
    subject?: string | null,
    userId?: string | null,
    detail?: Record<string, unknown>,
  ): void;
}

export function createAudit(db: Db): Audit {
  const insert = db.prepare(
    'INSERT INTO audit (at, user_id, action, subject, detail, ip) VALUES (?, ?, ?, ?, ?, ?)',
  );
  return {
    record(request, action, subject = null, userId = null, detail = {}) {
      insert.run(
        new Date().toISOString(),
        userId ?? request.user?.id ?? null,
        action,
        subject,
        JSON.stringify({
          ...detail,
          via: request.user?.via,
          userAgent: request.headers['user-agent']?.slice(0, 200),
        }),
        request.ip,
      );
    },
  };
}

/** Records every successful state-changing call once its response is sent. */
export function installAuditHook(app: FastifyInstance, audit: Audit): void {
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url;
    if (!route || !CHANGING.has(request.method) || SKIP.has(route) || reply.statusCode >= 400) return;
    // a retry answered with the first answer (Idempotency-Key) did nothing: the first has its line
    if (request.idempotency?.replayed) return;
    const params = request.params as Record<string, string> | undefined;
    audit.record(request, `${request.method} ${route}`, params?.id ?? request.auditSubject ?? null, null, {
      status: reply.statusCode,
    });
  });
}
