/** Programs (chương trình), their airings, one airing's receivers, and the schedules folder. */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { assertTargetInScope, assertZoneInScope } from '../../auth/scope.js';
import type { User } from '../../auth/service.js';
import type { AiringRecord } from '../../domain/programs/repo.js';
import { type ProgramInput, programIdSchema, programInputSchema } from '../../domain/programs/schema.js';
import { notFound } from '../../errors.js';
import { errorBodySchema } from '../errors.js';
import { approvalSchema, idParams } from '../schemas.js';
import type { RoutePlugin } from '../types.js';

const itemSchema = z.object({
  kind: z.enum(['audio', 'relay', 'pause']),
  durationMs: z.number(),
  audioId: z.string().optional(),
  name: z.string().optional().describe('audio name, or the fallback audio of a relay'),
  sha256: z.string().optional(),
  url: z.string().optional().describe('the stream of a relay'),
});

export const airingSchema = z
  .object({
    id: z.string(),
    programId: z.string(),
    title: z.string(),
    priority: z.string(),
    at: z.string().describe('scheduled start, UTC'),
    local: z.string().describe("local start in the station's time zone, as planned"),
    windowEnd: z.string().describe('nothing of it plays after this instant'),
    durationMs: z.number(),
    items: z.array(itemSchema),
    problems: z.array(z.string()),
    status: z.enum(['scheduled', 'cancelled', 'suspended']),
    suspendedIn: z
      .array(z.string())
      .describe(
        'the villages (zone ids) it targets whose schedule is suspended at its start: their receivers do not get it (POST /api/zones/:id/suspend)',
      ),
    shifted: z.boolean(),
    adjusted: z.string().nullable(),
    planned: z
      .boolean()
      .optional()
      .describe(
        "true: past the receivers' horizon, not written yet (GET /api/airings?planned=true); no detail",
      ),
  })
  .meta({ id: 'Airing' });

const programSchema = z
  .object({
    id: z.string(),
    title: z.string(),
    body: z
      .record(z.string(), z.unknown())
      .nullable()
      .describe('the definition that airs (as saved, defaults filled in)'),
    version: z.number(),
    source: z.enum(['api', 'file']),
    sourceFile: z.string().nullable().describe('the site file that owns it (then the API refuses edits)'),
    createdAt: z.string(),
    updatedAt: z.string(),
    next: z.array(airingSchema).optional(),
  })
  .meta({ id: 'Program' });

const plannedSchema = z.object({
  at: z.string(),
  local: z.string(),
  durationMs: z.number(),
  adjusted: z.string().nullable(),
  problems: z.array(z.string()),
});

const suspensionSchema = z
  .object({
    zoneId: z.string(),
    suspendedFrom: z.string().nullable().describe('null with an until: from now on'),
    suspendedUntil: z.string().nullable().describe('null: not suspended'),
    suspendReason: z.string().nullable(),
  })
  .meta({ id: 'Suspension' });

const clashSchema = z.object({
  programId: z.string(),
  title: z.string(),
  at: z.string(),
  end: z.string(),
  with: z.object({ at: z.string(), end: z.string() }),
});

const pickAiring = (a: AiringRecord, suspendedIn: string[]): z.infer<typeof airingSchema> => ({
  id: a.id,
  programId: a.programId,
  title: a.title,
  priority: a.priority,
  at: a.at,
  local: a.local,
  windowEnd: a.windowEnd,
  durationMs: a.durationMs,
  items: a.items.map((i) =>
    i.kind === 'audio'
      ? { kind: i.kind, durationMs: i.durationMs, audioId: i.audioId, name: i.name, sha256: i.sha256 }
      : i.kind === 'relay'
        ? {
            kind: i.kind,
            durationMs: i.durationMs,
            url: i.url,
            ...(i.fallback
              ? { name: i.fallback.name, audioId: i.fallback.audioId, sha256: i.fallback.sha256 }
              : {}),
          }
        : { kind: i.kind, durationMs: i.durationMs },
  ),
  problems: a.problems,
  status: a.status,
  suspendedIn,
  shifted: a.shifted,
  adjusted: a.adjusted,
});

