/**
 * Urgent announcements: one call with a recording (or any audio) in the library or typed text for
 * TTS, then the live reach report per village and receiver.
 */
import { z } from 'zod';
import { assertTargetInScope, assertVisibleInScope } from '../../auth/scope.js';
import { prioritySchema } from '../../contract/mqtt.js';
import type { ReachReport } from '../../domain/announcements/reach.js';
import { VOICES } from '../../domain/announcements/types.js';
import { errorBodySchema } from '../errors.js';
import { idempotencyHeaders } from '../idempotency.js';
import { approvalSchema, bulletinSchema, confirmSchema, idParams, targetSchema } from '../schemas.js';
import { streamProgress } from '../sse.js';
import type { RoutePlugin } from '../types.js';

const contentSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('audio').describe('a recording or file already in the library (POST /api/audio)'),
    audioId: z.string().min(1).max(64),
  }),
  z.object({
    kind: z.literal('text').describe('typed text, read by text-to-speech (numbers, dates, units normalised)'),
    text: z.string().trim().min(1).max(5000),
    voice: z.enum(VOICES).default('north').describe('north (Hà Nội), central (Huế), south (Sài Gòn)'),
    speed: z.number().min(0.5).max(2).default(1),
  }),
]);

export const announceBodySchema = z
  .object({
    title: z.string().trim().min(1).max(200).optional(),
    content: contentSchema,
    target: targetSchema,
    priority: prioritySchema.default('emergency').describe('default emergency: preempts everything'),
    repeat: z.number().int().min(1).max(20).optional().describe('plays; default 2 for an emergency, else 1'),
    gapSeconds: z.number().min(0).max(600).default(5).describe('silence between repeats'),
    volume: z.number().int().min(0).max(100).optional().describe('e.g. 100 for the loudest'),
    expiresInSeconds: z
      .number()
      .int()
      .min(10)
      .max(7 * 86400)
      .optional(),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
    confirm: confirmSchema
      .optional()
      .describe('to every village: your PIN (asked in the same dialog), or a confirmation token'),
  })
  .refine((v) => !(v.expiresAt && v.expiresInSeconds), 'give expiresAt or expiresInSeconds, not both');

export const announcementSchema = z
  .object({
    id: z.string(),
    source: z.enum(['officer', 'cap']),
    title: z.string(),
    status: z.enum(['pending', 'sent', 'rejected', 'cancelled', 'withdrawn']),
    text: z.string().nullable(),
    voice: z.enum(VOICES).nullable(),
    audioId: z.string().nullable(),
    bulletinId: z.string().nullable(),
    approvalId: z.string().nullable(),
    createdBy: z.string().nullable(),
    createdAt: z.string(),
  })
  .meta({ id: 'Announcement' });

const reachStates = z.enum(['heard', 'playing', 'not_yet', 'failed']);
const countsSchema = z.object({
  total: z.number().int(),
  heard: z.number().int(),
  playing: z.number().int(),
  not_yet: z.number().int(),
  failed: z.number().int(),
});
export const reachSchema = z
  .object({
    announcement: announcementSchema,
    expiresAt: z.string().nullable(),
    counts: countsSchema,
    complete: z.boolean().describe('every receiver has an outcome: heard or failed'),
    villages: z.array(
      z.object({
        zoneId: z.string().nullable(),
        name: z.string(),
        counts: countsSchema,
        receivers: z.array(
          z.object({
            id: z.string(),
            name: z.string().nullable(),
            online: z.boolean(),
            reach: reachStates,
            state: z.string(),
            reason: z.string().nullable(),
            detail: z.string().nullable(),
            play: z.number().int().nullable(),
            updatedAt: z.string(),
          }),
        ),
      }),
    ),
  })
  .meta({ id: 'Reach' });

const timingsSchema = z.object({
  synthMs: z.number().int(),
  ttsCached: z.boolean().nullable(),
  renditionMs: z.number().int(),
  totalMs: z.number().int(),
});
const answerExtras = {
  announcement: announcementSchema,
  timings: timingsSchema,
  warnings: z.array(z.string()),
  spoken: z.string().nullable().describe('the text as read aloud, after normalisation'),
};

