/** zod schemas of the HTTP API's resources, shared by routes and the OpenAPI document. */
import { z } from 'zod';
import { roleSchema } from '../auth/roles.js';
import { deviceIdSchema, prioritySchema, zoneIdSchema } from '../contract/mqtt.js';
import type { Officer } from '../contract/officer.js';
import { provisioningBundleSchema } from '../contract/provisioning.js';
import { DELIVERY_STATES } from '../domain/bulletins/states.js';

export const zoneSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    createdAt: z.string(),
    receiverCount: z.number().int(),
    onlineCount: z.number().int(),
  })
  .meta({ id: 'Zone' });

export const receiverSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    zoneId: z.string().nullable(),
    adoption: z.enum(['pending', 'adopted']),
    createdAt: z.string(),
    adoptedAt: z.string().nullable(),
    online: z.boolean(),
    session: z.number().int().nullable(),
    lastSeen: z.string().nullable(),
    firmware: z.string().nullable(),
    volume: z.number().int().nullable(),
    signal: z.object({ link: z.string(), rssi: z.number().int().nullable() }).nullable(),
    nowPlaying: z
      .object({
        commandId: z.string(),
        bulletinId: z.string().optional(),
        priority: prioritySchema,
        play: z.number().int(),
        startedAt: z.string(),
      })
      .nullable(),
    clockSkewMs: z
      .number()
      .int()
      .nullable()
      .describe('receiver clock minus controller clock at its last status'),
    codecs: z
      .array(z.string())
      .nullable()
      .optional()
      .describe('codecs its last status said it plays (status "codecs"); null: none said, MP3 is assumed'),
    hasCredentials: z.boolean().describe('whether it holds live MQTT credentials (never shown again)'),
    credentialsIssuedAt: z.string().nullable(),
    position: z
      .object({ lat: z.number(), lon: z.number() })
      .nullable()
      .describe('where it stands (WGS 84 degrees), for CAP alert areas; null: not given'),
  })
  .meta({ id: 'Receiver' });

/** A receiver with the provisioning bundle an operation just issued: shown this once. */
export const provisionedReceiverSchema = receiverSchema
  .extend({
    provisioning: provisioningBundleSchema.describe(
      'credentials and settings for the device; the password is shown this once',
    ),
  })
  .meta({ id: 'ProvisionedReceiver' });

/** PATCH's answer: the provisioning bundle is there only when the patch adopted the receiver. */
export const patchedReceiverSchema = receiverSchema.extend({
  provisioning: provisioningBundleSchema.optional().describe('present when this PATCH adopted the receiver'),
});

export const receiverAdoptSchema = z.object({
  zoneId: zoneIdSchema,
  name: z.string().trim().min(1).max(100).optional(),
});

export const idParams = z.object({ id: z.string().min(1).max(64) });

/** Where a receiver stands, in WGS 84 degrees (what a phone's GPS shows). */
export const positionSchema = z
  .object({
    lat: z.number().min(-90).max(90).describe('latitude, degrees north'),
    lon: z.number().min(-180).max(180).describe('longitude, degrees east'),
  })
  .meta({ id: 'Position' });

export const zoneCreateSchema = z.object({
  id: zoneIdSchema.optional().describe('short id used in topics; default: made from the name'),
  name: z.string().trim().min(1).max(100),
});

export const receiverCreateSchema = z.object({
  id: deviceIdSchema.describe('the receiver id (its MQTT client id)'),
  name: z.string().trim().min(1).max(100).optional(),
  zoneId: zoneIdSchema,
  position: positionSchema.optional().describe('where it stands, for CAP alert areas (polygon, circle)'),
});

export const receiverPatchSchema = z
  .object({
    name: z.string().trim().min(1).max(100).optional(),
    zoneId: zoneIdSchema.optional().describe('adopts a pending receiver, or moves an adopted one'),
    volume: z.number().int().min(0).max(100).optional(),
    position: positionSchema.nullable().optional().describe('where it stands; null forgets it'),
  })
  .refine((v) => Object.keys(v).length > 0, 'give at least one of name, zoneId, volume, position');

export const targetSchema = z
  .object({
    all: z.boolean().optional().describe('every adopted receiver'),
    zones: z.array(zoneIdSchema).max(500).optional(),
    receivers: z.array(deviceIdSchema).max(10000).optional(),
  })
  .meta({ id: 'Target' });

/** The second step of an emergency to every village: the sender's PIN, or a confirmation token. */
export const confirmSchema = z
  .object({
    pin: z.string().min(1).max(200).optional(),
    token: z.string().min(1).max(100).optional().describe('from POST /api/auth/confirm'),
  })
  .refine((c) => Boolean(c.pin) !== Boolean(c.token), 'give pin or token, one of them');

