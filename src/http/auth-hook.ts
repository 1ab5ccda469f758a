/**
 * Every route needs a bearer token unless its route config says `public: true`.
 * Secure by default: a new route someone forgets to mark is closed, not open.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Role } from '../auth/service.js';
import { AppError } from '../errors.js';
import type { Services } from './types.js';

export function bearerToken(request: FastifyRequest): string | null {
  const h = request.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m ? m[1]! : null;
}

export function installAuthHook(app: FastifyInstance, services: Services): void {
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config?.public) return;
    // Unknown routes fall through to the 404 handler.
    if (!request.routeOptions.url) return;
    const token = bearerToken(request);
    const user = token ? services.auth.verifyToken(token) : null;
    if (!user) {
      throw new AppError(
        401,
        'unauthorized',
        token
          ? 'Your session has expired; log in again.'
          : 'Log in first: send "Authorization: Bearer <token>".',
      );
    }
    request.user = user;
  });
}

/** A preHandler that refuses users without one of `roles` (seam for the roles issue). */
export function requireRole(...roles: Role[]) {
  return async (request: FastifyRequest) => {
    if (!request.user || !roles.includes(request.user.role)) {
      throw new AppError(403, 'forbidden', `This needs one of the roles: ${roles.join(', ')}.`);
    }
  };
}
