/** Zones: the villages (thôn) receivers belong to. */
import { z } from 'zod';
import { assertZoneInScope } from '../../auth/scope.js';
import { errorBodySchema } from '../errors.js';
import { idParams, zoneCreateSchema, zoneSchema } from '../schemas.js';
import type { RoutePlugin } from '../types.js';

const routes: RoutePlugin = async (app, { services }) => {
  const { fleet } = services;
  const tags = ['zones'];

  app.get(
    '',
    { schema: { tags, summary: 'List zones', response: { 200: z.object({ items: z.array(zoneSchema) }) } } },
    async (request) => {
      const zones = request.user!.zones;
      const items = fleet.listZones();
      return { items: zones ? items.filter((z) => zones.includes(z.id)) : items };
    },
  );

  app.post(
    '',
    {
      schema: {
        tags,
        summary: 'Create a zone (village)',
        body: zoneCreateSchema,
        response: { 201: zoneSchema, 400: errorBodySchema, 409: errorBodySchema },
      },
    },
    async (request, reply) => reply.code(201).send(fleet.createZone(request.body)),
  );

  app.get(
    '/:id',
    {
      schema: {
        tags,
        summary: 'Get a zone',
        params: idParams,
        response: { 200: zoneSchema, 404: errorBodySchema },
      },
    },
    async (request) => {
      assertZoneInScope(request.user!, request.params.id);
      return fleet.getZone(request.params.id);
    },
  );

  app.patch(
    '/:id',
    {
      schema: {
        tags,
        summary: 'Rename a zone',
        params: idParams,
        body: z.object({ name: z.string().trim().min(1).max(100) }),
        response: { 200: zoneSchema, 404: errorBodySchema },
      },
    },
    async (request) => fleet.renameZone(request.params.id, request.body.name),
  );

  app.delete(
    '/:id',
    {
      schema: {
        tags,
        summary: 'Delete an empty zone',
        params: idParams,
        response: { 204: z.null(), 404: errorBodySchema, 409: errorBodySchema },
      },
    },
    async (request, reply) => {
      fleet.deleteZone(request.params.id);
      return reply.code(204).send(null);
    },
  );
};
export default routes;
