/**
 * Secrets the controller makes once and keeps in the data directory (mode 0600): the Ed25519 keys
 * that sign receiver commands (a key set, see `signing-keys.ts`), the HMAC key for expiring audio
 * URLs, and the embedded broker's controller password. Nothing secret is ever a default in code.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import {
  generateStoredKey,
  type StoredSigningKey,
  storedKeyFromPrivatePem,
  storedKeySchema,
} from './signing-keys.js';

const fileSchema = z
  .object({
    signingKeys: z.array(storedKeySchema).min(1).optional(),
    /** the single signing key of earlier versions, migrated to `signingKeys` at load */
    signingKid: z.string().optional(),
    signingKeyPem: z.string().optional(),
    urlSecret: z.string(),
    brokerSecret: z.string(),
  })
  .loose();

export interface Secrets {
  /** the signing key set as stored (see createSigningKeys) */
  signingKeys: StoredSigningKey[];
  /** saves a changed signing key set (atomically, mode 0600) */
  saveSigningKeys(keys: StoredSigningKey[]): void;
  urlSecret: Buffer;
  brokerSecret: string;
}

/** Writes the file whole through a temporary file, so a crash never leaves half a key set. */
function writeSecrets(file: string, content: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(content, null, 2), { mode: 0o600 });
  renameSync(tmp, file);
}

export function loadOrCreateSecrets(dataDir: string): Secrets {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, 'secrets.json');
  if (!existsSync(file)) {
    const content = {
      signingKeys: [generateStoredKey('current')],
      urlSecret: randomBytes(32).toString('base64url'),
      brokerSecret: randomBytes(24).toString('base64url'),
    };
    writeFileSync(file, JSON.stringify(content, null, 2), { mode: 0o600 });
  }
  const read = () => fileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  let parsed = read();
  if (!parsed.signingKeys) {
    // An earlier version's file: one key, which becomes the current key of a set.
    if (!parsed.signingKid || !parsed.signingKeyPem) throw new Error(`${file}: no signing key`);
    const createdAt = statSync(file).mtime.toISOString();
    const { signingKid, signingKeyPem, ...rest } = parsed;
    writeSecrets(file, {
      ...rest,
      signingKeys: [storedKeyFromPrivatePem(signingKid, signingKeyPem, 'current', createdAt)],
    });
    parsed = read();
  }
  return {
    signingKeys: parsed.signingKeys ?? [],
    saveSigningKeys(keys) {
      // Read again: only the key set changes; every other secret stays as it is on disk.
      writeSecrets(file, { ...read(), signingKeys: keys });
    },
    urlSecret: Buffer.from(parsed.urlSecret, 'base64url'),
    brokerSecret: parsed.brokerSecret,
  };
}
