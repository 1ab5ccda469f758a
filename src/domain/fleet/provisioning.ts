/**
 * Builds the provisioning bundle (src/contract/provisioning.ts) for credentials just issued: the
 * broker URL and credentials, the topic root, the command-signing key to pin, and how to fetch
 * audio. Built at issue time only; the password is never stored, so it can never be shown again.
 */
import {
  AUDIO_AUTH_NOTE,
  PROVISIONING_VERSION,
  type ProvisioningBundle,
} from '../../contract/provisioning.js';
import type { IssuedCredentials } from './credentials.js';

/** Where receivers reach the controller, and what they must trust. */
export interface ProvisioningContext {
  /** the broker URL receivers connect to (PUBLIC_MQTT_URL, else MQTT_URL, else the embedded broker) */
  mqttUrl: string;
  topicRoot: string;
  /** base URL of the HTTP API as receivers reach it (PUBLIC_URL, else the listening address) */
  httpUrl(): string;
  /** the key that signs commands now, and every key receivers must trust (that one included) */
  signingKeys(): {
    current: { kid: string; publicKeyPem: string };
    trusted: { kid: string; publicKeyPem: string }[];
  };
}

export function provisioningBundle(ctx: ProvisioningContext, issued: IssuedCredentials): ProvisioningBundle {
  const keys = ctx.signingKeys();
  const key = keys.current;
  return {
    v: PROVISIONING_VERSION,
    receiverId: issued.receiverId,
    issuedAt: new Date().toISOString(),
    mqtt: {
      url: ctx.mqttUrl,
      clientId: issued.username,
      username: issued.username,
      password: issued.password,
      topicRoot: ctx.topicRoot,
    },
    signingKey: { kid: key.kid, algorithm: 'Ed25519', publicKeyPem: key.publicKeyPem },
    trustedKeys: keys.trusted.map(({ kid, publicKeyPem }) => ({ kid, publicKeyPem })),
    signingKeyUrl: `${ctx.httpUrl().replace(/\/+$/, '')}/api/system/signing-key`,
    audio: { auth: 'basic', note: AUDIO_AUTH_NOTE },
  };
}
