/** The as-run log (nhật ký phát) of bulletins and airings, as JSON or CSV, and its daily summary. */
import { z } from 'zod';
import type { AsRunDay, AsRunRow } from '../../contract/asrun.js';
import { createAsRun, toCsv } from '../../domain/programs/asrun.js';
import { errorBodySchema } from '../errors.js';
import type { RoutePlugin } from '../types.js';

const OUTCOMES = ['aired', 'cut', 'missed', 'pending', 'unknown'] as const;

const rowSchema = z
  .object({
    kind: z.enum(['airing', 'bulletin']),
    id: z.string(),
    title: z.string(),
    programId: z.string().nullable(),
    priority: z.string(),
    receiverId: z.string(),
    zoneId: z.string().nullable(),
    scheduled: z.string(),
    started: z.string().nullable().describe('first start the receiver reported (controller time)'),
    ended: z.string().nullable(),
    outcome: z.enum(OUTCOMES),
    reason: z.string().nullable(),
    state: z.string(),
    concluded: z.boolean().describe('set by a deadline passing, not by a report'),
    sha256: z.array(z.string()).describe('sha256 of what the receiver reported it played'),
  })
  .meta({ id: 'AsRunRow' }) satisfies z.ZodType<AsRunRow>;

const period = {
  from: z.iso.datetime({ offset: true }).optional().describe('default 24 h ago'),
  to: z.iso.datetime({ offset: true }).optional().describe('default now + 24 h'),
  zone: z.string().max(64).optional(),
};

const routes: RoutePlugin = async (app, { services }) => {
  const asrun = createAsRun(services.db);
  const tags = ['as-run'];
  const range = (q: { from?: string | undefined; to?: string | undefined }) => {
    const now = services.schedules.now();
    return {
      from: new Date(q.from ? Date.parse(q.from) : now - 86_400_000).toISOString(),
      to: new Date(q.to ? Date.parse(q.to) : now + 86_400_000).toISOString(),
    };
  };

  app.get(
    '/asrun',
    {
      schema: {
        tags,
        summary:
          'As-run log: per receiver, what was due, when it started and ended, the outcome and the sha256 of what played (bulletins and airings); format=csv for a spreadsheet (lang=vi for Vietnamese headers)',
        querystring: z.object({
          ...period,
          receiver: z.string().max(64).optional(),
          program: z.string().max(64).optional(),
          outcome: z.enum(OUTCOMES).optional(),
          kind: z.enum(['airing', 'bulletin']).optional(),
          format: z.enum(['json', 'csv']).default('json'),
          lang: z.enum(['en', 'vi']).default('en'),
          limit: z.coerce.number().int().min(1).max(50_000).default(5000),
        }),
        response: { 200: z.object({ items: z.array(rowSchema) }), 400: errorBodySchema },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const rows = asrun.query({ ...q, ...range(q) });
      if (q.format === 'csv') {
        return reply
          .header('content-type', 'text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="nhat-ky-phat.csv"`)
          .serializer((x: unknown) => x as string)
          .send(toCsv(rows, q.lang) as never);
      }
      return { items: rows };
    },
  );

  app.get(
    '/asrun/summary',
    {
      schema: {
        tags,
        summary: 'Per village and local day: how many aired, were cut, were missed (for the daily chart)',
        querystring: z.object(period),
        response: {
          200: z.object({
            timeZone: z.string(),
            days: z.array(
              z.object({
                date: z.string(),
                zoneId: z.string().nullable(),
                aired: z.number(),
                cut: z.number(),
                missed: z.number(),
                pending: z.number(),
                unknown: z.number(),
              }) satisfies z.ZodType<AsRunDay>,
            ),
          }),
        },
      },
    },
    async (request) => {
      const timeZone = services.schedules.timeZone;
      return {
        timeZone,
        days: asrun.summary({ ...range(request.query), timeZone, zone: request.query.zone }),
      };
    },
  );
};

export default routes;
