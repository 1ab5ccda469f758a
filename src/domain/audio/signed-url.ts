/**
 * Expiring signed URLs for audio content: what a receiver fetches without a bearer token.
 * The signature is base64url(HMAC-SHA256(secret, `${id}.${exp}`)), `exp` in Unix seconds.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The signature over one audio id and expiry (Unix seconds). */
export function audioSignature(secret: Buffer, id: string, exp: number): string {
  return createHmac('sha256', secret).update(`${id}.${exp}`).digest('base64url');
}

/**
 * True when `sig` is the signature of `id` and `exp`, and `exp` is still in the future at `now`.
 * Compares in constant time; any malformed input is simply false.
 */
export function verifyAudioSignature(
  secret: Buffer,
  id: string,
  exp: string | undefined,
  sig: string | undefined,
  now: Date = new Date(),
): boolean {
  if (!exp || !sig || !/^\d{1,12}$/.test(exp) || !/^[A-Za-z0-9_-]{1,100}$/.test(sig)) return false;
  const expS = Number(exp);
  if (expS * 1000 <= now.getTime()) return false;
  // Compare the encoded strings, not decoded bytes: base64url decoding ignores stray bits.
  const expected = Buffer.from(audioSignature(secret, id, expS), 'ascii');
  const given = Buffer.from(sig, 'ascii');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
