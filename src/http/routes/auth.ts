/** Login (bearer token), logout, and who am I. */
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { bearerToken } from '../auth-hook.js';
import { errorBodySchema } from '../errors.js';
import type { RoutePlugin } from '../types.js';

const userSchema = z.object({
  id: z.string(),
  username: z.string(),
  role: z.enum(['admin', 'operator', 'viewer']),
});

const routes: RoutePlugin = async (app, { services }) => {
  app.post(
    '/login',
    {
      config: { public: true, rateLimit: { max: 10, timeWindow: '1 minute' } },
      schema: {
        tags: ['auth'],
        summary: 'Log in; returns a bearer token',
        security: [],
        body: z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(200) }),
        response: {
          200: z.object({ token: z.string(), expiresAt: z.string(), user: userSchema }),
          401: errorBodySchema,
        },
      },
    },
    async (request) => services.auth.login(request.body.username, request.body.password),
  );

  app.post(
    '/logout',
    {
      schema: {
        tags: ['auth'],
        summary: 'Revoke the token used for this request',
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      const token = bearerToken(request);
      if (token) services.auth.logout(token);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/me',
    { schema: { tags: ['auth'], summary: 'The logged-in user', response: { 200: userSchema } } },
    async (request) => {
      if (!request.user) throw new AppError(401, 'unauthorized', 'Log in first.');
      return request.user;
    },
  );
};
export default routes;
