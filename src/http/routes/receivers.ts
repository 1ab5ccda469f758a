/**
 * Receivers: register, adopt pending ones, move, rename, set volume, remove; live status; their
 * MQTT credentials (issued at registration or adoption and shown once, re-issued, revoked).
 */
import { z } from 'zod';
import { assertReceiverInScope } from '../../auth/scope.js';
import type { IssuedCredentials } from '../../domain/fleet/credentials.js';
import { provisioningBundle } from '../../domain/fleet/provisioning.js';
import type { Receiver } from '../../domain/fleet/repo.js';
import { badRequest } from '../../errors.js';
import { CONTROLLER_USERNAME } from '../../mqtt/broker.js';
import { sessionToken } from '../auth-hook.js';
import { errorBodySchema } from '../errors.js';
import { createReceiverEventHub } from '../receiver-events.js';
import {
  idParams,
  patchedReceiverSchema,
  provisionedReceiverSchema,
  receiverAdoptSchema,
  receiverCreateSchema,
  receiverPatchSchema,
  receiverSchema,
} from '../schemas.js';
import type { RoutePlugin } from '../types.js';

const routes: RoutePlugin = async (app, { services }) => {
  const { fleet } = services;
  const tags = ['receivers'];
  const provisioned = (receiver: Receiver, credentials: IssuedCredentials) => ({
    ...receiver,
    provisioning: provisioningBundle(services.provisioning, credentials),
  });
  // A receiver logs in with username = its id: never one of the controller's own names.
  const reserved = new Set(
    [CONTROLLER_USERNAME, services.config.MQTT_USERNAME, services.config.MQTT_CLIENT_ID].filter(
      (n): n is string => typeof n === 'string',
    ),
  );
  const notReserved = (id: string) => {
    if (reserved.has(id))
      throw badRequest('reserved_id', `"${id}" is the controller's own MQTT name; choose another id.`);
  };
  const noStore = { 'cache-control': 'no-store' };
  const hub = createReceiverEventHub({
    fleet,
    bulletins: services.bulletins,
    log: app.log,
    // well inside the idle timeout that would otherwise close a quiet stream
    heartbeatMs: Math.min(15_000, (services.config.HTTP_IDLE_TIMEOUT_S * 1000) / 2),
  });
  // The streams never end by themselves: end them before the server waits for its connections.
  app.addHook('preClose', async () => hub.close());

  app.get(
    '',
    {
      schema: {
        tags,
        summary: 'List receivers with live status',
        querystring: z.object({
          zoneId: z.string().max(64).optional(),
          adoption: z.enum(['pending', 'adopted']).optional(),
        }),
        response: { 200: z.object({ items: z.array(receiverSchema) }) },
      },
    },
    async (request) => {
      const zones = request.user!.zones;
      const items = fleet.listReceivers(request.query);
      return { items: zones ? items.filter((r) => r.zoneId !== null && zones.includes(r.zoneId)) : items };
    },
  );

  app.get(
    '/events',
    {
      schema: {
        tags,
        summary: "Live receiver status as Server-Sent Events, limited to the officer's zones",
        description:
          'First `snapshot` ({at, zones: [{id, name}], receivers}), then `receiver` (one receiver: id, name, zoneId, adoption, ' +
          'online, lastSeen, volume, signal, nowPlaying {bulletinId, title, priority, play, startedAt}) each ' +
          'time what an officer sees of it changes (batched, at most about 3 per second), and `removed` ({id}) ' +
          'when it was deleted or moved out of their zones. A comment every 15 s keeps proxies open; the ' +
          'stream ends when the session does. Reconnect (EventSource does) for a fresh snapshot.',
        produces: ['text/event-stream'],
        response: { 401: errorBodySchema },
      },
    },
    async (request, reply) => {
      const presented = sessionToken(request);
      hub.stream(request, reply, {
        zones: request.user!.zones,
        alive: () =>
          presented !== null && services.auth.sessions.verify(presented.token, presented.kind) !== null,
      });
    },
  );

  app.post(
    '',
    {
      schema: {
        tags,
        summary: 'Register a receiver in a zone (or adopt a pending one with that id)',
        description:
          "Issues the receiver its MQTT credentials: the answer's `provisioning` bundle holds the " +
          'password, shown this once (only its hash is kept). Install it on the device.',
        body: receiverCreateSchema,
        response: {
          201: provisionedReceiverSchema,
          400: errorBodySchema,
          404: errorBodySchema,
          409: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      notReserved(request.body.id);
      const { receiver, credentials } = await fleet.createReceiver(request.body);
      return reply.code(201).headers(noStore).send(provisioned(receiver, credentials));
    },
  );

  app.post(
    '/:id/adopt',
    {
      schema: {
        tags,
        summary: 'Adopt a pending receiver into a zone, issuing its credentials (shown once)',
        params: idParams,
        body: receiverAdoptSchema,
        response: {
          200: provisionedReceiverSchema,
          400: errorBodySchema,
          404: errorBodySchema,
          409: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      notReserved(request.params.id);
      const { receiver, credentials } = await fleet.adoptReceiver(request.params.id, request.body);
      return reply.headers(noStore).send(provisioned(receiver, credentials));
    },
  );

  app.post(
    '/:id/credentials',
    {
      schema: {
        tags,
        summary: 'Issue new MQTT credentials (shown once); the old password stops working at once',
        description:
          'A session connected with the old password is disconnected. Install the new bundle on the device.',
        params: idParams,
        response: { 200: provisionedReceiverSchema, 404: errorBodySchema, 409: errorBodySchema },
      },
    },
    async (request, reply) => {
      const { receiver, credentials } = fleet.issueCredentials(request.params.id);
      return reply.headers(noStore).send(provisioned(receiver, credentials));
    },
  );

  app.delete(
    '/:id/credentials',
    {
      schema: {
        tags,
        summary: "Revoke the receiver's credentials: it is disconnected and cannot reconnect",
        params: idParams,
        response: { 204: z.null(), 404: errorBodySchema },
      },
    },
    async (request, reply) => {
      fleet.revokeCredentials(request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/:id',
    {
      schema: {
        tags,
        summary: 'Get a receiver',
        params: idParams,
        response: { 200: receiverSchema, 404: errorBodySchema },
      },
    },
    async (request) => {
      // Scope first: a scoped officer hears the same 403 for an unknown id as for another zone's.
      assertReceiverInScope(request.user!, request.params.id, fleet);
      return fleet.getReceiver(request.params.id);
    },
  );

  app.patch(
    '/:id',
    {
      schema: {
        tags,
        summary: 'Rename, move to a zone (adopts a pending receiver), or set the default volume',
        description:
          'Adopting a pending receiver issues its credentials: then, and only then, the answer holds a ' +
          '`provisioning` bundle, shown this once. Moving a receiver disconnects it from the broker so ' +
          'that it reconnects with the rights of its new zone.',
        params: idParams,
        body: receiverPatchSchema,
        response: { 200: patchedReceiverSchema, 400: errorBodySchema, 404: errorBodySchema },
      },
    },
    async (request, reply) => {
      if (request.body.zoneId) notReserved(request.params.id);
      const { receiver, credentials } = await fleet.updateReceiver(request.params.id, request.body);
      if (!credentials) return receiver;
      return reply.headers(noStore).send(provisioned(receiver, credentials));
    },
  );

  app.delete(
    '/:id',
    {
      schema: {
        tags,
        summary: 'Remove a receiver (it is told it is no longer adopted; its credentials are revoked)',
        params: idParams,
        response: { 204: z.null(), 404: errorBodySchema },
      },
    },
    async (request, reply) => {
      await fleet.deleteReceiver(request.params.id);
      return reply.code(204).send(null);
    },
  );
};
export default routes;
