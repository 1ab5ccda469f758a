/**
 * Stops: the zone stop and the all-stop (POST /api/stop), and every stop (cancels included) as a
 * record the officer can follow to each receiver (GET /api/stops…).
 */
import { z } from 'zod';
import { assertTargetInScope, assertVisibleInScope, targetScopeSql } from '../../auth/scope.js';
import { zoneIdSchema } from '../../contract/mqtt.js';
import type { StopAnswer } from '../../domain/bulletins/service.js';
import { STOP_RECEIVER_STATES, type StopDetail } from '../../domain/bulletins/stops.js';
import { notFound } from '../../errors.js';
import { errorBodySchema } from '../errors.js';
import { idParams, targetSchema } from '../schemas.js';
import type { RoutePlugin } from '../types.js';

const stopReceiverState = z.enum(STOP_RECEIVER_STATES);

export const stopSchema = z
  .object({
    id: z.string().describe('the stop command id'),
    seq: z.number().int(),
    kind: z.enum(['cancel', 'stop']).describe("cancel: one bulletin's; stop: a zone stop or the all-stop"),
    bulletinId: z.string().nullable(),
    target: targetSchema,
    createdAt: z.string(),
    createdBy: z.string().nullable(),
    expiresAt: z.string().describe('re-sent to receivers that come back until then'),
    handedOffAt: z.string().nullable().describe('when the broker first took it; null: not yet'),
    status: z
      .enum(['accepted', 'sent', 'confirmed', 'ended'])
      .describe(
        'accepted: recorded, the broker has not taken it yet; sent: some receivers have not confirmed; ' +
          'confirmed: every receiver applied it; ended: it lapsed with some receivers unconfirmed or refusing',
      ),
    receivers: z.object({
      total: z.number().int(),
      pending: z.number().int().describe('not yet sent to it (it, or the broker, was away)'),
      sent: z.number().int().describe('sent, no word from the receiver yet'),
      confirmed: z.number().int(),
      refused: z.number().int(),
      expired: z.number().int(),
    }),
    perReceiver: z
      .array(
        z.object({
          receiverId: z.string(),
          state: stopReceiverState,
          reason: z.string().nullable(),
          attempts: z.number().int(),
          sentAt: z.string().nullable(),
          confirmedAt: z.string().nullable(),
        }),
      )
      .optional(),
  })
  .meta({ id: 'Stop' });

export const stopAnswerSchema = z
  .object({
    stop: stopSchema,
    stopping: z
      .number()
      .int()
      .describe('deliveries now "stopping", until their receivers say what became of them'),
    handedOff: z
      .boolean()
      .describe('false: accepted and recorded, not yet delivered (the broker is unreachable)'),
  })
  .meta({ id: 'StopAnswer' });

/** 200 when the broker took the stop, 202 when it is recorded but not yet delivered. */
export const stopStatus = (a: StopAnswer): 200 | 202 => (a.handedOff ? 200 : 202);

const routes: RoutePlugin = async (app, { services }) => {
  const { bulletins, fleet } = services;
  const tags = ['bulletins'];

  /** A stop as a zone-scoped officer may see it: only their villages' receivers listed. */
  const scoped = (zones: readonly string[] | null, st: StopDetail): StopDetail => {
    if (!zones || !st.perReceiver) return st;
    const mine = new Set(
      fleet
        .listReceivers()
        .filter((r) => r.zoneId && zones.includes(r.zoneId))
        .map((r) => r.id),
    );
    return { ...st, perReceiver: st.perReceiver.filter((r) => mine.has(r.receiverId)) };
  };

  app.post(
    '/stop',
    {
      schema: {
        tags,
        summary:
          'Stop everything playing or queued in some zones, or everywhere. 200: the broker took it; 202: recorded, ' +
          'not yet delivered (the broker is unreachable), it goes out when the broker is back. Follow it with GET /api/stops/:id',
        body: z.object({ all: z.boolean().optional(), zones: z.array(zoneIdSchema).max(500).optional() }),
        response: {
          200: stopAnswerSchema,
          202: stopAnswerSchema,
          400: errorBodySchema,
          403: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      assertTargetInScope(
        request.user!,
        request.body.all ? { all: true } : { zones: request.body.zones ?? [] },
        fleet,
      );
      const answer = await bulletins.stop(request.body, request.user!.id);
      request.auditSubject = answer.stop.id;
      return reply.code(stopStatus(answer)).send(answer);
    },
  );

  app.get(
    '/stops',
    {
      schema: {
        tags,
        summary: 'Stops and cancels, newest first, with how many receivers confirmed each',
        querystring: z.object({
          limit: z.coerce.number().int().min(1).max(200).default(50),
          offset: z.coerce.number().int().min(0).default(0),
        }),
        response: { 200: z.object({ items: z.array(stopSchema), total: z.number().int() }) },
      },
    },
    async (request) => {
      const zones = request.user!.zones;
      return bulletins.listStops(
        request.query.limit,
        request.query.offset,
        zones ? targetScopeSql('target', zones) : undefined,
      );
    },
  );

  app.get(
    '/stops/:id',
    {
      schema: {
        tags,
        summary: 'A stop, and how far it has reached each receiver',
        params: idParams,
        response: { 200: stopSchema, 403: errorBodySchema, 404: errorBodySchema },
      },
    },
    async (request) => {
      const st = bulletins.getStop(request.params.id);
      if (!st) throw notFound('Stop', request.params.id);
      assertVisibleInScope(request.user!, st.target, fleet);
      return scoped(request.user!.zones, st);
    },
  );

  app.get(
    '/stops/:id/progress',
    {
      schema: {
        tags,
        summary:
          'Live progress of a stop as Server-Sent Events: a "progress" event with the receiver counts at once and at ' +
          'each change, "end" when no receiver is left pending or sent',
        params: idParams,
        produces: ['text/event-stream'],
        response: { 403: errorBodySchema, 404: errorBodySchema },
      },
    },
    async (request, reply) => {
      const id = request.params.id;
      const first = bulletins.getStop(id);
      if (!first) throw notFound('Stop', id);
      assertVisibleInScope(request.user!, first.target, fleet);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      const send = (st: StopDetail) => {
        const { perReceiver: _p, ...summary } = st;
        res.write(`event: progress\ndata: ${JSON.stringify(summary)}\n\n`);
        if (st.receivers.pending + st.receivers.sent === 0) {
          res.write('event: end\ndata: {}\n\n');
          close();
        }
      };
      const onProgress = (changed: string) => {
        if (changed !== id) return;
        const st = bulletins.getStop(id);
        if (st) send(st);
      };
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
      const close = () => {
        clearInterval(heartbeat);
        bulletins.off('stopProgress', onProgress);
        res.end();
      };
      bulletins.on('stopProgress', onProgress);
      request.raw.on('close', close);
      send(first);
    },
  );
};
export default routes;
