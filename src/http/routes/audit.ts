/** Read the audit log (admins). */
import { z } from 'zod';
import { requireRole } from '../auth-hook.js';
import type { RoutePlugin } from '../types.js';

const entrySchema = z.object({
  id: z.number().int(),
  at: z.string(),
  userId: z.string().nullable(),
  username: z.string().nullable(),
  action: z.string(),
  subject: z.string().nullable(),
  detail: z.string().nullable(),
});

const routes: RoutePlugin = async (app, { services }) => {
  const list = services.db.prepare<[number, number], z.infer<typeof entrySchema>>(
    `SELECT a.id, a.at, a.user_id AS userId, u.username, a.action, a.subject, a.detail
     FROM audit a LEFT JOIN users u ON u.id = a.user_id ORDER BY a.id DESC LIMIT ? OFFSET ?`,
  );
  app.get(
    '',
    {
      preHandler: requireRole('admin'),
      schema: {
        tags: ['system'],
        summary: 'Audit log: who changed what, newest first',
        querystring: z.object({
          limit: z.coerce.number().int().min(1).max(500).default(100),
          offset: z.coerce.number().int().min(0).default(0),
        }),
        response: { 200: z.object({ items: z.array(entrySchema) }) },
      },
    },
    async (request) => ({ items: list.all(request.query.limit, request.query.offset) }),
  );
};
export default routes;