export const bulletinCreateSchema = z
  .object({
    title: z.string().trim().min(1).max(200).optional(),
    audioId: z.string().min(1).max(64),
    target: targetSchema,
    priority: prioritySchema
      .default('normal')
      .describe('Circular 39: normal, priority, emergency (plays at once)'),
    repeat: z.number().int().min(1).max(20).default(1),
    gapSeconds: z.number().min(0).max(600).default(5).describe('silence between repeats'),
    volume: z.number().int().min(0).max(100).optional(),
    expiresInSeconds: z
      .number()
      .int()
      .min(2)
      .max(7 * 86400)
      .optional(),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
    confirm: confirmSchema
      .optional()
      .describe(
        'an emergency to every village: your PIN (or password if you set no PIN), or a confirmation token',
      ),
  })
  .refine((v) => !(v.expiresAt && v.expiresInSeconds), 'give expiresAt or expiresInSeconds, not both');

const deliveryStateSchema = z.enum(DELIVERY_STATES);

export const deliverySchema = z
  .object({
    receiverId: z.string(),
    receiverName: z.string().nullable(),
    zoneId: z.string().nullable(),
    state: deliveryStateSchema,
    reason: z.string().nullable(),
    detail: z.string().nullable(),
    play: z.number().int().nullable(),
    attempts: z.number().int(),
    sentAt: z.string().nullable(),
    updatedAt: z.string(),
    reoffers: z.number().int().optional().describe('times a failed download was offered again'),
    concluded: z
      .boolean()
      .optional()
      .describe(
        'true: the controller concluded this final state (the clock, a deadline, the receiver confirming a stop) rather than the receiver reporting it',
      ),
  })
  .meta({ id: 'Delivery' });

export const bulletinSchema = z
  .object({
    id: z.string(),
    title: z.string(),
    audioId: z.string(),
    priority: prioritySchema,
    repeat: z.number().int(),
    gapSeconds: z.number(),
    volume: z.number().int().nullable(),
    target: targetSchema,
    status: z.enum(['active', 'cancelled', 'completed']),
    createdAt: z.string(),
    expiresAt: z.string(),
    createdBy: z.string().nullable(),
    approvedBy: z.string().nullable().describe('the second officer who approved it, if it needed one'),
    summary: z.object({
      total: z.number().int(),
      byState: z.record(deliveryStateSchema, z.number().int()),
      finished: z.number().int(),
      played: z.number().int(),
    }),
    deliveries: z.array(deliverySchema).optional(),
  })
  .meta({ id: 'Bulletin' });

/** A password an officer chooses: long enough to resist guessing, short enough to type on a phone. */
export const passwordSchema = z.string().min(10, 'at least 10 characters').max(200);
export const usernameSchema = z
  .string()
  .trim()
  .min(2)
  .max(64)
  .regex(/^[\p{L}\p{N}._@-]+$/u, 'letters, digits, ".", "_", "@" or "-"');

export const userSchema = z
  .object({
    id: z.string(),
    username: z.string(),
    displayName: z.string().nullable(),
    roles: z.array(roleSchema),
    zones: z.array(z.string()).nullable().describe('zones this officer may address; null: every zone'),
    disabled: z.boolean(),
    lockedUntil: z.string().nullable(),
    hasPin: z.boolean().describe('whether a confirmation PIN is set'),
    createdAt: z.string(),
  })
  .meta({ id: 'User' }) satisfies z.ZodType<Officer>;

export const apiTokenSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    userId: z.string(),
    username: z.string(),
    createdAt: z.string(),
    expiresAt: z.string().nullable(),
    lastUsedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
  })
  .meta({ id: 'ApiToken' });

export const approvalSchema = z
  .object({
    id: z.string(),
    kind: z
      .enum(['bulletin', 'program'])
      .describe("bulletin: play now once approved; program: a program's new version"),
    reason: z
      .enum(['editor', 'emergency_all', 'cap_alert'])
      .describe(
        "editor: an editor's content; emergency_all: an emergency to every village; cap_alert: a CAP alert waiting for an officer",
      ),
    request: z
      .looseObject({
        title: z.string().optional(),
        target: targetSchema,
        priority: prioritySchema,
        audioId: z.string().optional().describe('bulletin'),
        repeat: z.number().int().optional().describe('bulletin'),
        gapSeconds: z.number().optional().describe('bulletin'),
        volume: z.number().int().optional(),
        expiresInSeconds: z.number().int().optional().describe('bulletin'),
        expiresAt: z.string().optional().describe('bulletin'),
        programId: z.string().optional().describe('program: its id; the rest is the program as saved'),
      })
      .describe('what was asked: a bulletin, or a program (with programId)'),
    title: z.string(),
    priority: prioritySchema,
    status: z.enum(['pending', 'approved', 'rejected', 'withdrawn', 'expired']),
    createdBy: z.string().describe("the requester's officer id"),
    createdByName: z
      .string()
      .nullable()
      .describe("the requester's full name, else username (null: the account is gone)"),
    createdAt: z.string(),
    expiresAt: z.string().describe('a pending request expires unapproved at this instant'),
    decidedBy: z.string().nullable(),
    decidedByName: z.string().nullable().describe("the decider's full name, else username"),
    decidedAt: z.string().nullable(),
    note: z.string().nullable(),
    bulletinId: z.string().nullable(),
    programId: z.string().nullable(),
  })
  .meta({ id: 'Approval' });
