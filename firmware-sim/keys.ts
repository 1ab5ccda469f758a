/**
 * Provisioning a simulated receiver with the controller's public keys, in the form the
 * controller serves them at `GET /api/system/signing-key`: `{kid, algorithm, publicKeyPem, keys}`.
 * Every key of `keys` is trusted (during a key rotation there are two); a document without
 * `keys` (earlier controllers) gives the one key `kid`/`publicKeyPem`. After provisioning, the
 * trusted set follows the verified configs (docs/protocol.md §7.6).
 */
import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { trustedKeySchema } from '../src/contract/mqtt.js';
import { publicKeyFromPem } from '../src/contract/signing.js';

/** The JSON the controller serves at `/api/system/signing-key`. */
export const signingKeyInfoSchema = z.object({
  kid: z.string().min(1).max(64),
  algorithm: z.string(),
  publicKeyPem: z.string().min(1),
  /** every key to trust, the current one first */
  keys: z.array(trustedKeySchema).min(1).max(8).optional(),
});
export type SigningKeyInfo = z.infer<typeof signingKeyInfoSchema>;

/** The trusted-key map for the published keys; throws on anything but Ed25519 public keys. */
export function trustedKeysFromInfo(json: unknown): Map<string, KeyObject> {
  const info = signingKeyInfoSchema.parse(json);
  if (info.algorithm.toLowerCase() !== 'ed25519') {
    throw new Error(`unsupported signing algorithm ${info.algorithm} (expected Ed25519)`);
  }
  const keys = info.keys ?? [{ kid: info.kid, publicKeyPem: info.publicKeyPem }];
  const trusted = new Map<string, KeyObject>();
  for (const k of keys) {
    try {
      trusted.set(k.kid, publicKeyFromPem(k.publicKeyPem));
    } catch {
      throw new Error(`publicKeyPem of ${k.kid} is not an Ed25519 public key`);
    }
  }
  if (!trusted.has(info.kid)) trusted.set(info.kid, publicKeyFromPem(info.publicKeyPem));
  return trusted;
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
