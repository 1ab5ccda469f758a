/**
 * Provisioning simulated receivers the way an installer provisions a real one: with the bundle the
 * controller hands out once when an officer registers or adopts the receiver (docs/protocol.md,
 * "Provisioning and device credentials"). Two ways to get bundles:
 * - read them from a JSON file (one bundle, an array, or `{"bundles": [...]}`), e.g. saved from the
 *   answers of `POST /api/receivers`;
 * - register the receivers through the API with an officer's token (`registerReceivers`): new ids
 *   are registered into a zone, ids already registered get their credentials re-issued.
 */
import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { type ProvisioningBundle, provisioningBundleSchema } from '../src/contract/provisioning.js';
import { publicKeyFromPem } from '../src/contract/signing.js';
import type { SimReceiverOptions } from './types.js';
import { mapLimit } from './util.js';

export type { ProvisioningBundle } from '../src/contract/provisioning.js';

const fileSchema = z.union([
  provisioningBundleSchema.transform((b) => [b]),
  z.array(provisioningBundleSchema).min(1),
  z.object({ bundles: z.array(provisioningBundleSchema).min(1) }).transform((f) => f.bundles),
]);

/** The bundles in a JSON text: one bundle, an array of bundles, or `{"bundles": [...]}`. */
export function parseProvisioning(json: unknown): ProvisioningBundle[] {
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(`not a provisioning bundle (or a list of them): ${parsed.error.issues[0]?.message}`);
  }
  return parsed.data;
}

/** Reads bundles from a file (see parseProvisioning). */
export async function readProvisioning(path: string): Promise<ProvisioningBundle[]> {
  return parseProvisioning(JSON.parse(await readFile(path, 'utf8')));
}

/** The controller keys a bundle says to trust, by kid. */
export function trustedKeysFromBundle(bundle: ProvisioningBundle): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  for (const k of [bundle.signingKey, ...bundle.trustedKeys]) {
    const key = publicKeyFromPem(k.publicKeyPem);
    if (key.type !== 'public' || key.asymmetricKeyType !== 'ed25519') {
      throw new Error(`key ${k.kid} of the bundle is not an Ed25519 public key`);
    }
    keys.set(k.kid, key);
  }
  return keys;
}

/** The receiver options a bundle sets: id, broker, credentials, topic root and trusted keys. */
export function optionsFromBundle(
  bundle: ProvisioningBundle,
): Pick<SimReceiverOptions, 'id' | 'brokerUrl' | 'username' | 'password' | 'topicRoot' | 'trustedKeys'> {
  return {
    id: bundle.receiverId,
    brokerUrl: bundle.mqtt.url,
    username: bundle.mqtt.username,
    password: bundle.mqtt.password,
    topicRoot: bundle.mqtt.topicRoot,
    trustedKeys: trustedKeysFromBundle(bundle),
  };
}

/**
 * Registers `ids` into `zoneId` through the controller's API with an officer's bearer token and
 * returns their bundles. An id already registered gets its credentials re-issued (its old password
 * stops working); a pending one is adopted.
 */
export async function registerReceivers(opts: {
  /** the controller's base URL, e.g. http://127.0.0.1:8080 */
  apiUrl: string;
  token: string;
  ids: readonly string[];
  zoneId: string;
  concurrency?: number;
  timeoutMs?: number;
}): Promise<ProvisioningBundle[]> {
  const base = opts.apiUrl.replace(/\/+$/, '');
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(base + path, {
      method,
      headers: {
        authorization: `Bearer ${opts.token}`,
        accept: 'application/json',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: reported below with the status
    }
    return { status: res.status, json, text };
  };
  const bundles = new Map<string, ProvisioningBundle>();
  const results = await mapLimit([...opts.ids], opts.concurrency ?? 8, async (id) => {
    let res = await call('POST', '/api/receivers', { id, zoneId: opts.zoneId });
    if (res.status === 409 && (res.json as { error?: string } | null)?.error === 'receiver_exists') {
      res = await call('POST', `/api/receivers/${encodeURIComponent(id)}/credentials`);
    }
    if (res.status !== 200 && res.status !== 201) {
      throw new Error(`registering ${id}: HTTP ${res.status} ${res.text.slice(0, 300)}`);
    }
    const bundle = provisioningBundleSchema.parse((res.json as { provisioning?: unknown }).provisioning);
    bundles.set(id, bundle);
  });
  const failed = results.find((r) => r.status === 'rejected');
  if (failed && failed.status === 'rejected') throw failed.reason;
  return opts.ids.map((id) => bundles.get(id)!);
}
