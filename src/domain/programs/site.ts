/**
 * A site definition (the `schedules/` folder, issue 8 §9): the commune, its zones (villages, thôn)
 * with quiet hours, its receivers (cụm loa) and its programs (chương trình), written by hand in
 * YAML or JSON and spread over one or more files. docs/schedules.md is the format's reference.
 *
 * One file is checked against {@link siteFileSchema}; ./site-files.ts reads the folder, checks
 * what spans files (duplicate ids, references) and merges the files into a {@link SiteDefinition}.
 *
 * Every object is strict: a key the format does not know is an error, so a typo is never silently
 * ignored. Programs use the same fields as the API (./schema.ts), plus an `id`.
 */

import { z } from 'zod';
import { isTimeZone } from '../../config.js';
import { deviceIdSchema, zoneIdSchema } from '../../contract/mqtt.js';
import { type ProgramInput, programIdSchema, programInputSchema, quietHoursSchema } from './schema.js';
import { deepStrict } from './strict.js';

export const DEFAULT_TIME_ZONE = 'Asia/Ho_Chi_Minh';

/**
 * An IANA time zone name, checked with the runtime's own time-zone data (Intl) and kept as written
 * (Intl would turn Asia/Ho_Chi_Minh into its ICU alias Asia/Saigon). UTC offsets ("+07:00") are
 * refused: a zone name carries the rules, daylight saving included.
 */
export const timeZoneSchema = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .transform((tz, ctx) => {
    if (!/^[A-Za-z]/.test(tz) || !isTimeZone(tz)) {
      ctx.addIssue({
        code: 'custom',
        message: `"${tz}" is not an IANA time zone name (such as Asia/Ho_Chi_Minh or Europe/Berlin)`,
      });
      return z.NEVER;
    }
    return tz;
  });

const nameSchema = z.string().trim().min(1).max(120);

export const siteHeaderSchema = z.strictObject({
  /** the commune's name as people say it, e.g. "Xã Hướng Đạo" */
  name: nameSchema,
  /** the station's time zone: every local date and time of the site is read in it */
  timeZone: timeZoneSchema.default(DEFAULT_TIME_ZONE),
});
export type SiteHeader = z.infer<typeof siteHeaderSchema>;

/** Quiet hours as written in a site file: `from` must differ from `to`. */
const siteQuietHoursSchema = quietHoursSchema.refine((q) => q.from !== q.to, {
  message: '"from" equals "to": quiet hours need a start and a different end (21:00 to 05:00 spans midnight)',
  path: ['to'],
});

export const siteZoneSchema = z.strictObject({
  id: zoneIdSchema,
  name: nameSchema,
  /** local times during which normal and priority items do not start (emergencies do) */
  quietHours: z.array(siteQuietHoursSchema).max(8).default([]),
});
export type SiteZone = z.infer<typeof siteZoneSchema>;

export const siteReceiverSchema = z.strictObject({
  /** the receiver's id, as it logs in to the broker (its provisioning id) */
  id: deviceIdSchema,
  name: nameSchema.optional(),
  /** the zone (village) it belongs to: declared under `zones` in some file of the folder */
  zone: zoneIdSchema,
});
export type SiteReceiver = z.infer<typeof siteReceiverSchema>;

/**
 * A program in a file: an `id` (its name in URLs, and how a reload recognises it) plus every field of
 * the API's program input. Rebuilt strict, nested objects included.
 */
export const siteProgramSchema = deepStrict(z.object({ id: programIdSchema, ...programInputSchema.shape }));
export type SiteProgram = ProgramInput & { id: string };

export const MAX_ZONES = 1000;
export const MAX_RECEIVERS = 10_000;
export const MAX_PROGRAMS = 1000;

/** One file of the folder: any of the four sections, each optional. Strict throughout. */
export const siteFileSchema = deepStrict(
  z.object({
    site: siteHeaderSchema.optional(),
    zones: z.array(siteZoneSchema).max(MAX_ZONES).optional(),
    receivers: z.array(siteReceiverSchema).max(MAX_RECEIVERS).optional(),
    programs: z.array(siteProgramSchema).max(MAX_PROGRAMS).optional(),
  }),
);
export type SiteFile = z.infer<typeof siteFileSchema>;

/** The merged, normalized site: parsed values with defaults, each list sorted by id. */
export interface SiteDefinition {
  site: SiteHeader;
  zones: SiteZone[];
  receivers: SiteReceiver[];
  programs: SiteProgram[];
}
