/**
 * The central error handler: AppError and validation errors become 4xx bodies a person can read,
 * `{ error: code, message, details? }`; anything unexpected is logged and answered with a plain 500.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../errors.js';

export const errorBodySchema = z
  .object({
    error: z.string().describe('stable machine-readable code'),
    message: z.string().describe('what went wrong and what to do, for people'),
    details: z.unknown().optional(),
  })
  .meta({ id: 'Error' });

export function installErrorHandler(
  app: FastifyInstance,
  opts: { appShell?: ((request: FastifyRequest, reply: FastifyReply) => FastifyReply) | null } = {},
): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof AppError) {
      return reply.code(err.statusCode).send({ error: err.code, message: err.message, details: err.details });
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = err.validationContext ?? 'request';
      const lines = err.validation.map((v) => {
        const path = v.instancePath ? v.instancePath.replace(/^\//, '').replaceAll('/', '.') : '';
        return path ? `${path}: ${v.message}` : String(v.message);
      });
      return reply.code(400).send({
        error: 'validation',
        message: `Invalid ${where}: ${lines.join('; ')}`,
        details: err.validation.map((v) => ({ path: v.instancePath, message: v.message })),
      });
    }
    if (err.code?.startsWith('FST_CSRF_')) {
      return reply.code(403).send({
        error: 'csrf',
        message:
          'Missing or wrong CSRF token: send the X-CSRF-Token header you got at login or from GET /api/auth/csrf.',
      });
    }
    const status = err.statusCode ?? 500;
    if (status < 500) {
      return reply.code(status).send({ error: err.code ?? 'bad_request', message: err.message });
    }
    request.log.error({ err }, 'unhandled error');
    return reply.code(500).send({ error: 'internal', message: 'Internal server error; see the server log.' });
  });

  app.setNotFoundHandler((request, reply) => {
    // A deep link into the phone app (/announce, /library/…) opens the app, which routes it.
    const path = request.url.split('?')[0] ?? '';
    if (
      opts.appShell &&
      request.method === 'GET' &&
      !path.startsWith('/api/') &&
      !path.startsWith('/docs') &&
      !/\.[a-z0-9]+$/i.test(path)
    )
      return opts.appShell(request, reply);
    return reply.code(404).send({ error: 'not_found', message: `No route ${request.method} ${request.url}` });
  });
}
