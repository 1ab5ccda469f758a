/**
 * The MQTT contract between the loalang controller and its loudspeaker receivers.
 *
 * Every topic and every payload lives here, as zod schemas. The controller, `firmware-sim/` and
 * `docs/protocol.md` all follow this file; a change to the wire starts here.
 *
 * Conventions (after Zigbee2MQTT, Homie, Tasmota and AWS IoT Jobs):
 * - commands go controller → receiver on a per-receiver, per-zone or all-receiver topic, QoS 1,
 *   never retained, inside a signed envelope, each with id, seq, issuedAt and expiresAt;
 * - the receiver's status is retained, with a last will "offline" carrying the same session number,
 *   so a late "offline" from an earlier session never overwrites a fresh "online";
 * - progress events carry the command id; a receiver de-duplicates commands by id.
 */
import { z } from 'zod';

/** Version of the wire format; every payload carries it as `v`. */
export const PROTOCOL_VERSION = 1;

/** Default topic root. Deployments sharing a broker may choose another with `MQTT_TOPIC_ROOT`. */
export const DEFAULT_TOPIC_ROOT = 'loalang/v1';

/** Largest payload either side accepts; anything bigger is dropped unread. */
export const MAX_PAYLOAD_BYTES = 16 * 1024;

/**
 * Largest schedule document (contract/schedule.ts), the one payload allowed to be larger: it
 * carries a horizon of airings. The controller shortens the horizon until its document fits.
 */
export const MAX_SCHEDULE_BYTES = 64 * 1024;

/** Receiver and zone ids appear in topics, so they may not hold MQTT wildcards or separators. */
export const DEVICE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const deviceIdSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(DEVICE_ID_RE, 'letters, digits, "_", "." or "-", starting with a letter or digit');
export const zoneIdSchema = deviceIdSchema;

/** All topics, built from one root. Never publish to a topic holding `+` or `#`. */
export function topics(root = DEFAULT_TOPIC_ROOT) {
  return {
    root,
    /** controller → one receiver: commands (QoS 1, not retained) */
    receiverCommand: (id: string) => `${root}/rx/${id}/cmd`,
    /** controller → one receiver: its desired configuration (QoS 1, retained) */
    receiverConfig: (id: string) => `${root}/rx/${id}/config`,
    /** receiver → all: its status (QoS 1, retained; last will "offline") */
    receiverStatus: (id: string) => `${root}/rx/${id}/status`,
    /** receiver → controller: progress events for commands (QoS 1, not retained) */
    receiverEvent: (id: string) => `${root}/rx/${id}/event`,
    /** controller → one receiver: its schedule (QoS 1, retained, signed; contract/schedule.ts) */
    receiverSchedule: (id: string) => `${root}/rx/${id}/schedule`,
    /** receiver → controller: reports about its schedule and airings (QoS 1, not retained) */
    receiverAiring: (id: string) => `${root}/rx/${id}/airing`,
    /** receiver → controller: time request (QoS 0) */
    receiverTime: (id: string) => `${root}/rx/${id}/time`,
    /** controller → one receiver: signed time reply (QoS 0) */
    receiverClock: (id: string) => `${root}/rx/${id}/clock`,
    /** controller → every receiver of a zone (village) */
    zoneCommand: (zoneId: string) => `${root}/zone/${zoneId}/cmd`,
    /** controller → every adopted receiver */
    allCommand: () => `${root}/all/cmd`,
    /** wildcard subscriptions the controller uses */
    statusWildcard: () => `${root}/rx/+/status`,
    eventWildcard: () => `${root}/rx/+/event`,
    airingWildcard: () => `${root}/rx/+/airing`,
    timeWildcard: () => `${root}/rx/+/time`,
  } as const;
}
export type Topics = ReturnType<typeof topics>;

/** Parses `<root>/rx/<id>/<leaf>` into its receiver id and leaf, or null. */
export function parseReceiverTopic(root: string, topic: string): { receiverId: string; leaf: string } | null {
  const prefix = `${root}/rx/`;
  if (!topic.startsWith(prefix)) return null;
  const rest = topic.slice(prefix.length).split('/');
  if (rest.length !== 2) return null;
  const [receiverId, leaf] = rest as [string, string];
  // The same rule as deviceIdSchema, as a bare regex: this runs for every message of the fleet.
  if (!DEVICE_ID_RE.test(receiverId)) return null;
  return { receiverId, leaf };
}

