/** Receivers: register, adopt pending ones, move, rename, set volume, remove; live status. */
import { z } from 'zod';
import { errorBodySchema } from '../errors.js';
import { idParams, receiverCreateSchema, receiverPatchSchema, receiverSchema } from '../schemas.js';
import type { RoutePlugin } from '../types.js';

const routes: RoutePlugin = async (app, { services }) => {
  const { fleet } = services;
  const tags = ['receivers'];

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
    async (request) => ({ items: fleet.listReceivers(request.query) }),
  );

  app.post(
    '',
    {
      schema: {
        tags,
        summary: 'Register a receiver in a zone (or adopt a pending one with that id)',
        body: receiverCreateSchema,
        response: { 201: receiverSchema, 400: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema },
      },
    },
    async (request, reply) => reply.code(201).send(await fleet.createReceiver(request.body)),
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
    async (request) => fleet.getReceiver(request.params.id),
  );

  app.patch(
    '/:id',
    {
      schema: {
        tags,
        summary: 'Rename, move to a zone (adopts a pending receiver), or set the default volume',
        params: idParams,
        body: receiverPatchSchema,
        response: { 200: receiverSchema, 400: errorBodySchema, 404: errorBodySchema },
      },
    },
    async (request) => fleet.updateReceiver(request.params.id, request.body),
  );

  app.delete(
    '/:id',
    {
      schema: {
        tags,
        summary: 'Remove a receiver (it is told it is no longer adopted)',
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
