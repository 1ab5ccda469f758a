/**
 * Signed envelopes for commands and configs (see `envelopeSchema`). Ed25519 from node:crypto:
 * small keys and signatures, fast, and available on every receiver-class chip's TLS library.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import type { z } from 'zod';
import { decodePayload, type Envelope, envelopeSchema } from './mqtt.js';

export interface SigningKey {
  /** key id carried in each envelope */
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** Makes a fresh Ed25519 key pair; `kid` names it. */
export function generateSigningKey(kid: string): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { kid, privateKey, publicKey };
}

/** The public key as PEM (SPKI), the form receivers are provisioned with. */
export function publicKeyPem(key: SigningKey): string {
  return key.publicKey.export({ type: 'spki', format: 'pem' }).toString();
}

export function publicKeyFromPem(pem: string): KeyObject {
  return createPublicKey(pem);
}

/** Wraps a payload object in a signed envelope and returns the MQTT payload text. */
export function seal(key: SigningKey, body: unknown): string {
  const text = JSON.stringify(body);
  const sig = sign(null, Buffer.from(text, 'utf8'), key.privateKey).toString('base64');
  const envelope: Envelope = { body: text, sig, kid: key.kid };
  return JSON.stringify(envelope);
}

/**
 * Verifies an envelope against the trusted public keys (by kid) and decodes its body with `schema`.
 * Never throws.
 */
export function open<T>(
  trusted: ReadonlyMap<string, KeyObject>,
  schema: z.ZodType<T>,
  payload: Buffer | Uint8Array | string,
): { ok: true; value: T } | { ok: false; error: string; badSignature?: boolean } {
  const env = decodePayload(envelopeSchema, payload);
  if (!env.ok) return env;
  const publicKey = trusted.get(env.value.kid);
  if (!publicKey) return { ok: false, error: `unknown key id ${env.value.kid}`, badSignature: true };
  let good = false;
  try {
    good = verify(null, Buffer.from(env.value.body, 'utf8'), publicKey, Buffer.from(env.value.sig, 'base64'));
  } catch {
    good = false;
  }
  if (!good) return { ok: false, error: 'signature does not verify', badSignature: true };
  return decodePayload(schema, env.value.body);
}
