/**
 * CAP 1.2 input (docs/cap.md): an alert source (role 'alerter') POSTs the XML; officers read what
 * came and what became of it.
 */
import { z } from 'zod';
import { prioritySchema } from '../../contract/mqtt.js';
import { CAP_OUTCOMES } from '../../domain/cap/types.js';
import { AppError } from '../../errors.js';
import { errorBodySchema } from '../errors.js';
import { targetSchema } from '../schemas.js';
import type { RoutePlugin } from '../types.js';
import { announcementSchema } from './announcements.js';

export const CAP_CONTENT_TYPES = ['application/cap+xml', 'application/xml', 'text/xml'];

export const capAlertSchema = z
  .object({
    sender: z.string(),
    identifier: z.string(),
    sent: z.string(),
    msgType: z.string(),
    status: z.string(),
    receivedAt: z.string(),
    receivedBy: z.string().nullable().describe('the account (alert source) it came through'),
    outcome: z.enum(CAP_OUTCOMES),
    detail: z.string().nullable().describe('what was done and why, for an officer'),
    announcementId: z.string().nullable(),
    announcementStatus: z
      .enum(['pending', 'sent', 'rejected', 'cancelled', 'withdrawn'])
      .nullable()
      .describe('where its announcement stands now (an officer may have approved or rejected it)'),
  })
  .meta({ id: 'CapAlert' });

const answerSchema = z.object({
  duplicate: z.boolean().describe('this (sender, identifier) came before: nothing was done again'),
  outcome: z.enum(CAP_OUTCOMES),
  alert: capAlertSchema,
  announcement: announcementSchema.nullable(),
  approvalId: z.string().nullable().describe('the approval an officer decides on, when it waits'),
  mapped: z
    .object({
      priority: prioritySchema,
      airsAtOnce: z.boolean(),
      rule: z.number().int().nullable().describe('the CAP_MAP priority rule that matched (1-based)'),
      target: targetSchema,
      areas: z.array(z.string()).describe('how each village was found'),
    })
    .nullable(),
  warnings: z.array(z.string()),
});

const routes: RoutePlugin = async (app, { services }) => {
  const tags = ['cap'];
  const limit = services.config.CAP_MAX_BYTES;

  // The XML arrives as a string, counted as it comes: past the limit the upload stops at once.
  app.addContentTypeParser(CAP_CONTENT_TYPES, (_request, payload, done) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    payload.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        done(
          new AppError(413, 'too_large', `A CAP alert may be at most ${limit} bytes (CAP_MAX_BYTES).`),
          undefined,
        );
        return;
      }
      chunks.push(chunk);
    });
    payload.on('error', (err) => {
      if (!over) done(err, undefined);
    });
    payload.on('end', () => {
      if (over) return;
      try {
        done(null, new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks)));
      } catch {
        done(new AppError(400, 'invalid_xml', 'The alert is not UTF-8 text.'), undefined);
      }
    });
  });

  app.post(
    '/cap',
    {
      bodyLimit: limit + 1,
      // A refused or failed alert is a fact worth keeping too (the body parser's refusals included).
      onError: async (request, _reply, error) => {
        const e = error as { statusCode?: number; code?: string };
        services.audit.record(request, 'cap alert refused', null, null, {
          status: e.statusCode ?? 500,
          code: e.code,
        });
      },
      schema: {
        tags,
        summary:
          'Submit a CAP 1.2 alert (application/cap+xml): 201 aired at once, 202 waits for an officer, 200 recorded without airing or a duplicate',
        description:
          'For alert sources (role alerter). The XML is checked against the OASIS CAP 1.2 schema; ' +
          'a DOCTYPE declaration is refused. Its urgency, severity and certainty map to a priority, its areas ' +
          '(areaDesc, geocode, polygon, circle) to villages, by CAP_MAP (docs/cap.md); the Vietnamese ' +
          '`info` block (else the first) is read aloud. The same sender and identifier twice is a duplicate; ' +
          'Update and Cancel act on the alerts they reference.',
        consumes: CAP_CONTENT_TYPES,
        response: {
          200: answerSchema,
          201: answerSchema,
          202: answerSchema,
          400: errorBodySchema,
          413: errorBodySchema,
          415: errorBodySchema,
          422: errorBodySchema,
          503: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      if (typeof request.body !== 'string') {
        throw new AppError(
          415,
          'unsupported_media_type',
          `Send the CAP alert as XML (Content-Type ${CAP_CONTENT_TYPES.join(', ')}).`,
        );
      }
      const { httpStatus, ...answer } = await services.cap.receive(request.body, request.user!);
      request.auditSubject = `${answer.alert.sender},${answer.alert.identifier}`;
      return reply.code(httpStatus).send(answer);
    },
  );

  app.get(
    '/cap',
    {
      schema: {
        tags,
        summary: 'CAP alerts received, newest first, with what became of each',
        querystring: z.object({
          limit: z.coerce.number().int().min(1).max(200).default(50),
          offset: z.coerce.number().int().min(0).default(0),
        }),
        response: { 200: z.object({ items: z.array(capAlertSchema), total: z.number().int() }) },
      },
    },
    async (request) => services.cap.list(request.query.limit, request.query.offset),
  );
};
export default routes;
