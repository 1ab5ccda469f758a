/** The approval queue: what editors made, and emergencies to every village waiting for a second officer. */
import { z } from 'zod';
import { assertVisibleInScope } from '../../auth/scope.js';
import { errorBodySchema } from '../errors.js';
import { approvalSchema, bulletinSchema, idParams } from '../schemas.js';
import type { RoutePlugin } from '../types.js';

const tags = ['approvals'];
const decision = z.object({ note: z.string().trim().max(500).optional() }).default({});

const routes: RoutePlugin = async (app, { services }) => {
  const { approvals } = services;

  app.get(
    '',
    {
      schema: {
        tags,
        summary: 'Requests waiting for (or decided by) a second officer, newest first',
        querystring: z.object({
          status: z.enum(['pending', 'approved', 'rejected', 'withdrawn', 'expired']).optional(),
          limit: z.coerce.number().int().min(1).max(200).default(50),
          offset: z.coerce.number().int().min(0).default(0),
        }),
        response: { 200: z.object({ items: z.array(approvalSchema) }) },
      },
    },
    async (request) => ({ items: approvals.list({ ...request.query, zones: request.user!.zones }) }),
  );

  app.get(
    '/:id',
    {
      schema: {
        tags,
        summary: 'One request',
        params: idParams,
        response: { 200: approvalSchema, 404: errorBodySchema },
      },
    },
    async (request) => {
      const a = approvals.get(request.params.id);
      assertVisibleInScope(request.user!, a.request.target, services.fleet);
      return a;
    },
  );

  app.post(
    '/:id/approve',
    {
      schema: {
        tags,
        summary:
          "Approve: a bulletin is sent now, a program's version becomes the one that airs (an approver; for an emergency to every village, an operator too)",
        params: idParams,
        body: decision,
        response: {
          200: z.object({
            approval: approvalSchema,
            bulletin: bulletinSchema.optional(),
            program: z.object({ id: z.string(), title: z.string(), version: z.number() }).optional(),
          }),
          403: errorBodySchema,
          404: errorBodySchema,
          409: errorBodySchema,
        },
      },
    },
    async (request) => approvals.approve(request.params.id, request.user!, request.body.note),
  );

  app.post(
    '/:id/reject',
    {
      schema: {
        tags,
        summary: 'Reject: nothing airs',
        params: idParams,
        body: decision,
        response: { 200: approvalSchema, 403: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema },
      },
    },
    async (request) => approvals.reject(request.params.id, request.user!, request.body.note),
  );

  app.post(
    '/:id/withdraw',
    {
      schema: {
        tags,
        summary: 'Withdraw my own request',
        params: idParams,
        response: { 200: approvalSchema, 403: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema },
      },
    },
    async (request) => approvals.withdraw(request.params.id, request.user!),
  );
};
export default routes;