/** Circular 39/2020/TT-BTTTT priority levels, lowest first. */
export const PRIORITIES = ['normal', 'priority', 'emergency'] as const;
export const prioritySchema = z.enum(PRIORITIES);
export type Priority = z.infer<typeof prioritySchema>;
export const priorityRank = (p: Priority): number => PRIORITIES.indexOf(p);

/**
 * Whether a new item of priority `incoming` interrupts one of priority `playing`.
 * Higher preempts lower; an emergency also interrupts an earlier emergency (the newest alert
 * is the one in force); equal normal or priority items queue behind each other.
 */
export function preempts(incoming: Priority, playing: Priority): boolean {
  if (incoming === 'emergency') return true;
  return priorityRank(incoming) > priorityRank(playing);
}

const isoTime = z.iso.datetime({ offset: true });
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'lower-case hex sha256');
/** Command and bulletin ids: opaque, 8–64 characters (UUIDs today). */
export const idSchema = z.string().min(8).max(64);
const uuid = idSchema;

/** The audio a receiver must fetch over HTTP(S), check and play. */
export const audioRefSchema = z.object({
  /** absolute URL, valid until the command expires */
  url: z.url(),
  sha256: sha256Hex,
  size: z.number().int().positive(),
  durationMs: z.number().int().nonnegative(),
  mime: z.string().min(1).max(100),
});
export type AudioRef = z.infer<typeof audioRefSchema>;

const commandBase = {
  v: z.literal(PROTOCOL_VERSION),
  /** unique per command; receivers ignore an id they have already handled */
  id: uuid,
  /** controller-wide increasing number; receivers ignore a command older than one already applied */
  seq: z.number().int().nonnegative(),
  issuedAt: isoTime,
  /** a receiver that gets the command after this instant reports `expired` and does nothing */
  expiresAt: isoTime,
};

/** Play a bulletin: fetch (or reuse a cached copy), then play `repeat` times with `gapMs` between. */
export const playCommandSchema = z.object({
  ...commandBase,
  type: z.literal('play'),
  bulletinId: uuid,
  priority: prioritySchema,
  audio: audioRefSchema,
  repeat: z.number().int().min(1).max(20),
  gapMs: z.number().int().min(0).max(600_000),
  /** 0–100; absent keeps the receiver's own volume */
  volume: z.number().int().min(0).max(100).optional(),
});

/**
 * Stop and drop queued or playing items. With `bulletinId`, only that bulletin's items;
 * without it, everything (the all-stop). Each item stopped is reported `cancelled`.
 */
export const stopCommandSchema = z.object({
  ...commandBase,
  type: z.literal('stop'),
  bulletinId: uuid.optional(),
});

export const commandSchema = z.discriminatedUnion('type', [playCommandSchema, stopCommandSchema]);
export type PlayCommand = z.infer<typeof playCommandSchema>;
export type StopCommand = z.infer<typeof stopCommandSchema>;
export type Command = z.infer<typeof commandSchema>;

/** Key ids name the controller's signing keys (`kid` of an envelope). */
export const kidSchema = z.string().min(1).max(64);

/** A controller public key a receiver trusts: Ed25519, SPKI PEM. */
export const trustedKeySchema = z.object({
  kid: kidSchema,
  publicKeyPem: z.string().min(1).max(1000),
});
export type TrustedKey = z.infer<typeof trustedKeySchema>;

/**
 * Clock-skew tolerance of receivers, for `issuedAt` only: a command issued more than this far in
 * the future by the receiver's clock is refused (`not_yet_valid`). `expiresAt` is checked without
 * tolerance (the controller expires the delivery at that instant by its own clock). Replay memory
 * keeps a command id until `expiresAt` plus this tolerance.
 */
export const CLOCK_SKEW_TOLERANCE_MS = 5 * 60 * 1000;

