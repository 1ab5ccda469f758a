/** Health and the controller's public command-signing key (what receivers are provisioned with). */
import { z } from 'zod';
import { publicKeyPem } from '../../contract/signing.js';
import type { RoutePlugin } from '../types.js';

const routes: RoutePlugin = async (app, { services }) => {
  app.get(
    '/health',
    {
      config: { public: true },
      schema: {
        tags: ['system'],
        summary: 'Liveness and readiness',
        security: [],
        response: {
          200: z.object({
            status: z.enum(['ok', 'degraded']),
            mqtt: z.enum(['connected', 'disconnected']),
            database: z.literal('ok'),
            receivers: z.object({ total: z.number(), online: z.number(), pending: z.number() }),
            time: z.string(),
            timeZone: z.string(),
          }),
        },
      },
    },
    async () => {
      services.db.prepare('SELECT 1').get();
      const connected = services.mqttConnected();
      return {
        status: connected ? ('ok' as const) : ('degraded' as const),
        mqtt: connected ? ('connected' as const) : ('disconnected' as const),
        database: 'ok' as const,
        receivers: services.fleet.counts(),
        time: new Date().toISOString(),
        timeZone: services.config.TZ,
      };
    },
  );

  app.get(
    '/system/signing-key',
    {
      config: { public: true },
      schema: {
        tags: ['system'],
        summary: 'Public Ed25519 key that signs every command to receivers (PEM, SPKI)',
        security: [],
        response: {
          200: z.object({ kid: z.string(), algorithm: z.literal('Ed25519'), publicKeyPem: z.string() }),
        },
      },
    },
    async () => ({
      kid: services.signingKey.kid,
      algorithm: 'Ed25519' as const,
      publicKeyPem: publicKeyPem(services.signingKey),
    }),
  );
};
export default routes;
