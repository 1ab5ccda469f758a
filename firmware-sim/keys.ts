/**
 * Provisioning a simulated receiver with the controller's public key, in the form the
 * controller serves it at `GET /api/system/signing-key`: `{kid, algorithm, publicKeyPem}`.
 */
import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { publicKeyFromPem } from '../src/contract/signing.js';

/** The JSON the controller serves at `/api/system/signing-key`. */
export const signingKeyInfoSchema = z.object({
  kid: z.string().min(1).max(64),
  algorithm: z.string(),
  publicKeyPem: z.string().min(1),
});
export type SigningKeyInfo = z.infer<typeof signingKeyInfoSchema>;

/** The trusted-key map for one published key; throws on anything but an Ed25519 public key. */
export function trustedKeysFromInfo(json: unknown): Map<string, KeyObject> {
  const info = signingKeyInfoSchema.parse(json);
  if (info.algorithm.toLowerCase() !== 'ed25519') {
    throw new Error(`unsupported signing algorithm ${info.algorithm} (expected Ed25519)`);
  }
  const key = publicKeyFromPem(info.publicKeyPem);
  if (key.type !== 'public' || key.asymmetricKeyType !== 'ed25519') {
    throw new Error('publicKeyPem is not an Ed25519 public key');
  }
  return new Map([[info.kid, key]]);
}

/** Fetches the controller's signing key from `url` (bounded by `timeoutMs`). */
export async function fetchTrustedKeys(url: string, timeoutMs = 10_000): Promise<Map<string, KeyObject>> {
  const res = await fetch(url, {
    signal: AbortSignal.timeout(timeoutMs),
    headers: { accept: 'application/json' },
  });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return trustedKeysFromInfo(await res.json());
}

/** Reads the same JSON from a file. */
export async function readTrustedKeys(path: string): Promise<Map<string, KeyObject>> {
  return trustedKeysFromInfo(JSON.parse(await readFile(path, 'utf8')));
}
