/**
 * Authentication and authorization for every route, secure by default:
 * - a route needs a logged-in officer unless its config says `public: true`;
 * - the officer comes from a bearer token (session or API token) or, for the web UI, from the
 *   HTTP-only, SameSite=Strict session cookie;
 * - a state-changing request authenticated by cookie must also carry the CSRF token
 *   (`X-CSRF-Token`, from login or `GET /api/auth/csrf`) and, when the browser sends one, an
 *   Origin of this site or of CORS_ORIGINS; bearer tokens are never sent by a browser on its own,
 *   so they need neither;
 * - the officer's roles must pass the route's rule in `policy.ts`.
 */
import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import { allows, ruleFor } from './policy.js';
import type { Services } from './types.js';

export const SESSION_COOKIE = 'loalang_session';
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

function bearerToken(request: FastifyRequest): string | null {
  const h = request.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m ? m[1]! : null;
}

/** The session token of the request (bearer header first, then the cookie), and how it came. */
export function sessionToken(request: FastifyRequest): { token: string; kind: 'bearer' | 'cookie' } | null {
  const bearer = bearerToken(request);
  if (bearer) return { token: bearer, kind: 'bearer' };
  const c = request.cookies?.[SESSION_COOKIE];
  return c ? { token: c, kind: 'cookie' } : null;
}

export async function installAuth(app: FastifyInstance, services: Services, csrfKey: Buffer): Promise<void> {
  await app.register(cookie);
  await app.register(csrf, {
    sessionPlugin: '@fastify/cookie',
    cookieOpts: { path: '/', sameSite: 'strict', httpOnly: true },
    // The CSRF token is bound to the session it was made for.
    getUserInfo: (req) => req.user?.credentialId ?? '',
    csrfOpts: { userInfo: true, hmacKey: csrfKey },
  });
  const allowedOrigins = new Set(services.config.CORS_ORIGINS);

  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config?.public) return;
    // Unknown routes fall through to the 404 handler.
    if (!request.routeOptions.url) return;
    const presented = sessionToken(request);
    const user = presented ? services.auth.sessions.verify(presented.token, presented.kind) : null;
    if (!user) {
      throw new AppError(
        401,
        'unauthorized',
        presented
          ? 'Your session has expired or was revoked; log in again.'
          : 'Log in first: send "Authorization: Bearer TOKEN" or use the session cookie.',
      );
    }
    request.user = user;
    if (user.via === 'cookie' && !SAFE.has(request.method)) {
      const origin = request.headers.origin;
      if (origin && !allowedOrigins.has(origin) && originHost(origin) !== request.host) {
        throw new AppError(403, 'bad_origin', `Requests from ${origin} may not change anything here.`);
      }
    }
    const rule = ruleFor(request.method, request.routeOptions.url);
    if (!allows(rule, user.roles)) {
      throw new AppError(
        403,
        'forbidden',
        `Your roles (${user.roles.join(', ') || 'none'}) do not allow this; it needs one of: ${
          rule === 'any'
            ? "an officer's role (an alert source may only submit alerts)"
            : ['admin', ...rule].join(', ')
        }.`,
      );
    }
  });

  // CSRF, after authentication: callback style, because the plugin answers the request itself.
  app.addHook('onRequest', (request, reply, done) => {
    if (request.user?.via === 'cookie' && !SAFE.has(request.method)) {
      app.csrfProtection(request, reply, done);
      return;
    }
    done();
  });
}

function originHost(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null;
  }
}
