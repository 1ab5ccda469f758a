/**
 * The provisioning bundle: everything a receiver needs to join the fleet, handed out once when an
 * officer registers or adopts it (or re-issues its credentials). The password in it is never shown
 * again: the controller keeps only its hash. See docs/protocol.md, "Provisioning and device
 * credentials".
 */
import { z } from 'zod';
import { deviceIdSchema } from './mqtt.js';

export const PROVISIONING_VERSION = 1;

export const provisioningBundleSchema = z
  .object({
    v: z.literal(PROVISIONING_VERSION),
    receiverId: deviceIdSchema,
    issuedAt: z.string().describe('when these credentials were issued (ISO 8601)'),
    mqtt: z.object({
      url: z.string().describe('the broker URL the receiver connects to (mqtt://, mqtts://, ws://, wss://)'),
      clientId: deviceIdSchema.describe('MQTT client id: always the receiver id'),
      username: deviceIdSchema.describe('MQTT username: always the receiver id'),
      password: z.string().min(1).describe('MQTT password, also for HTTP Basic on audio downloads'),
      topicRoot: z.string().min(1),
    }),
    signingKey: z
      .object({
        kid: z.string().min(1),
        algorithm: z.literal('Ed25519'),
        publicKeyPem: z.string().min(1),
      })
      .describe('the controller key that signs commands now'),
    trustedKeys: z
      .array(z.object({ kid: z.string().min(1), publicKeyPem: z.string().min(1) }))
      .min(1)
      .max(8)
      .describe(
        'every controller key to trust (pin) now, the one above included: during a key rotation ' +
          'configs may still be signed by the previous key',
      ),
    signingKeyUrl: z.string().describe('GET: the current signing key, as above'),
    audio: z.object({
      auth: z.literal('basic'),
      note: z.string(),
    }),
  })
  .meta({ id: 'ProvisioningBundle' });
export type ProvisioningBundle = z.infer<typeof provisioningBundleSchema>;

export const AUDIO_AUTH_NOTE =
  'Fetch the audio URL of a play command with HTTP Basic authentication: username and password ' +
  'are the MQTT ones above. The URL alone is refused (401).';