const routes: RoutePlugin = async (app, { services }) => {
  const { schedules } = services;
  /**
   * An editor's program (or change) of a priority in APPROVAL_PRIORITIES waits for an approver:
   * checked as a save would be (file ownership, clashes), then filed; nothing of it airs before.
   */
  const fileIfNeeded = (id: string, body: ProgramInput, user: User) => {
    if (!services.approvals.programNeedsApproval(body.priority, user)) return null;
    schedules.assertSavable(id, body);
    return services.approvals.fileProgram({ ...body, programId: id }, user);
  };
  const tags = ['programs'];
  /** Airings as the API shows them, with the villages suspended at their start (read once per call). */
  const viewer = () => {
    const suspended = schedules.suspendedZones();
    return (a: AiringRecord) => pickAiring(a, suspended(a.target, Date.parse(a.at)));
  };
  const upcoming = (programId: string, limit: number) => {
    const now = schedules.now();
    return schedules.programs
      .airingsOf(programId)
      .filter((a) => Date.parse(a.windowEnd) > now && a.status === 'scheduled')
      .slice(0, limit)
      .map(viewer());
  };
  /** The airing `id`, 403 unless its target is within the officer's villages (404 when unknown). */
  const ownAiring = (id: string, user: User) => {
    const a = schedules.programs.airing(id);
    if (!a) throw notFound('airing', id);
    assertTargetInScope(user, a.target, services.fleet);
    return a;
  };

  app.get(
    '/programs',
    {
      schema: {
        tags,
        summary: 'Programs, each with its next airings',
        response: { 200: z.object({ items: z.array(programSchema), timeZone: z.string() }) },
      },
    },
    async () => ({
      timeZone: schedules.timeZone,
      items: schedules.programs.list().map((p) => ({ ...p, next: upcoming(p.id, 3) })),
    }),
  );

  app.get(
    '/programs/:id',
    {
      schema: {
        tags,
        summary: 'One program with its next airings',
        params: idParams,
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(200).default(10) }),
        response: { 200: programSchema, 404: errorBodySchema },
      },
    },
    async (request) => {
      const p = schedules.programs.get(request.params.id);
      if (!p) throw notFound('program', request.params.id);
      return { ...p, next: upcoming(p.id, request.query.limit) };
    },
  );

  app.post(
    '/programs/preview',
    {
      schema: {
        tags,
        summary:
          "A program's airings over the next days, and its clashes with other programs, without saving it",
        body: programInputSchema.extend({ id: programIdSchema.optional() }),
        querystring: z.object({ days: z.coerce.number().int().min(1).max(60).default(7) }),
        response: {
          200: z.object({ airings: z.array(plannedSchema), clashes: z.array(clashSchema) }),
          400: errorBodySchema,
        },
      },
    },
    async (request) => {
      const { id, ...body } = request.body;
      const { airings, clashes } = schedules.preview(id ?? null, body, request.query.days);
      return {
        airings: airings.map((a) => ({
          at: a.at,
          local: a.local,
          durationMs: a.durationMs,
          adjusted: a.adjusted,
          problems: a.problems,
        })),
        clashes,
      };
    },
  );

  app.post(
    '/programs',
    {
      schema: {
        tags,
        summary:
          'Create a program (201), or file an editor\'s for an approver (202). 409 schedule_clash lists the airings it overlaps on the same receivers: say which goes first in "clashes"',
        body: programInputSchema.extend({ id: programIdSchema.optional() }),
        response: {
          201: programSchema,
          202: z.object({ approval: approvalSchema }),
          400: errorBodySchema,
          403: errorBodySchema,
          409: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      const { id, ...body } = request.body;
      const pid = id ?? `p-${randomUUID().slice(0, 8)}`;
      if (schedules.programs.get(pid))
        return reply
          .code(409)
          .send({ error: 'exists', message: `Program "${pid}" exists; use PUT to change it.` });
      assertTargetInScope(request.user!, body.target, services.fleet);
      request.auditSubject = pid;
      const approval = fileIfNeeded(pid, body, request.user!);
      if (approval) return reply.code(202).send({ approval });
      const p = schedules.saveProgram(pid, body, { user: request.user!.id, source: 'api' });
      return reply.code(201).send({ ...p, next: [] });
    },
  );

  app.put(
    '/programs/:id',
    {
      schema: {
        tags,
        summary:
          "Change a program (an editor's change waits for an approver: 202): airings not begun follow the change; those begun or past are facts. 409 program_from_file for a program owned by a site file",
        params: idParams,
        body: programInputSchema,
        response: {
          200: programSchema,
          202: z.object({ approval: approvalSchema }),
          400: errorBodySchema,
          403: errorBodySchema,
          404: errorBodySchema,
          409: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      if (!schedules.programs.get(request.params.id)) throw notFound('program', request.params.id);
      assertTargetInScope(request.user!, request.body.target, services.fleet);
      const approval = fileIfNeeded(request.params.id, request.body, request.user!);
      if (approval) return reply.code(202).send({ approval });
      const p = schedules.saveProgram(request.params.id, request.body, {
        user: request.user!.id,
        source: 'api',
      });
      return reply.send({ ...p, next: [] });
    },
  );

  app.delete(
    '/programs/:id',
    {
      schema: {
        tags,
        summary: 'Remove a program: its airings not begun do not air; the as-run log keeps the rest',
        params: idParams,
        response: { 204: z.null(), 404: errorBodySchema, 409: errorBodySchema },
      },
    },
    async (request, reply) => {
      schedules.deleteProgram(request.params.id, request.user!.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/airings',
    {
      schema: {
        tags,
        summary: 'Airings of a period, for a calendar (filter by zone, program)',
        querystring: z.object({
          from: z.iso.datetime({ offset: true }).optional().describe('default now'),
          to: z.iso.datetime({ offset: true }).optional().describe('default from + 7 days'),
          zone: z.string().max(64).optional(),
          program: z.string().max(64).optional(),
          status: z.enum(['scheduled', 'cancelled', 'suspended']).optional(),
          planned: z
            .enum(['true', 'false'])
            .default('false')
            .describe(
              "true: add the airings past the receivers' horizon (SCHEDULE_HORIZON_H) as they will be planned, flagged planned",
            ),
        }),
        response: { 200: z.object({ items: z.array(airingSchema) }), 400: errorBodySchema },
      },
    },
    async (request) => {
      const q = request.query;
      const inZone = q.zone
        ? new Set(services.fleet.listReceivers({ zoneId: q.zone }).map((r) => r.id))
        : null;
      const from = q.from ? Date.parse(q.from) : schedules.now();
      const to = q.to ? Date.parse(q.to) : from + 7 * 86_400_000;
      // Past the receivers' horizon nothing is written yet: a calendar may ask for the plan too.
      const later = new Set<AiringRecord>(
        q.planned === 'true' && (!q.status || q.status === 'scheduled')
          ? schedules.plannedBetween(from, to).map((a) => ({
              ...a,
              id: `planned-${a.programId}-${a.occurrence}`,
              status: 'scheduled',
              shifted: false,
            }))
          : [],
      );
      const view = viewer();
      const items = [
        ...schedules.programs.between(new Date(from).toISOString(), new Date(to).toISOString()),
        ...later,
      ]
        .filter((a) => !q.program || a.programId === q.program)
        .filter((a) => !q.status || a.status === q.status)
        .filter(
          (a) =>
            !q.zone ||
            a.target.all ||
            a.target.zones?.includes(q.zone) ||
            (a.target.receivers ?? []).some((r) => inZone?.has(r)),
        )
        .map((a) => (later.has(a) ? { ...view(a), planned: true } : view(a)));
      return { items };
    },
  );

  app.get(
    '/airings/:id',
    {
      schema: {
        tags,
        summary: "One airing with every receiver's readiness and outcome, from their reports",
        params: idParams,
        response: {
          200: airingSchema.extend({
            receivers: z.array(
              z.object({
                receiverId: z.string(),
                state: z.string().describe('scheduled, ready, playing, interrupted, ended, no_report'),
                outcome: z.enum(['aired', 'cut', 'missed']).nullable(),
                reason: z.string().nullable(),
                readyAt: z.string().nullable(),
                startedAt: z.string().nullable(),
                endedAt: z.string().nullable(),
                concluded: z.boolean().describe('set by a deadline passing, not by a report'),
              }),
            ),
            summary: z.record(z.string(), z.number()),
          }),
          404: errorBodySchema,
        },
      },
    },
    async (request) => {
      const a = schedules.programs.airing(request.params.id);
      if (!a) throw notFound('airing', request.params.id);
      const receivers = schedules.programs.receivers(a.id);
      const summary: Record<string, number> = { total: receivers.length };
      for (const r of receivers) {
        const k = r.outcome ?? r.state;
        summary[k] = (summary[k] ?? 0) + 1;
      }
      return { ...viewer()(a), receivers, summary };
    },
  );

  app.post(
    '/airings/:id/cancel',
    {
      schema: {
        tags,
        summary:
          'Cancel one airing (not begun); the program goes on. 409 airing_started once it has begun (stop it instead); 403 out_of_scope for an airing beyond your villages',
        params: idParams,
        response: { 200: airingSchema, 403: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema },
      },
    },
    async (request) => {
      ownAiring(request.params.id, request.user!);
      return viewer()(schedules.cancelAiring(request.params.id));
    },
  );

  app.post(
    '/airings/:id/shift',
    {
      schema: {
        tags,
        summary:
          'Move one airing (not begun) to another start. 400 in_the_past for a start not in the future; 409 airing_started once it has begun; 403 out_of_scope for an airing beyond your villages',
        params: idParams,
        body: z.object({ at: z.iso.datetime({ offset: true }).describe('the new start') }),
        response: {
          200: airingSchema,
          400: errorBodySchema,
          403: errorBodySchema,
          404: errorBodySchema,
          409: errorBodySchema,
        },
      },
    },
    async (request) => {
      ownAiring(request.params.id, request.user!);
      return viewer()(schedules.shiftAiring(request.params.id, new Date(request.body.at)));
    },
  );

  app.post(
    '/zones/:id/suspend',
    {
      schema: {
        tags,
        summary:
          "Suspend a village's schedule from an instant (default now) until another, with the reason (until null: resume now). Its airings starting in that window are taken off its receivers (airings show it in suspendedIn); a stop does not do this. 400 in_the_past / empty_window; 403 out_of_scope for a village beyond yours",
        params: idParams,
        body: z.object({
          from: z.iso.datetime({ offset: true }).nullable().optional().describe('default: now'),
          until: z.iso.datetime({ offset: true }).nullable().describe('the end; null resumes now'),
          reason: z.string().trim().max(200).nullable().optional().describe('why, for the other officers'),
        }),
        response: {
          200: suspensionSchema,
          400: errorBodySchema,
          403: errorBodySchema,
          404: errorBodySchema,
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      services.fleet.getZone(id); // 404
      assertZoneInScope(request.user!, id);
      const { from, until, reason } = request.body;
      schedules.suspendZone(
        id,
        until ? { from: from ? new Date(from) : null, until: new Date(until), reason: reason || null } : null,
      );
      const z = schedules.programs.zoneSchedules().find((x) => x.zoneId === id);
      return {
        zoneId: id,
        suspendedFrom: z?.suspendedFrom ?? null,
        suspendedUntil: z?.suspendedUntil ?? null,
        suspendReason: z?.suspendReason ?? null,
      };
    },
  );

  const siteErrorSchema = z.object({
    file: z.string(),
    line: z.number(),
    column: z.number(),
    path: z.string(),
    message: z.string(),
  });

  app.get(
    '/schedules',
    {
      schema: {
        tags,
        summary:
          "The schedules folder (where it is, the digest applied, the errors of a refused reload) and every village's quiet hours and suspension",
        response: {
          200: z.object({
            dir: z.string().nullable(),
            digest: z.string().nullable(),
            appliedAt: z.string().nullable(),
            errors: z.array(siteErrorSchema),
            timeZone: z.string(),
            zones: z
              .array(
                z.object({
                  zoneId: z.string(),
                  quietHours: z.array(z.object({ from: z.string(), to: z.string() })),
                  suspendedFrom: z.string().nullable().describe('null with an until: from now on'),
                  suspendedUntil: z.string().nullable().describe('null: not suspended'),
                  suspendReason: z.string().nullable(),
                  sourceFile: z.string().nullable(),
                }),
              )
              .describe("each village's quiet hours (local times) and schedule suspension"),
          }),
        },
      },
    },
    async () => ({
      ...services.site.status(),
      timeZone: schedules.timeZone,
      zones: schedules.programs.zoneSchedules().map((z) => ({
        zoneId: z.zoneId,
        quietHours: z.quiet,
        suspendedFrom: z.suspendedFrom,
        suspendedUntil: z.suspendedUntil,
        suspendReason: z.suspendReason,
        sourceFile: z.sourceFile,
      })),
    }),
  );

  app.post(
    '/schedules/reload',
    {
      schema: {
        tags,
        summary:
          'Reload the schedules folder (as SIGHUP does): 200 applied or unchanged; 422 with every error (file, line, path) and nothing changed',
        response: {
          200: z.object({
            status: z.enum(['applied', 'unchanged']),
            dir: z.string(),
            digest: z.string(),
            zones: z.number(),
            receivers: z.number(),
            programs: z.number(),
            created: z.array(z.string()),
          }),
          409: errorBodySchema,
          422: z.object({
            error: z.literal('invalid_schedules'),
            message: z.string(),
            errors: z.array(siteErrorSchema),
          }),
        },
      },
    },
    async (_request, reply) => {
      const result = await services.site.reload();
      if (!result)
        return reply
          .code(409)
          .send({ error: 'no_schedules_dir', message: 'No schedules folder is configured (SCHEDULES_DIR).' });
      if (result.status === 'invalid')
        return reply.code(422).send({
          error: 'invalid_schedules' as const,
          message: `The schedules folder has ${result.errors.length} error(s); nothing was changed.`,
          errors: result.errors,
        });
      return result;
    },
  );
};

export default routes;