/** Retained desired configuration for one receiver. Absent or `adopted: false`: do nothing. */
export const receiverConfigSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  seq: z.number().int().nonnegative(),
  issuedAt: isoTime,
  adopted: z.boolean(),
  /** zones whose command topics the receiver must subscribe to */
  zones: z.array(zoneIdSchema).max(16),
  /** default output volume 0–100 */
  volume: z.number().int().min(0).max(100).optional(),
  /**
   * The controller keys the receiver must trust from now on (replacing its set), listed by a
   * config verified with a key it already trusts: how a key rotation reaches every receiver.
   * Absent: keep the current set.
   */
  keys: z.array(trustedKeySchema).min(1).max(8).optional(),
});
export type ReceiverConfig = z.infer<typeof receiverConfigSchema>;

/**
 * A signed envelope: `body` is the JSON text of a command or config, `sig` the base64 Ed25519
 * signature by the controller's key `kid` of the UTF-8 bytes `loalang-sig-v1\n<topic>\n<body>`,
 * where `<topic>` is the MQTT topic the message is published on (see `signedMessage` in
 * signing.ts). The bytes signed are the bytes sent, so receivers need no JSON canonicalisation,
 * and a message replayed onto another topic no longer verifies.
 */
export const envelopeSchema = z.object({
  // room for the signature and key id within MAX_SCHEDULE_BYTES (the payload's own limit, checked
  // first, is MAX_PAYLOAD_BYTES for everything but a schedule)
  body: z
    .string()
    .min(2)
    .max(MAX_SCHEDULE_BYTES - 512),
  sig: z.string().min(1).max(200),
  /** key id, so a controller can rotate keys */
  kid: kidSchema,
  /**
   * The topic the envelope was sealed for. A hint for diagnostics only (`wrong_topic`): receivers
   * always verify against the topic the message arrived on, never against this field.
   */
  topic: z.string().min(1).max(512).optional(),
});
export type Envelope = z.infer<typeof envelopeSchema>;

/** What a receiver is playing now. */
export const nowPlayingSchema = z.object({
  commandId: uuid,
  bulletinId: uuid.optional(),
  priority: prioritySchema,
  /** 1-based play within the repeat count */
  play: z.number().int().min(1).max(20),
  startedAt: isoTime,
});

/**
 * Largest believable `session`: the controller's Unix time in seconds plus this. A receiver may use
 * its boot time in seconds plus one per reconnection (docs/protocol.md §5); a session beyond the
 * bound cannot be genuine and would make every later genuine status look stale, so it is refused.
 */
export const MAX_SESSION_AHEAD_S = 1_000_000;

/**
 * Codec names receivers advertise in their status (docs/protocol.md §5): `mp3` (MPEG audio Layer
 * III), `opus` (Opus in Ogg, RFC 7845), `vorbis` (Vorbis in Ogg), `aac` (AAC in MP4/M4A), `pcm` (WAV),
 * `webm` (Opus in WebM). Other well-formed names are accepted and ignored, for later formats.
 */
export const KNOWN_CODECS = ['mp3', 'opus', 'vorbis', 'aac', 'pcm', 'webm'] as const;
export const codecNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._+-]{0,31}$/, 'a lower-case codec name such as "mp3" or "opus"');

/** Retained receiver status. `session` grows by one at each boot or (re)connection. */
export const statusSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  state: z.enum(['online', 'offline']),
  session: z.number().int().nonnegative(),
  /** receiver's own clock at publication; the controller derives clock skew from it */
  ts: isoTime,
  firmware: z.string().max(64).optional(),
  volume: z.number().int().min(0).max(100).optional(),
  nowPlaying: nowPlayingSchema.nullable().optional(),
  signal: z
    .object({
      /** link type */
      link: z.enum(['4g', 'ethernet', 'wifi', 'other']),
      /** received signal strength, dBm (4G RSRP or Wi-Fi RSSI) */
      rssi: z.number().int().min(-150).max(0).optional(),
    })
    .optional(),
  /** sha256 of the audio files held in the receiver's cache, at most 200 */
  cached: z.array(sha256Hex).max(200).optional(),
  /** ids of the controller keys the receiver trusts now (shows the progress of a key rotation) */
  keys: z.array(kidSchema).max(8).optional(),
  /**
   * the codecs it can play (KNOWN_CODECS), so the controller sends each receiver the smallest file it
   * plays; absent (or empty): MP3 is assumed
   */
  codecs: z.array(codecNameSchema).max(16).optional(),
});
export type Status = z.infer<typeof statusSchema>;

