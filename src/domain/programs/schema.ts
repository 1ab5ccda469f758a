/**
 * What an officer (through the API) or a site file (schedules/) says a program is. One schema for
 * both, so a program means the same wherever it was written.
 *
 * A program (chương trình) is an ordered list of items — an audio file of the library, a relay of a
 * live stream for a set time (tiếp sóng) with an optional fallback file, a pause — with targets, a
 * Circular 39 priority and a recurrence (./recurrence.ts) in the station's time zone.
 */
import { z } from 'zod';
import { DEVICE_ID_RE, deviceIdSchema, prioritySchema, zoneIdSchema } from '../../contract/mqtt.js';
import { LATE_POLICIES, RESUME_POLICIES } from '../../contract/schedule.js';
import { recurrenceSchema } from './recurrence.js';

/**
 * A duration: seconds as a number, or "HH:MM:SS" / "MM:SS" / "90s" / "30m" / "1h" as text.
 * Parsed to whole seconds.
 */
export const durationSchema = z.union([z.number(), z.string().trim()]).transform((v, ctx) => {
  const s = typeof v === 'number' ? v : parseDuration(v);
  if (s === null || !Number.isFinite(s) || s <= 0 || s > 24 * 3600) {
    ctx.addIssue({
      code: 'custom',
      message: 'a duration: seconds (1 to 86400), or text such as "30m", "1h", "90s", "05:00" or "01:30:00"',
    });
    return z.NEVER;
  }
  return Math.round(s);
});

function parseDuration(text: string): number | null {
  const unit = /^(\d+(?:\.\d+)?)\s*(s|m|h)$/i.exec(text);
  if (unit) return Number(unit[1]) * { s: 1, m: 60, h: 3600 }[unit[2]!.toLowerCase() as 's' | 'm' | 'h'];
  const clock = /^(?:(\d{1,2}):)?([0-5]?\d):([0-5]\d)$/.exec(text);
  if (clock) return Number(clock[1] ?? 0) * 3600 + Number(clock[2]) * 60 + Number(clock[3]);
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  return null;
}

/**
 * An audio file of the library: its id, `sha256:<hex>`, or its name (the newest file of that name).
 * Resolved when airings are computed; a name not in the library leaves the item out of the airing,
 * and the program shows the problem.
 */
export const audioRefInputSchema = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .describe('audio id, "sha256:" followed by the hex digest, or the name of an audio file in the library');

export const programItemInputSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('audio'), audio: audioRefInputSchema }),
  z.object({
    kind: z.literal('relay'),
    url: z
      .url({ protocol: /^https?$/ })
      .max(500)
      .describe('an Icecast or HTTP stream (MP3 or AAC)'),
    duration: durationSchema,
    fallback: audioRefInputSchema.optional().describe('plays instead when the stream cannot be reached'),
  }),
  z.object({ kind: z.literal('pause'), duration: durationSchema }),
]);
export type ProgramItemInput = z.infer<typeof programItemInputSchema>;

export const programTargetSchema = z
  .object({
    all: z.boolean().optional().describe('every adopted receiver'),
    zones: z.array(zoneIdSchema).max(500).optional(),
    receivers: z.array(deviceIdSchema).max(10000).optional(),
  })
  .refine((t) => t.all === true || (t.zones?.length ?? 0) > 0 || (t.receivers?.length ?? 0) > 0, {
    message: 'say where it airs: all: true, zones or receivers',
  });
export type ProgramTarget = z.infer<typeof programTargetSchema>;

/** A program id: a slug, as it appears in files and URLs. */
export const programIdSchema = z
  .string()
  .regex(DEVICE_ID_RE, 'letters, digits, "_", "." or "-", starting with a letter or digit (at most 64)');

export const programInputSchema = z.object({
  title: z.string().trim().min(1).max(120),
  priority: prioritySchema.default('normal'),
  target: programTargetSchema,
  recurrence: recurrenceSchema,
  items: z.array(programItemInputSchema).min(1).max(50),
  /** how late the airing may still start, or run on after a preemption (seconds) */
  grace: durationSchema.default(300),
  late: z.enum(LATE_POLICIES).default('join'),
  resume: z.enum(RESUME_POLICIES).default('where_stopped'),
  volume: z.number().int().min(0).max(100).optional(),
  enabled: z.boolean().default(true),
  /**
   * The officer's order where this program's airings overlap another program's on the same
   * receivers (Circular 39: the commune decides the order): `first` — this one airs first and the
   * other's clashing airing follows it; `after` — this one follows the other's; `skip` — this
   * one's clashing airing does not air. A clash without an order is refused when saved.
   */
  clashes: z.record(programIdSchema, z.enum(['first', 'after', 'skip'])).default({}),
});
export type ProgramInput = z.infer<typeof programInputSchema>;
export type ProgramInputRaw = z.input<typeof programInputSchema>;

/** Quiet hours of a zone: local times; `from` later than `to` spans midnight (21:00–05:00). */
export const quietHoursSchema = z.object({
  from: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a local time HH:MM, 24-hour'),
  to: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a local time HH:MM, 24-hour'),
});
export type QuietHours = z.infer<typeof quietHoursSchema>;
