/**
 * The HTTP application as a Fastify instance: validation and serialisation with zod, OpenAPI
 * generated from the same schemas (served at /docs), the auth hook, and the routes under /api.
 * `src/server.ts` starts it; tests build it with `buildApp` and use `inject` or a real port.
 */
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { installAuditHook } from './http/audit.js';
import { installAuth } from './http/auth-hook.js';
import { installErrorHandler } from './http/errors.js';
import { createIdempotencyStore, installIdempotency } from './http/idempotency.js';
import { completeErrorResponses } from './http/openapi.js';
import announcementRoutes from './http/routes/announcements.js';
import approvalRoutes from './http/routes/approvals.js';
import asRunRoutes from './http/routes/asrun.js';
import audioRoutes from './http/routes/audio.js';
import auditRoutes from './http/routes/audit.js';
import authRoutes from './http/routes/auth.js';
import bulletinRoutes from './http/routes/bulletins.js';
import capRoutes from './http/routes/cap.js';
import mqttAuthRoutes from './http/routes/mqtt-auth.js';
import programRoutes from './http/routes/programs.js';
import receiverRoutes from './http/routes/receivers.js';
import stopRoutes from './http/routes/stops.js';
import systemRoutes from './http/routes/system.js';
import ttsRoutes from './http/routes/tts.js';
import { tokenRoutes, userRoutes } from './http/routes/users.js';
import zoneRoutes from './http/routes/zones.js';
import type { Services } from './http/types.js';
import { findWebRoot, installWebApp, sendAppShell } from './http/web.js';

/** A route as registered, for the authorization matrix test and the docs. */
export interface RouteEntry {
  method: string;
  url: string;
  public: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** every route of the app, as registered */
    routeList: RouteEntry[];
  }
}

export async function buildApp(services: Services, log: Logger): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: log.child({ part: 'http' }) as FastifyBaseLogger,
    // A stalled body is cut after HTTP_IDLE_TIMEOUT_S without a byte, a whole request after
    // HTTP_REQUEST_TIMEOUT_S: an idle limit, not a short total, so slow-but-steady 3G uploads finish.
    connectionTimeout: services.config.HTTP_IDLE_TIMEOUT_S * 1000,
    requestTimeout: services.config.HTTP_REQUEST_TIMEOUT_S * 1000,
    // Stopping closes every connection at once, busy ones too: a receiver that aborted a download
    // (a stop during its fetch) can leave one that Node counts as busy until the idle timeout, and a
    // restart must not wait 30 s for it. Receivers resume their downloads; the app reconnects.
    forceCloseConnections: true,
    // Per-request lines only when debugging: a fleet polls status often.
    logController: new LogController({
      disableRequestLogging: services.config.LOG_LEVEL !== 'debug' && services.config.LOG_LEVEL !== 'trace',
    }),
    bodyLimit: 256 * 1024,
    // X-Forwarded-For only from the proxies listed: from anyone else it would let a caller pick the
    // address that rate limits and the audit log see.
    trustProxy: services.config.TRUSTED_PROXIES.length > 0 ? services.config.TRUSTED_PROXIES : false,
  }).withTypeProvider<ZodTypeProvider>();
  // Security headers. The CSP lets Swagger UI (/docs) run its own scripts and styles, nothing else.
  await app.register(helmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        frameAncestors: ["'none'"],
        // Not upgrade-insecure-requests: on the commune LAN the app is opened over plain HTTP
        // (http://192.168.x.y:8080), where upgraded asset requests would fail and leave a blank page.
        // Behind an HTTPS proxy every asset is same-origin HTTPS anyway.
        upgradeInsecureRequests: null,
        manifestSrc: ["'self'"],
        workerSrc: ["'self'"],
        mediaSrc: ["'self'", 'blob:'],
      },
    },
    // Receivers and players fetch audio from other origins' pages only through signed URLs.
    crossOriginResourcePolicy: { policy: 'same-site' },
  });
  // CORS closed by default: only origins listed in CORS_ORIGINS may call the API from a browser.
  const origins = services.config.CORS_ORIGINS;
  await app.register(cors, { origin: origins.length > 0 ? origins : false, credentials: true });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const webRoot = services.config.WEB_DIR === 'off' ? null : (services.config.WEB_DIR ?? findWebRoot());
  installErrorHandler(app, { appShell: webRoot ? sendAppShell : null });

  // Swagger UI and its JSON are documentation, readable without a token.
  const routes: RouteEntry[] = [];
  const rateLimited = new Set<string>();
  app.decorate('routeList', routes);
  app.addHook('onRoute', (route) => {
    // The docs, and the phone app's files (it asks for a login itself), are readable by anyone.
    if (route.url.startsWith('/docs') || route.url === '/*')
      route.config = { ...(route.config as object), public: true };
    const config = route.config as { public?: boolean; rateLimit?: unknown } | undefined;
    const isPublic = Boolean(config?.public);
    for (const method of [route.method].flat()) {
      routes.push({ method, url: route.url, public: isPublic });
      if (config?.rateLimit) rateLimited.add(`${method} ${route.url}`);
    }
  });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'loalang',
        description:
          'Commune smart-radio controller (đài truyền thanh thông minh): zones, receivers, audio, bulletins. ' +
          'Log in with POST /api/auth/login and send the token as `Authorization: Bearer TOKEN`. The ' +
          "officers' phone app is at `/`.",
        version: '0.1.0',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          // receivers fetching a signed audio URL: their MQTT username and password
          receiverBasic: { type: 'http', scheme: 'basic' },
        },
      },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: (input) =>
      completeErrorResponses(
        jsonSchemaTransformObject(input) as Parameters<typeof completeErrorResponses>[0],
        (method, url) => routes.some((r) => r.method === method && r.url === url && r.public),
        (method, url) => rateLimited.has(`${method} ${url}`),
      ) as ReturnType<typeof jsonSchemaTransformObject>,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  await app.register(rateLimit, { global: false });
  await app.register(multipart, {
    limits: { fileSize: services.config.UPLOAD_MAX_BYTES, files: 1, fields: 10, fieldSize: 1024 },
  });
  await installAuth(app, services, services.csrfKey);
  installAuditHook(app, services.audit);
  installIdempotency(app, createIdempotencyStore(services.db));

  const opts = { services };
  await app.register(systemRoutes, { prefix: '/api', ...opts });
  await app.register(authRoutes, { prefix: '/api/auth', ...opts });
  await app.register(zoneRoutes, { prefix: '/api/zones', ...opts });
  await app.register(receiverRoutes, { prefix: '/api/receivers', ...opts });
  await app.register(audioRoutes, { prefix: '/api/audio', ...opts });
  await app.register(bulletinRoutes, { prefix: '/api', ...opts });
  await app.register(announcementRoutes, { prefix: '/api', ...opts });
  await app.register(capRoutes, { prefix: '/api', ...opts });
  await app.register(ttsRoutes, { prefix: '/api/tts', ...opts });
  await app.register(stopRoutes, { prefix: '/api', ...opts });
  await app.register(programRoutes, { prefix: '/api', ...opts });
  await app.register(asRunRoutes, { prefix: '/api', ...opts });
  await app.register(auditRoutes, { prefix: '/api/audit', ...opts });
  await app.register(mqttAuthRoutes, { prefix: '/api/mqtt', ...opts });
  await app.register(approvalRoutes, { prefix: '/api/approvals', ...opts });
  await app.register(userRoutes, { prefix: '/api/users', ...opts });
  await app.register(tokenRoutes, { prefix: '/api/tokens', ...opts });
  await installWebApp(app, webRoot);
  return app;
}
