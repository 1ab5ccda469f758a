/**
 * The officer's phone app (src/web/app, built by `npm run build` into dist/web) served at `/`:
 * its files from disk (hashed assets cached for a year, the shell and the service worker always
 * revalidated), and every other GET outside /api and /docs answered with index.html so a deep link
 * (/announce) opens the app. Without a build, `/` says how to make one.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** dist/web, from this module run as source (src/http) or built (dist/src/http). */
export function findWebRoot(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, '..', '..', 'web'), join(here, '..', '..', 'dist', 'web')]) {
    if (existsSync(join(candidate, 'index.html'))) return candidate;
  }
  return null;
}

const NOT_BUILT =
  '<!doctype html><meta charset="utf-8"><title>Loa làng</title><meta name="viewport" content="width=device-width">' +
  '<h1>Loa làng</h1><p>Ứng dụng chưa được dựng. Chạy <code>npm run build</code> rồi khởi động lại.</p>' +
  '<p>The app is not built: run <code>npm run build</code>, then start again. API docs: <a href="/docs">/docs</a>.</p>';

/**
 * Serves the built app at `/` (one wildcard route, `GET|HEAD /*`, behind every API route), or,
 * without a build, a page at `/` saying how to make one. Answers the not-found handler's shell for
 * deep links (see installErrorHandler).
 */
export async function installWebApp(app: FastifyInstance, root: string | null): Promise<void> {
  if (!root) {
    app.get('/', { config: { public: true }, schema: { hide: true } }, (_req, reply) =>
      reply.type('text/html; charset=utf-8').send(NOT_BUILT),
    );
    return;
  }
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    wildcard: true,
    // the build wrote .br and .gz beside each file (vite.config.ts)
    preCompressed: true,
    index: ['index.html'],
    schemaHide: true,
    setHeaders(res, path) {
      // hashed assets never change; the shell, the manifest and the service worker are revalidated
      const immutable = /[\\/]assets[\\/]/.test(path);
      res.setHeader('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
}

/** The app's index.html for a deep link (the not-found handler calls it). */
export const sendAppShell = (_request: FastifyRequest, reply: FastifyReply): FastifyReply =>
  reply.header('cache-control', 'no-cache').sendFile('index.html');
