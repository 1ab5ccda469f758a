/** Bulletins (play now), their per-receiver deliveries, cancel, and the zone / all-stop. */
import { z } from 'zod';
import { assertTargetInScope, assertVisibleInScope, targetScopeSql } from '../../auth/scope.js';
import { errorBodySchema } from '../errors.js';
import { approvalSchema, bulletinCreateSchema, bulletinSchema, idParams } from '../schemas.js';
import type { RoutePlugin } from '../types.js';
import { stopAnswerSchema, stopStatus } from './stops.js';

const cancelSchema = bulletinSchema.extend({ stop: stopAnswerSchema });

const routes: RoutePlugin = async (app, { services }) => {
  const { bulletins } = services;
  const tags = ['bulletins'];

  app.post(
    '/bulletins',
    {
      schema: {
        tags,
        summary:
          "Play a bulletin now (201), or file it for a second officer (202): an editor's bulletin waits for an approver, and an emergency to every village needs confirm.pin or a second officer",
        body: bulletinCreateSchema,
        response: {
          201: bulletinSchema,
          202: z.object({ approval: approvalSchema }),
          400: errorBodySchema,
          403: errorBodySchema,
          428: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      const { confirm, ...bulletin } = request.body;
      const result = await services.approvals.submit(bulletin, request.user!, confirm);
      return result.kind === 'sent'
        ? reply.code(201).send(result.bulletin)
        : reply.code(202).send({ approval: result.approval });
    },
  );

  app.get(
    '/bulletins',
    {
      schema: {
        tags,
        summary: 'List bulletins, newest first',
        querystring: z.object({
          limit: z.coerce.number().int().min(1).max(200).default(50),
          offset: z.coerce.number().int().min(0).default(0),
        }),
        response: { 200: z.object({ items: z.array(bulletinSchema), total: z.number().int() }) },
      },
    },
    async (request) => {
      const zones = request.user!.zones;
      const where = zones ? targetScopeSql('target', zones) : undefined;
      return bulletins.list(request.query.limit, request.query.offset, where);
    },
  );

  app.get(
    '/bulletins/:id',
    {
      schema: {
        tags,
        summary: 'A bulletin with each receiver’s delivery state and a summary',
        params: idParams,
        response: { 200: bulletinSchema, 404: errorBodySchema },
      },
    },
    async (request) => {
      const b = bulletins.get(request.params.id);
      const zones = request.user!.zones;
      if (!zones) return b;
      assertVisibleInScope(request.user!, b.target, services.fleet);
      // The summary covers every village; the list of deliveries only the officer's.
      return { ...b, deliveries: b.deliveries?.filter((d) => d.zoneId !== null && zones.includes(d.zoneId)) };
    },
  );

  app.get(
    '/bulletins/:id/progress',
    {
      schema: {
        tags,
        summary:
          'Live progress as Server-Sent Events: a "progress" event with the summary at once and at each change, "end" when every delivery is final',
        params: idParams,
        produces: ['text/event-stream'],
        response: { 404: errorBodySchema },
      },
    },
    async (request, reply) => {
      const id = request.params.id;
      const first = bulletins.progress(id); // 404 before the stream starts
      assertVisibleInScope(request.user!, bulletins.get(id, false).target, services.fleet);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      const send = (p: ReturnType<typeof bulletins.progress>) => {
        res.write(`event: progress\ndata: ${JSON.stringify(p)}\n\n`);
        // Not at a cancel: the deliveries are `stopping` until each receiver has said what happened.
        if (p.summary.finished === p.summary.total) {
          res.write('event: end\ndata: {}\n\n');
          close();
        }
      };
      const onProgress = (changed: string) => {
        if (changed === id) send(bulletins.progress(id));
      };
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
      const close = () => {
        clearInterval(heartbeat);
        bulletins.off('progress', onProgress);
        res.end();
      };
      bulletins.on('progress', onProgress);
      request.raw.on('close', close);
      send(first);
    },
  );

  app.get(
    '/bulletins/:id/log',
    {
      schema: {
        tags,
        summary:
          "As-run log: every report the receivers sent for this bulletin (plays included, also those after a stop), and the controller's conclusions",
        params: idParams,
        response: {
          200: z.object({
            items: z.array(
              z.object({
                receiverId: z.string(),
                state: z
                  .string()
                  .describe('the delivery state the report led to (or the controller concluded)'),
                event: z
                  .string()
                  .nullable()
                  .describe(
                    "the receiver's own word (started, finished, …); null: the controller's conclusion",
                  ),
                reason: z.string().nullable(),
                detail: z.string().nullable(),
                play: z
                  .number()
                  .int()
                  .nullable()
                  .describe('with started/finished: which play of the repeat count'),
                at: z.string(),
                receiverTs: z.string().nullable(),
              }),
            ),
          }),
          404: errorBodySchema,
        },
      },
    },
    async (request) => {
      const items = bulletins.asRun(request.params.id);
      const zones = request.user!.zones;
      if (!zones) return { items };
      assertVisibleInScope(request.user!, bulletins.get(request.params.id, false).target, services.fleet);
      const mine = new Set(
        services.fleet
          .listReceivers()
          .filter((r) => r.zoneId && zones.includes(r.zoneId))
          .map((r) => r.id),
      );
      return { items: items.filter((i) => mine.has(i.receiverId)) };
    },
  );

  app.post(
    '/bulletins/:id/cancel',
    {
      schema: {
        tags,
        summary:
          'Cancel a bulletin: receivers stop it and drop it from their queue. Its deliveries show "stopping" until ' +
          'each receiver confirms; 202 when the stop is recorded but the broker has not taken it yet',
        params: idParams,
        response: {
          200: cancelSchema,
          202: cancelSchema,
          403: errorBodySchema,
          404: errorBodySchema,
          409: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      assertTargetInScope(request.user!, bulletins.get(request.params.id).target, services.fleet);
      const cancelled = await bulletins.cancel(request.params.id, request.user!.id);
      return reply.code(stopStatus(cancelled.stop)).send(cancelled);
    },
  );
};
export default routes;
