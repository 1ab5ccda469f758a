/** Officer accounts and everyone's API tokens (admins). */
import { z } from 'zod';
import { roleSchema } from '../../auth/roles.js';
import { zoneIdSchema } from '../../contract/mqtt.js';
import { errorBodySchema } from '../errors.js';
import { apiTokenSchema, idParams, passwordSchema, usernameSchema, userSchema } from '../schemas.js';
import type { RoutePlugin } from '../types.js';

const tags = ['users'];
const roles = z
  .array(roleSchema)
  .min(1)
  .max(5)
  .refine(
    (r) => !r.includes('alerter') || r.length === 1,
    "an alert source's account ('alerter') holds no other role",
  );
const zones = z
  .array(zoneIdSchema)
  .min(1)
  .max(500)
  .nullable()
  .describe('zones this officer may address; null or absent: every zone');

export const userRoutes: RoutePlugin = async (app, { services }) => {
  const { users, sessions } = services.auth;

  app.get(
    '',
    {
      schema: {
        tags,
        summary: 'List officers',
        description: 'Every account, by name: roles, villages, disabled, locked until, whether a PIN is set.',
        response: { 200: z.object({ items: z.array(userSchema) }) },
      },
    },
    async () => ({ items: users.list() }),
  );

  app.post(
    '',
    {
      schema: {
        tags,
        summary: 'Create an officer account',
        description:
          'Roles: admin, editor, approver, operator, viewer, or alerter alone (an alert source). ' +
          'Zones limit the villages the officer may address (404 for an unknown one); none: every village.',
        body: z.object({
          username: usernameSchema,
          password: passwordSchema,
          roles,
          zones: zones.optional(),
          displayName: z.string().trim().min(1).max(100).optional(),
        }),
        response: {
          201: userSchema,
          400: errorBodySchema,
          404: errorBodySchema.describe('not_found: a zone does not exist'),
          409: errorBodySchema.describe('username_taken'),
        },
      },
    },
    async (request, reply) => {
      for (const z of request.body.zones ?? []) services.fleet.getZone(z); // 404 for an unknown zone
      return reply.code(201).send(await users.create(request.body));
    },
  );

  app.get(
    '/:id',
    {
      schema: {
        tags,
        summary: 'An officer',
        params: idParams,
        response: { 200: userSchema, 404: errorBodySchema },
      },
    },
    async (request) => users.get(request.params.id),
  );

  app.patch(
    '/:id',
    {
      schema: {
        tags,
        summary:
          'Change roles or zones, disable, unlock (clears every login and PIN counter), or reset the password (ends their sessions; API tokens stay: DELETE /api/users/:id/tokens)',
        params: idParams,
        body: z
          .object({
            roles: roles.optional(),
            zones: zones.optional(),
            displayName: z.string().trim().min(1).max(100).nullable().optional(),
            disabled: z.boolean().optional(),
            unlock: z.literal(true).optional(),
            password: passwordSchema.optional(),
          })
          .refine((v) => Object.keys(v).length > 0, 'give at least one field to change'),
        response: {
          200: userSchema,
          400: errorBodySchema,
          404: errorBodySchema,
          409: errorBodySchema.describe('last_admin: the last admin with every zone cannot lose it'),
        },
      },
    },
    async (request) => {
      for (const z of request.body.zones ?? []) services.fleet.getZone(z);
      const updated = await users.update(request.params.id, request.body);
      // New rights or a new password take effect now, not when old sessions expire.
      if (
        request.body.password ||
        request.body.disabled ||
        request.body.roles ||
        request.body.zones !== undefined
      ) {
        sessions.closeAll(updated.id);
      }
      return updated;
    },
  );

  app.get(
    '/:id/tokens',
    {
      schema: {
        tags,
        summary: "An officer's API tokens (revoked ones too; hashes are never shown)",
        params: idParams,
        response: { 200: z.object({ items: z.array(apiTokenSchema) }), 404: errorBodySchema },
      },
    },
    async (request) => {
      users.get(request.params.id); // 404 for an unknown officer
      return { items: sessions.listApiTokens(request.params.id) };
    },
  );

  app.post(
    '/:id/tokens',
    {
      schema: {
        tags,
        summary:
          "Make an API token for an officer's account, shown only once: for an alert source ('alerter'), " +
          'which may not make its own',
        params: idParams,
        body: z.object({
          name: z.string().trim().min(1).max(100),
          expiresInDays: z.number().int().min(1).max(3650).optional(),
        }),
        response: { 201: z.object({ token: z.string(), info: apiTokenSchema }), 404: errorBodySchema },
      },
    },
    async (request, reply) => {
      users.get(request.params.id); // 404 for an unknown officer
      const made = sessions.createApiToken(request.params.id, request.body.name, request.body.expiresInDays);
      return reply.code(201).headers({ 'cache-control': 'no-store' }).send(made);
    },
  );

  app.delete(
    '/:id/tokens',
    {
      schema: {
        tags,
        summary: 'Revoke every API token of an officer (e.g. after their password may have leaked)',
        params: idParams,
        response: {
          200: z.object({ revoked: z.number().describe('tokens revoked now') }),
          404: errorBodySchema,
        },
      },
    },
    async (request) => {
      users.get(request.params.id);
      return { revoked: sessions.revokeAllApiTokens(request.params.id) };
    },
  );

  app.delete(
    '/:id',
    {
      schema: {
        tags,
        summary: 'Delete an officer account (their sessions and API tokens end)',
        params: idParams,
        response: { 204: z.null(), 404: errorBodySchema, 409: errorBodySchema },
      },
    },
    async (request, reply) => {
      users.remove(request.params.id);
      return reply.code(204).send(null);
    },
  );
};

export const tokenRoutes: RoutePlugin = async (app, { services }) => {
  const { sessions } = services.auth;
  app.get(
    '',
    {
      schema: {
        tags,
        summary: 'Every API token (hashes are never shown)',
        response: { 200: z.object({ items: z.array(apiTokenSchema) }) },
      },
    },
    async () => ({ items: sessions.listApiTokens() }),
  );
  app.delete(
    '/:id',
    {
      schema: {
        tags,
        summary: 'Revoke any API token',
        params: idParams,
        response: { 200: apiTokenSchema, 404: errorBodySchema, 409: errorBodySchema },
      },
    },
    async (request) => sessions.revokeApiToken(request.params.id),
  );
};
