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
import { errorBodySchema } from '../errors.js';
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
