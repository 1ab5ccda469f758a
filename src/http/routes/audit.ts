/** Read and export the audit log (admins). Nothing in the API edits it. */
import { z } from 'zod';
import type { RoutePlugin } from '../types.js';

const entrySchema = z.object({
  id: z.number().int(),
  at: z.string(),
  userId: z.string().nullable(),
  username: z.string().nullable(),
  action: z.string(),
  subject: z.string().nullable(),
  ip: z.string().nullable(),
  detail: z.string().nullable(),
});
type Entry = z.infer<typeof entrySchema>;

const filterSchema = z.object({
  userId: z.string().max(64).optional(),
  action: z.string().max(100).optional().describe('substring of the action, e.g. "bulletins" or "login"'),
  subject: z.string().max(200).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
});
type Filter = z.infer<typeof filterSchema>;

const csvCell = (v: unknown): string => {
  const s = v === null || v === undefined ? '' : String(v);
  // Quote everything; a leading = + - @ would run as a formula in a spreadsheet.
  return `"${(/^[=+\-@]/.test(s) ? `'${s}` : s).replaceAll('"', '""')}"`;
};

const routes: RoutePlugin = async (app, { services }) => {
  const { db } = services;
  function query(f: Filter, limit: number, offset: number): Entry[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    const add = (clause: string, arg: string) => {
      where.push(clause);
      args.push(arg);
    };
    if (f.userId) add('a.user_id = ?', f.userId);
    if (f.action) add("a.action LIKE ? ESCAPE '\\'", `%${f.action.replace(/[\\%_]/g, '\\$&')}%`);
    if (f.subject) add('a.subject = ?', f.subject);
    if (f.since) add('a.at >= ?', new Date(f.since).toISOString());
    if (f.until) add('a.at < ?', new Date(f.until).toISOString());
    return db
      .prepare<(string | number)[], Entry>(
        `SELECT a.id, a.at, a.user_id AS userId, u.username, a.action, a.subject, a.ip, a.detail
         FROM audit a LEFT JOIN users u ON u.id = a.user_id
         ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY a.id DESC LIMIT ? OFFSET ?`,
      )
      .all(...args, limit, offset);
  }

  app.get(
    '',
    {
      schema: {
        tags: ['system'],
        summary: 'Audit log: who changed what, when, from where; newest first',
        description:
          'Every successful change through the API, every login (refused ones with the reason) and ' +
          'upload. Filters combine; since/until are ISO 8601 times with an offset; page with limit/offset.',
        querystring: filterSchema.extend({
          limit: z.coerce.number().int().min(1).max(500).default(100),
          offset: z.coerce.number().int().min(0).default(0),
        }),
        response: { 200: z.object({ items: z.array(entrySchema) }) },
      },
    },
    async (request) => ({ items: query(request.query, request.query.limit, request.query.offset) }),
  );

  app.get(
    '/export',
    {
      schema: {
        tags: ['system'],
        summary: 'Export the audit log (filtered like the list) as CSV or NDJSON, up to 100 000 lines',
        description:
          'A download (Content-Disposition: attachment). CSV cells are quoted, and a cell starting with ' +
          '= + - @ gets a leading apostrophe so a spreadsheet never runs it as a formula.',
        querystring: filterSchema.extend({ format: z.enum(['csv', 'ndjson']).default('csv') }),
        produces: ['text/csv', 'application/x-ndjson'],
      },
    },
    async (request, reply) => {
      const rows = query(request.query, 100_000, 0);
      const stamp = new Date().toISOString().slice(0, 10);
      if (request.query.format === 'ndjson') {
        reply.header('content-disposition', `attachment; filename="loalang-audit-${stamp}.ndjson"`);
        reply.type('application/x-ndjson; charset=utf-8');
        return rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '');
      }
      const cols = ['id', 'at', 'userId', 'username', 'action', 'subject', 'ip', 'detail'] as const;
      const lines = [cols.join(','), ...rows.map((r) => cols.map((c) => csvCell(r[c])).join(','))];
      reply.header('content-disposition', `attachment; filename="loalang-audit-${stamp}.csv"`);
      reply.type('text/csv; charset=utf-8');
      return `${lines.join('\r\n')}\r\n`;
    },
  );
};
export default routes;
