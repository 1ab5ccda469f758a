/**
 * The schedule half of the MQTT contract: the airings a receiver holds and keeps by its own clock,
 * what it reports about them, and the time exchange that keeps its clock in step.
 *
 * - `rx/<id>/schedule` controller → receiver, QoS 1, **retained**, signed: the receiver's whole
 *   schedule for a horizon (ScheduleDoc). One document per receiver: see docs/protocol.md §13 for
 *   why not one per zone. A document carries a `version` from the controller-wide sequence; a
 *   receiver never replaces a document by one with a lower version.
 * - `rx/<id>/airing` receiver → controller, QoS 1: AiringReport (the schedule applied or refused,
 *   an airing ready, each item's start, end and outcome, an airing missed).
 * - `rx/<id>/time` receiver → controller, QoS 0: TimeRequest (t1).
 * - `rx/<id>/clock` controller → receiver, QoS 0, signed: TimeReply (t1 echoed, t2, t3).
 *
 * Every instant in these payloads is the controller's time scale (UTC); a receiver converts with
 * the offset its time exchange estimated (docs/protocol.md §14).
 */
import { z } from 'zod';
import { idSchema, MAX_SCHEDULE_BYTES, PROTOCOL_VERSION, prioritySchema } from './mqtt.js';

export { MAX_SCHEDULE_BYTES };

/** Horizon a receiver is given ahead (the controller's default; a document states its own). */
export const DEFAULT_HORIZON_MS = 48 * 3600 * 1000;

const isoTime = z.iso.datetime({ offset: true });
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'lower-case hex sha256');
const durationMs = z
  .number()
  .int()
  .min(0)
  .max(24 * 3600 * 1000);

/** An audio file the document's items refer to by sha256 (each listed once). */
export const scheduleAssetSchema = z.object({
  sha256: sha256Hex,
  /** absolute URL, valid until the document expires (plus a grace); HTTP Basic as for commands */
  url: z.url(),
  size: z.number().int().positive(),
  durationMs,
  mime: z.string().min(1).max(100),
});
export type ScheduleAsset = z.infer<typeof scheduleAssetSchema>;

/**
 * One item of an airing. Every item states its planned `durationMs`, so the receiver can place
 * each item on the airing's timeline without looking anything up.
 */
export const scheduleItemSchema = z.discriminatedUnion('kind', [
  /** an audio file from the library (an asset of the document) */
  z.object({ kind: z.literal('audio'), sha256: sha256Hex, durationMs }),
  /**
   * a relay (tiếp sóng) of a live stream (Icecast/HTTP MP3 or AAC) for `durationMs`; when the stream
   * cannot be reached, the `fallback` asset plays instead (if given), else silence for the slot
   */
  z.object({
    kind: z.literal('relay'),
    url: z.url(),
    durationMs: durationMs.min(1),
    fallback: sha256Hex.optional(),
  }),
  /** silence */
  z.object({ kind: z.literal('pause'), durationMs: durationMs.min(1) }),
]);
export type ScheduleItem = z.infer<typeof scheduleItemSchema>;

/** What a receiver does when it can start an airing only after its instant. */
export const LATE_POLICIES = ['join', 'skip'] as const;
/** Where an interrupted item goes on after the interruption. */
export const RESUME_POLICIES = ['where_stopped', 'item_start'] as const;

/** One airing: a program's occurrence at an instant, with its items as they will air. */
export const scheduledAiringSchema = z.object({
  /** unique; every report about this airing carries it */
  id: idSchema,
  /** the program's id (a slug, 1–64 characters) */
  programId: z.string().min(1).max(64),
  title: z.string().min(1).max(120),
  /** scheduled start (controller time scale) */
  at: isoTime,
  priority: prioritySchema,
  items: z.array(scheduleItemSchema).min(1).max(50),
  /**
   * The window: nothing of the airing plays after `at` + the sum of the items' durations + graceMs.
   * An airing that cannot start (or resume) within it is `missed` (or its rest `cut`).
   */
  graceMs: durationMs,
  /**
   * - `join`: a receiver that starts late joins the timeline where it is now (the item due, at the
   *   offset due; a relay joins live), in step with its neighbours;
   * - `skip`: a receiver more than LATE_TOLERANCE_MS late does not air it (`missed`, reason `late`).
   */
  late: z.enum(LATE_POLICIES),
  /** after a preemption: resume the interrupted item where it stopped, or from its start */
  resume: z.enum(RESUME_POLICIES),
  /** 0–100; absent keeps the receiver's own volume */
  volume: z.number().int().min(0).max(100).optional(),
});
export type ScheduledAiring = z.infer<typeof scheduledAiringSchema>;

/** How late an airing with `late: 'skip'` may still start. */
export const LATE_TOLERANCE_MS = 2000;

/**
 * A receiver's schedule. It replaces the previous document whole (airings absent from it are not
 * to air). `version` only grows; a document with a lower version than the one held is ignored
 * (reported `rejected`, reason `stale`); the same version again (the retained copy after a
 * reconnection) is acknowledged again and changes nothing.
 */
