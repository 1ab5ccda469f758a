/**
 * Signed envelopes for commands and configs (see `envelopeSchema`). Ed25519 from node:crypto:
 * small keys and signatures, fast, and available on every receiver-class chip's TLS library.
 *
 * The signature covers the topic as well as the body: the signed message is the UTF-8 bytes of
 *
 *     loalang-sig-v1 LF <topic> LF <body>
 *
 * (`signedMessage`), so a command sealed for zone A does not verify when replayed on receiver B's
 * topic, nor a config for receiver A on receiver B's config topic. The `loalang-sig-v1` prefix
 * separates these signatures from anything else the key might ever sign.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import type { z } from 'zod';
import { type Envelope, envelopeSchema, MAX_PAYLOAD_BYTES } from './mqtt.js';

/** Domain-separation prefix of every signed message (first line). */
export const SIGNATURE_CONTEXT = 'loalang-sig-v1';

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
export function publicKeyPem(key: Pick<SigningKey, 'publicKey'>): string {
  return key.publicKey.export({ type: 'spki', format: 'pem' }).toString();
}

/** An Ed25519 public key from SPKI PEM; throws on anything else. */
export function publicKeyFromPem(pem: string): KeyObject {
  const key = createPublicKey(pem);
  if (key.type !== 'public' || key.asymmetricKeyType !== 'ed25519') {
    throw new Error('not an Ed25519 public key');
  }
  return key;
}

/** The exact bytes signed for `body` published on `topic`: `loalang-sig-v1\n<topic>\n<body>`. */
export function signedMessage(topic: string, body: string): Buffer {
  return Buffer.from(`${SIGNATURE_CONTEXT}\n${topic}\n${body}`, 'utf8');
}

/**
 * Wraps a payload object in an envelope signed for `topic`, and returns the MQTT payload text.
 * Publish it on `topic` and nowhere else: on any other topic it does not verify.
 */
export function seal(key: SigningKey, topic: string, body: unknown): string {
  if (topic.length === 0 || topic.includes('\n'))
    throw new Error(`cannot sign for topic ${JSON.stringify(topic)}`);
  const text = JSON.stringify(body);
  const sig = sign(null, signedMessage(topic, text), key.privateKey).toString('base64');
  const envelope: Envelope = { body: text, sig, kid: key.kid, topic };
  return JSON.stringify(envelope);
}

/**
 * Why `open` refused a payload, in the order a receiver checks:
 * - `malformed`: too large, not JSON, or not a JSON object: nothing to say about it;
 * - `unsigned`: a JSON object that is not a signed envelope (e.g. a plain command);
 * - `unknown_key`: an envelope naming a key that is not trusted;
 * - `wrong_topic`: signed by a trusted key, but for another topic than the one it arrived on;
 * - `bad_signature`: the signature does not verify (forged, or body/topic tampered with);
 * - `invalid`: genuinely signed, but the body is not what `schema` expects.
 */
export type OpenFailure =
  | 'malformed'
  | 'unsigned'
  | 'unknown_key'
  | 'wrong_topic'
  | 'bad_signature'
  | 'invalid';

export type Opened<T> =
  | { ok: true; value: T; kid: string }
  | { ok: false; reason: OpenFailure; error: string };

function verifies(publicKey: KeyObject, topic: string, env: Envelope): boolean {
  try {
    return verify(null, signedMessage(topic, env.body), publicKey, Buffer.from(env.sig, 'base64'));
  } catch {
    return false;
  }
}

/**
 * Verifies a payload that arrived on `topic` against the trusted public keys (by kid) and decodes
 * its body with `schema`, in the order of docs/protocol.md §7.1: size, envelope, known key,
 * signature over topic and body, then the body. Never throws.
 */
export function open<T>(
  trusted: ReadonlyMap<string, KeyObject>,
  topic: string,
  schema: z.ZodType<T>,
  payload: Buffer | Uint8Array | string,
  /** largest payload accepted (a schedule document may be larger than a command) */
  maxBytes = MAX_PAYLOAD_BYTES,
): Opened<T> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  if (size > maxBytes)
    return { ok: false, reason: 'malformed', error: `payload of ${size} bytes exceeds ${maxBytes}` };
  let json: unknown;
  try {
    const text =
      typeof payload === 'string'
        ? payload
        : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'malformed', error: 'payload is not JSON' };
  }
  if (!json || typeof json !== 'object' || Array.isArray(json))
    return { ok: false, reason: 'malformed', error: 'payload is not a JSON object' };
  const parsed = envelopeSchema.safeParse(json);
  if (!parsed.success) return { ok: false, reason: 'unsigned', error: 'not a signed envelope' };
  const env = parsed.data;
  const publicKey = trusted.get(env.kid);
  if (!publicKey) return { ok: false, reason: 'unknown_key', error: `unknown key id ${env.kid}` };
  // The envelope's own `topic` is only a hint: acceptance is decided by the arrival topic alone.
  if (env.topic !== undefined && env.topic !== topic) {
    return verifies(publicKey, env.topic, env)
      ? { ok: false, reason: 'wrong_topic', error: `signed for ${env.topic}, arrived on ${topic}` }
      : { ok: false, reason: 'bad_signature', error: 'signature does not verify' };
  }
  if (!verifies(publicKey, topic, env))
    return { ok: false, reason: 'bad_signature', error: `signature does not verify for ${topic}` };
  let body: unknown;
  try {
    body = JSON.parse(env.body);
  } catch {
    return { ok: false, reason: 'invalid', error: 'signed body is not JSON' };
  }
  const decoded = schema.safeParse(body);
  if (!decoded.success) {
    const issues = decoded.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
    return { ok: false, reason: 'invalid', error: issues.join('; ').slice(0, 400) };
  }
  return { ok: true, value: decoded.data, kid: env.kid };
}