const routes: RoutePlugin = async (app, { services }) => {
  const tags = ['announcements'];
  const { announcements, fleet } = services;

  /** The report as the officer may see it: only their villages when their scope is limited. */
  const scoped = (zones: string[] | null, report: ReachReport): ReachReport => {
    if (!zones) return report;
    const villages = report.villages.filter((v) => v.zoneId !== null && zones.includes(v.zoneId));
    return { ...report, villages };
  };

  app.post(
    '/announcements',
    {
      // a retry after a lost answer (same key, same body; the PIN may differ) airs nothing twice
      config: { idempotent: { ignore: ['confirm'] } },
      schema: {
        tags,
        summary:
          'Announce now: a recording (audioId) or typed text (TTS), to some villages or all; default emergency, which preempts everything. 201 sent, 202 waiting for a second officer or an approver; 428 when the PIN is needed (ask it in the same dialog and send confirm.pin). Send an Idempotency-Key so that a retry after a lost answer cannot announce twice',
        headers: idempotencyHeaders,
        body: announceBodySchema,
        response: {
          201: z.object({ ...answerExtras, bulletin: bulletinSchema }),
          202: z.object({ ...answerExtras, approval: approvalSchema }),
          400: errorBodySchema,
          403: errorBodySchema,
          409: errorBodySchema,
          415: errorBodySchema,
          422: errorBodySchema,
          428: errorBodySchema,
          503: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      const user = request.user!;
      const body = request.body;
      assertTargetInScope(user, body.target, fleet);
      try {
        const answer = await announcements.create(body, user, { source: 'officer' });
        request.auditSubject = answer.announcement.id;
        if (answer.kind === 'sent') {
          const { kind: _k, ...rest } = answer;
          return reply.code(201).send(rest);
        }
        const { kind: _k, ...rest } = answer;
        return reply.code(202).send(rest);
      } catch (err) {
        // A refused trigger is a fact worth keeping too (a wrong PIN, say).
        const e = err as { statusCode?: number; code?: string };
        if (e.statusCode === 403 || e.statusCode === 428) {
          services.audit.record(request, 'announcement refused', null, null, {
            code: e.code,
            priority: body.priority,
            target: body.target,
          });
        }
        throw err;
      }
    },
  );

  app.get(
    '/announcements',
    {
      schema: {
        tags,
        summary: 'Announcements, newest first',
        querystring: z.object({
          limit: z.coerce.number().int().min(1).max(200).default(50),
          offset: z.coerce.number().int().min(0).default(0),
        }),
        response: { 200: z.object({ items: z.array(announcementSchema), total: z.number().int() }) },
      },
    },
    async (request) => announcements.list(request.query.limit, request.query.offset),
  );

  app.get(
    '/announcements/:id',
    {
      schema: {
        tags,
        summary:
          'An announcement with its reach: per village and receiver, heard / playing / not yet / failed (with the reason), from what the receivers reported',
        params: idParams,
        response: { 200: reachSchema, 404: errorBodySchema },
      },
    },
    async (request) => {
      const { announcement, report, expiresAt } = announcements.reach(request.params.id);
      if (announcement.bulletinId) {
        assertVisibleInScope(
          request.user!,
          services.bulletins.get(announcement.bulletinId, false).target,
          fleet,
        );
      }
      return { announcement, expiresAt, ...scoped(request.user!.zones, report) };
    },
  );

  app.get(
    '/announcements/:id/reach',
    {
      schema: {
        tags,
        summary:
          'The reach report live, as Server-Sent Events: a "progress" event with the whole report at once and at each change (at most 4 a second), "end" when every receiver has an outcome',
        params: idParams,
        produces: ['text/event-stream'],
        response: { 404: errorBodySchema },
      },
    },
    async (request, reply) => {
      const id = request.params.id;
      const first = announcements.reach(id); // 404 before the stream starts
      const bulletinId = first.announcement.bulletinId;
      if (bulletinId)
        assertVisibleInScope(request.user!, services.bulletins.get(bulletinId, false).target, fleet);
      const zones = request.user!.zones;
      streamProgress(request, reply, {
        subscribe: (listener) => {
          // Progress comes per event-loop turn; a report for a thousand receivers is sent at most
          // every 250 ms, and the last change is never lost.
          let timer: NodeJS.Timeout | null = null;
          const onProgress = (changed: string) => {
            const current = announcements.get(id).bulletinId;
            if (changed !== current || timer) return;
            timer = setTimeout(() => {
              timer = null;
              listener(id);
            }, 250);
          };
          services.bulletins.on('progress', onProgress);
          return () => {
            if (timer) clearTimeout(timer);
            services.bulletins.off('progress', onProgress);
          };
        },
        id,
        snapshot: () => {
          const { announcement, report, expiresAt } = announcements.reach(id);
          return { announcement, expiresAt, ...scoped(zones, report) };
        },
        ended: (r) => r.announcement.status !== 'pending' && (r.announcement.status !== 'sent' || r.complete),
      });
    },
  );

  app.post(
    '/announcements/:id/cancel',
    {
      schema: {
        tags,
        summary:
          'Cancel an announcement: its bulletin is stopped everywhere (each receiver confirms), or its request withdrawn while it waits',
        params: idParams,
        response: { 200: announcementSchema, 404: errorBodySchema, 409: errorBodySchema },
      },
    },
    async (request) => {
      const a = announcements.get(request.params.id);
      if (a.bulletinId)
        assertVisibleInScope(request.user!, services.bulletins.get(a.bulletinId, false).target, fleet);
      return announcements.cancel(request.params.id, request.user!);
    },
  );
};

export default routes;