export const scheduleDocSchema = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    type: z.literal('schedule'),
    receiverId: z.string().min(1).max(64),
    version: z.number().int().nonnegative(),
    issuedAt: isoTime,
    /** the horizon: the document says everything that airs in [from, until) */
    from: isoTime,
    until: isoTime,
    assets: z.array(scheduleAssetSchema).max(200),
    airings: z.array(scheduledAiringSchema).max(500),
    /**
     * quiet hours of the receiver's zone, as instants within the horizon: normal and priority
     * items (scheduled or play-now) do not start inside them, emergencies do
     */
    quiet: z
      .array(z.object({ start: isoTime, end: isoTime }))
      .max(200)
      .default([]),
    /** how long ahead of an airing the receiver fetches its audio */
    prefetchMs: durationMs,
  })
  .refine((d) => Date.parse(d.until) > Date.parse(d.from), {
    message: '"until" must be after "from"',
    path: ['until'],
  });
export type ScheduleDoc = z.infer<typeof scheduleDocSchema>;

/** States a receiver reports about its schedule and its airings. */
export const AIRING_STATES = [
  /** the schedule document of `version` was taken (kind `schedule`) */
  'applied',
  /** the document was refused (kind `schedule`; reason says why) */
  'rejected',
  /** every asset of the airing is held: it can air at its instant */
  'ready',
  /** an item began to sound (offsetMs: where in the item; resumed: after an interruption) */
  'started',
  /** an item played to its end */
  'finished',
  /** an item was interrupted by something of higher priority (`by`), offsetMs where */
  'preempted',
  /** an item stopped before its end, or never began, for lack of window, a stop or quiet hours */
  'cut',
  /** an item not played: its audio was not there in time, or its slot had passed (late join) */
  'skipped',
  /** an item failed to play (a relay whose stream failed and had no fallback) */
  'failed',
  /** the airing as a whole did not air (reason) */
  'missed',
  /** the airing is over on this receiver: outcome `aired`, `cut` or `missed` */
  'ended',
] as const;
export type AiringState = (typeof AIRING_STATES)[number];

export const AIRING_REASONS = [
  'offline',
  'not_ready',
  'quiet_hours',
  'preempted',
  'late',
  'stopped',
  'window',
  'stream_failed',
  'playback_error',
  'stale',
  'invalid',
  'unsigned',
  'unknown_key',
  'bad_signature',
  'wrong_topic',
  'expired',
  'storage_full',
  'other',
] as const;
export type AiringReason = (typeof AIRING_REASONS)[number];

export const AIRING_OUTCOMES = ['aired', 'cut', 'missed'] as const;
export type AiringOutcome = (typeof AIRING_OUTCOMES)[number];

/** A receiver's report about its schedule (kind `schedule`) or one airing (kind `airing`). */
export const airingReportSchema = z.discriminatedUnion('kind', [
  z.object({
    v: z.literal(PROTOCOL_VERSION),
    kind: z.literal('schedule'),
    version: z.number().int().nonnegative(),
    state: z.enum(['applied', 'rejected']),
    reason: z.enum(AIRING_REASONS).optional(),
    detail: z.string().max(500).optional(),
    session: z.number().int().nonnegative(),
    ts: isoTime,
  }),
  z.object({
    v: z.literal(PROTOCOL_VERSION),
    kind: z.literal('airing'),
    airingId: idSchema,
    /** 0-based index into the airing's items; absent for the airing as a whole */
    item: z.number().int().min(0).max(49).optional(),
    state: z.enum(AIRING_STATES),
    reason: z.enum(AIRING_REASONS).optional(),
    /** with `ended` */
    outcome: z.enum(AIRING_OUTCOMES).optional(),
    /** when it happened, on the controller's time scale (the receiver's clock corrected by its offset) */
    at: isoTime,
    /** with `started`/`preempted`/`cut`: position in the item, ms */
    offsetMs: z.number().int().min(0).max(86_400_000).optional(),
    /** with `started`: after an interruption */
    resumed: z.boolean().optional(),
    /** with `started`/`finished`: the relay's fallback audio played instead of the stream */
    fallback: z.boolean().optional(),
    /** with `finished` of an audio item (or a fallback): sha256 of the bytes played */
    sha256: sha256Hex.optional(),
    /** with `preempted`: the command or airing that took over */
    by: idSchema.optional(),
    detail: z.string().max(500).optional(),
    session: z.number().int().nonnegative(),
    /** the receiver's own clock when it sent the report */
    ts: isoTime,
  }),
]);
export type AiringReport = z.infer<typeof airingReportSchema>;

/**
 * Time exchange, NTP-style (docs/protocol.md §14). Times are epoch milliseconds, fractions allowed.
 * The receiver sends t1 (its clock at send); the controller answers, signed, with t1 echoed, t2
 * (its clock at receipt) and t3 (its clock at send); the receiver notes t4 at receipt. Then
 * offset = ((t2 − t1) + (t3 − t4)) / 2 and round-trip delay = (t4 − t1) − (t3 − t2).
 */
export const timeRequestSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  /** a fresh nonce per request: the reply must echo it */
  id: z.string().min(8).max(64),
  t1: z.number().finite().nonnegative(),
});
export type TimeRequest = z.infer<typeof timeRequestSchema>;

export const timeReplySchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  type: z.literal('time'),
  id: z.string().min(8).max(64),
  t1: z.number().finite().nonnegative(),
  t2: z.number().finite().nonnegative(),
  t3: z.number().finite().nonnegative(),
});
export type TimeReply = z.infer<typeof timeReplySchema>;