/** Progress states a receiver reports for a command, in the order they normally happen. */
export const EVENT_STATES = [
  'received',
  'downloading',
  'ready',
  'started',
  'finished',
  'preempted',
  'expired',
  'failed',
  'rejected',
  'cancelled',
] as const;
export const eventStateSchema = z.enum(EVENT_STATES);
export type EventState = z.infer<typeof eventStateSchema>;

/** Machine-readable reasons for `failed`, `rejected` and `expired`. */
export const FAILURE_REASONS = [
  'download_failed',
  'checksum_mismatch',
  'size_mismatch',
  'unsupported_format',
  'storage_full',
  'playback_error',
  // `rejected` before anything is done, see docs/protocol.md §7.1:
  /** not a signed envelope (a plain JSON command) */
  'unsigned',
  /** the envelope names a key the receiver does not trust */
  'unknown_key',
  /** the signature does not verify (forged, tampered with) */
  'bad_signature',
  /** genuinely signed, but for another topic (replayed from a zone or another receiver) */
  'wrong_topic',
  /** a command id already handled (a replay, or a resend of a command the receiver holds) */
  'replayed',
  /** `issuedAt` later than the receiver's clock plus the skew tolerance */
  'not_yet_valid',
  'busy',
  'expired',
  /** a normal or priority play arriving inside the quiet hours of the receiver's schedule (§13.10) */
  'quiet_hours',
  'other',
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

export const eventSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  commandId: uuid,
  bulletinId: uuid.optional(),
  state: eventStateSchema,
  session: z.number().int().nonnegative(),
  ts: isoTime,
  reason: z.enum(FAILURE_REASONS).optional(),
  /** free text for people, e.g. the HTTP status of a failed download */
  detail: z.string().max(500).optional(),
  /** with `started`/`finished`: which play of the repeat count */
  play: z.number().int().min(1).max(20).optional(),
  /** with `preempted`: the command (or airing) that took over; with `cancelled`: the stop command */
  by: uuid.optional(),
  /**
   * with `preempted`: true when the receiver holds the bulletin to play again, from the start of
   * the interrupted play, once the loudspeaker frees (docs/protocol.md §7.3); absent or false: it
   * is over there (a receiver built to an earlier version never resumes)
   */
  resumes: z.boolean().optional(),
  /** with `started`: this play begins again after an interruption (the first play after a resume) */
  resumed: z.boolean().optional(),
  /** with `preempted`: how far into play `play` the sound had got, ms of audio */
  offsetMs: z.number().int().nonnegative().optional(),
  /** with `downloading`: bytes so far */
  bytes: z.number().int().nonnegative().optional(),
  /** with `finished`: sha256 of the bytes actually played */
  sha256: sha256Hex.optional(),
});
export type ReceiverEvent = z.infer<typeof eventSchema>;

/**
 * Parses an MQTT payload as JSON and checks it against `schema`. Never throws: receivers and the
 * controller treat every payload as untrusted.
 */
export function decodePayload<T>(
  schema: z.ZodType<T>,
  payload: Buffer | Uint8Array | string,
): { ok: true; value: T } | { ok: false; error: string } {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  if (size > MAX_PAYLOAD_BYTES)
    return { ok: false, error: `payload of ${size} bytes exceeds ${MAX_PAYLOAD_BYTES}` };
  let json: unknown;
  try {
    const text =
      typeof payload === 'string'
        ? payload
        : Buffer.isBuffer(payload)
          ? payload.toString('utf8')
          : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
    json = JSON.parse(text);
  } catch {
    return { ok: false, error: 'payload is not JSON' };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { ok: false, error: z.prettifyError(parsed.error) };
  return { ok: true, value: parsed.data };
}
