/**
 * Health, the controller's public command-signing keys (what receivers are provisioned with) and
 * their rotation (docs/protocol.md §7.6).
 */
import { z } from 'zod';
import { KEY_STATES } from '../../signing-keys.js';
import type { RoutePlugin } from '../types.js';

const trustedKey = z.object({ kid: z.string(), publicKeyPem: z.string() });

const keysOverview = z.object({
  algorithm: z.literal('Ed25519'),
  current: z.string().describe('kid of the key that signs commands'),
  rotation: z
    .enum(['idle', 'announced', 'switched'])
    .describe(
      'announced: a new key is listed in configs, not signing yet; switched: the old key is still trusted',
    ),
  keys: z.array(
    z.object({
      kid: z.string(),
      state: z.enum(KEY_STATES),
      createdAt: z.string(),
      activatedAt: z.string().optional(),
      retiredAt: z.string().optional(),
      publicKeyPem: z.string(),
      trustedBy: z.number().describe('receivers that report trusting this key'),
    }),
  ),
  receivers: z.object({
    total: z.number(),
    reporting: z.number().describe('receivers that reported their trusted keys since the controller started'),
    notYetTrusting: z
      .array(z.string())
      .describe('first 100 receivers not known to trust the newest key (retire waits for none)'),
    notYetTrustingCount: z.number(),
  }),
});

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
        summary: 'Public Ed25519 key that signs commands now (PEM, SPKI), and every key receivers must trust',
        description:
          'For provisioning receivers: pin every key of `keys` (during a key rotation there are two). ' +
          '`kid`/`publicKeyPem` is the key signing commands now.',
        security: [],
        response: {
          200: z.object({
            kid: z.string(),
            algorithm: z.literal('Ed25519'),
            publicKeyPem: z.string(),
            keys: z.array(trustedKey).describe('every key to trust, current first'),
          }),
        },
      },
    },
    async () => {
      const keys = services.signingKeys.trusted();
      const current = keys[0]!;
      return { kid: current.kid, algorithm: 'Ed25519' as const, publicKeyPem: current.publicKeyPem, keys };
    },
  );

  app.get(
    '/system/signing-keys',
    {
      schema: {
        tags: ['system'],
        summary: 'The signing keys, their states, and how many receivers trust each (rotation progress)',
        description:
          "For an officer limited to some zones, the receiver figures count only their zones' receivers.",
        response: { 200: keysOverview },
      },
    },
    async (request) => {
      const zones = request.user!.zones;
      if (zones === null) return services.keyRotation.overview();
      const mine = new Set(
        services.fleet
          .listReceivers({})
          .filter((r) => r.zoneId !== null && zones.includes(r.zoneId))
          .map((r) => r.id),
      );
      const inScope = (id: string) => mine.has(id);
      return services.keyRotation.overview(inScope);
    },
  );

  app.post(
    '/system/signing-keys/rotate',
    {
      schema: {
        tags: ['system'],
        summary: 'Start (or resume) a key rotation: announce a new key, then sign commands with it',
        description:
          'Lists a new key in every receiver config (signed with the old key), waits up to `waitSeconds` for ' +
          'the online receivers to report it, then signs commands with it. If some online receiver has not ' +
          'confirmed, the new key stays announced (rotation "announced") and nothing switches, unless `force`; ' +
          'call again to resume. Receivers offline now learn the key from their retained config when back. ' +
          '409 while the previous rotation has not been retired.',
        body: z
          .object({
            waitSeconds: z.number().min(0).max(60).optional(),
            force: z.boolean().optional(),
          })
          .optional(),
        response: { 200: keysOverview },
      },
    },
    async (request) =>
      services.keyRotation.rotate({
        waitMs: request.body?.waitSeconds === undefined ? undefined : request.body.waitSeconds * 1000,
        force: request.body?.force,
      }),
  );

  app.post(
    '/system/signing-keys/retire',
    {
      schema: {
        tags: ['system'],
        summary: 'End a key rotation: stop trusting the previous key',
        description:
          'Refused (409 rotation_incomplete) while some receiver is not known to trust the new key, unless ' +
          '`force`: such a receiver could no longer verify anything and would need provisioning again.',
        body: z.object({ force: z.boolean().optional() }).optional(),
        response: { 200: keysOverview },
      },
    },
    async (request) => services.keyRotation.retire({ force: request.body?.force }),
  );
};
export default routes;
