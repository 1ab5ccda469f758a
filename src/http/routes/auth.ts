/**
 * The officer's own account: log in (bearer token, or the web UI's cookie session with its CSRF
 * token), log out, who am I, change password, set the confirmation PIN, and personal API tokens.
 */
import { z } from 'zod';
import { LoginRefused } from '../../auth/users.js';
import { AppError } from '../../errors.js';
import { SESSION_COOKIE, sessionToken } from '../auth-hook.js';
import { errorBodySchema } from '../errors.js';
import { apiTokenSchema, idParams, passwordSchema, usernameSchema, userSchema } from '../schemas.js';
import type { RoutePlugin } from '../types.js';

const tags = ['auth'];

const routes: RoutePlugin = async (app, { services }) => {
  const { auth, config } = services;
  const secureCookie = (protocol: string) =>
    config.COOKIE_SECURE === 'auto' ? protocol === 'https' : config.COOKIE_SECURE === 'true';

  app.post(
    '/login',
    {
      // Per source address (the peer, or the client a TRUSTED_PROXIES proxy names); the per-name and
      // per-account counters in src/auth/users.ts cover slower and distributed guessing.
      config: { public: true, rateLimit: { max: config.LOGIN_RATE_PER_MIN, timeWindow: '1 minute' } },
      schema: {
        tags,
        summary:
          'Log in: a bearer token, or (session: "cookie") an HTTP-only session cookie and a CSRF token',
        security: [],
        body: z.object({
          username: z.string().min(1).max(64),
          password: z.string().min(1).max(200),
          session: z.enum(['bearer', 'cookie']).default('bearer'),
        }),
        response: {
          200: z.object({
            token: z.string().optional().describe('bearer token (session "bearer")'),
            csrfToken: z.string().optional().describe('send as X-CSRF-Token (session "cookie")'),
            expiresAt: z.string(),
            user: userSchema,
          }),
          401: errorBodySchema.describe(
            'the same answer for an unknown name, a wrong password and a lock: nothing tells them apart',
          ),
          403: errorBodySchema,
          429: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      const { username, password, session } = request.body;
      let result: Awaited<ReturnType<typeof auth.login>>;
      try {
        result = await auth.login(username, password, { kind: session, ip: request.ip });
      } catch (err) {
        // The audit log keeps the real reason; the caller heard the same 401 for each.
        if (err instanceof LoginRefused)
          services.audit.record(request, `login refused: ${err.reason}`, username);
        else if (err instanceof AppError)
          services.audit.record(request, `login refused: ${err.code}`, username);
        throw err;
      }
      services.audit.record(request, `login (${session})`, username, result.user.id);
      if (session === 'bearer')
        return { token: result.token, expiresAt: result.expiresAt, user: result.user };
      reply.setCookie(SESSION_COOKIE, result.token, {
        path: '/',
        httpOnly: true,
        sameSite: 'strict',
        secure: secureCookie(request.protocol),
        expires: new Date(result.expiresAt),
      });
      const principal = auth.sessions.verify(result.token, 'cookie');
      request.user = principal ?? undefined;
      return {
        csrfToken: reply.generateCsrf({ userInfo: principal?.credentialId ?? '' }),
        expiresAt: result.expiresAt,
        user: result.user,
      };
    },
  );

  app.get(
    '/setup',
    {
      config: { public: true },
      schema: {
        tags,
        summary: 'Whether this controller waits for its first admin (first-run set-up)',
        description:
          'True only when the controller started with no account and no ADMIN_PASSWORD: it printed a ' +
          'one-time set-up code in its log, to be sent with POST /api/auth/setup.',
        security: [],
        response: { 200: z.object({ needed: z.boolean() }) },
      },
    },
    async () => ({ needed: auth.setup.pending() }),
  );

  app.post(
    '/setup',
    {
      // Per address; the code (~59 bits) cannot be guessed at this pace, and it works once.
      config: { public: true, rateLimit: { max: 5, timeWindow: '1 minute' } },
      schema: {
        tags,
        summary: 'First-run set-up: with the one-time code from the log, make the first admin',
        description:
          'Works once, and only on a controller started with no account and no ADMIN_PASSWORD: the ' +
          'code is printed in its log at start (a new one at every start until the set-up is done). ' +
          'Then log in with the name and password chosen here. Audited.',
        security: [],
        body: z.object({
          code: z.string().trim().min(1).max(40).describe('the set-up code, e.g. K7QM-3XPA-W9TD'),
          username: usernameSchema.default('admin'),
          password: passwordSchema,
        }),
        response: {
          201: userSchema,
          400: errorBodySchema,
          403: errorBodySchema.describe('bad_setup_code: the code is wrong'),
          409: errorBodySchema.describe('already_set_up: an account exists; log in instead'),
          429: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      const { code, username, password } = request.body;
      let user: Awaited<ReturnType<typeof auth.setup.complete>>;
      try {
        user = await auth.setup.complete(code, { username, password });
      } catch (err) {
        if (err instanceof AppError) services.audit.record(request, `first-run set-up refused: ${err.code}`);
        throw err;
      }
      services.audit.record(request, 'first-run set-up: admin created', user.username, user.id);
      return reply.code(201).send(user);
    },
  );

  app.post(
    '/logout',
    {
      schema: {
        tags,
        summary: 'End this session',
        description: 'Ends the bearer token or the cookie session sent (an API token is not ended here).',
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      const presented = sessionToken(request);
      if (presented && request.user?.via !== 'api_token') auth.logout(presented.token);
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/me',
    {
      schema: {
        tags,
        summary: 'The logged-in officer',
        description: 'Roles and villages (zones; null: every village) decide what the app offers.',
        response: { 200: userSchema },
      },
    },
    async (request) => auth.users.get(request.user!.id),
  );

  app.get(
    '/csrf',
    {
      schema: {
        tags,
        summary: 'A CSRF token for this cookie session (send it as X-CSRF-Token)',
        response: { 200: z.object({ csrfToken: z.string() }) },
      },
    },
    async (request, reply) => ({ csrfToken: reply.generateCsrf({ userInfo: request.user!.credentialId }) }),
  );

  app.post(
    '/password',
    {
      config: { rateLimit: { max: 10, timeWindow: '1 minute' } },
      schema: {
        tags,
        summary: 'Change my password; every session of mine ends, this one included',
        description:
          'API tokens keep working (they belong to integrations, which a password change should not ' +
          'break) unless `revokeTokens` is true: then every API token of mine is revoked too. Choose it ' +
          'when the password may have leaked.',
        body: z.object({
          currentPassword: z.string().min(1).max(200),
          newPassword: passwordSchema,
          revokeTokens: z.boolean().default(false).describe('also revoke every API token of mine'),
        }),
        response: {
          204: z.null(),
          403: errorBodySchema.describe('bad_credentials: the current password is wrong'),
          429: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      const id = request.user!.id;
      await auth.users.changePassword(id, request.body.currentPassword, request.body.newPassword);
      auth.sessions.closeAll(id);
      if (request.body.revokeTokens) auth.sessions.revokeAllApiTokens(id);
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/pin',
    {
      config: { rateLimit: { max: 10, timeWindow: '1 minute' } },
      schema: {
        tags,
        summary: 'Set my PIN, re-entered to confirm an emergency broadcast to every village',
        description:
          'Needs my current password (403 bad_credentials when wrong; wrong tries in a row slow down ' +
          'with 429 too_many_tries). Until a PIN is set, the password confirms instead.',
        body: z.object({
          currentPassword: z.string().min(1).max(200),
          pin: z.string().regex(/^\d{6,12}$/, '6 to 12 digits'),
        }),
        response: { 204: z.null(), 403: errorBodySchema, 429: errorBodySchema },
      },
    },
    async (request, reply) => {
      await auth.users.setPin(request.user!.id, request.body.currentPassword, request.body.pin);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/confirm',
    {
      config: { rateLimit: { max: 30, timeWindow: '1 minute' } },
      schema: {
        tags,
        summary:
          'Re-enter my PIN (or password, if I set no PIN) for a one-time token that confirms one emergency to every village within 2 minutes',
        body: z.object({ pin: z.string().min(1).max(200) }),
        response: {
          200: z.object({ token: z.string(), expiresAt: z.string() }),
          403: errorBodySchema,
          429: errorBodySchema,
        },
      },
    },
    // Wrong PINs count on this officer's own re-check counter (never the login lockout, so failed
    // logins from elsewhere cannot block it); the rate limit only bounds the scrypt work.
    async (request) => {
      const id = request.user!.id;
      if (!(await auth.users.confirm(id, request.body.pin))) {
        throw new AppError(403, 'bad_pin', 'Wrong PIN.');
      }
      return auth.confirmations.issue(id);
    },
  );

  app.get(
    '/tokens',
    {
      schema: {
        tags,
        summary: 'My API tokens',
        response: { 200: z.object({ items: z.array(apiTokenSchema) }) },
      },
    },
    async (request) => ({ items: auth.sessions.listApiTokens(request.user!.id) }),
  );

  app.post(
    '/tokens',
    {
      schema: {
        tags,
        summary: 'Make an API token for an integration; it acts with my roles and is shown only once',
        body: z.object({
          name: z.string().trim().min(1).max(100),
          expiresInDays: z.number().int().min(1).max(3650).optional(),
        }),
        response: { 201: z.object({ token: z.string(), info: apiTokenSchema }) },
      },
    },
    async (request, reply) => {
      if (request.user!.via === 'api_token') {
        throw new AppError(403, 'forbidden', 'An API token cannot make more API tokens; log in as a person.');
      }
      const made = auth.sessions.createApiToken(
        request.user!.id,
        request.body.name,
        request.body.expiresInDays,
      );
      return reply.code(201).send(made);
    },
  );

  app.delete(
    '/tokens/:id',
    {
      schema: {
        tags,
        summary: 'Revoke one of my API tokens',
        params: idParams,
        response: { 200: apiTokenSchema, 404: errorBodySchema, 409: errorBodySchema },
      },
    },
    async (request) => {
      const mine = auth.sessions.listApiTokens(request.user!.id).some((t) => t.id === request.params.id);
      if (!mine) throw new AppError(404, 'not_found', `API token "${request.params.id}" is not one of yours`);
      return auth.sessions.revokeApiToken(request.params.id);
    },
  );
};
export default routes;
