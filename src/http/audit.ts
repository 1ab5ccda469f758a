/**
 * The audit log: every successful state-changing API call, who made it and on what. Circular 39
 * asks for broadcast logs and information security; after the siren hijackings (see
 * shared/domain.md) an operator must be able to answer "who started that broadcast?".
 */
import type { FastifyInstance } from 'fastify';
import type { Db } from '../storage/db.js';

const CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Not worth an audit line: logging in and out (the token table already records sessions). */
const SKIP = new Set(['/api/auth/login', '/api/auth/logout']);

export function installAuditLog(app: FastifyInstance, db: Db): void {
  const insert = db.prepare(
    'INSERT INTO audit (at, user_id, action, subject, detail) VALUES (?, ?, ?, ?, ?)',
  );
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url;
    if (!route || !CHANGING.has(request.method) || SKIP.has(route) || reply.statusCode >= 400) return;
    const params = request.params as Record<string, string> | undefined;
    insert.run(
      new Date().toISOString(),
      request.user?.id ?? null,
      `${request.method} ${route}`,
      params?.id ?? null,
      JSON.stringify({ status: reply.statusCode, ip: request.ip }),
    );
  });
}
