/**
 * Secrets the controller makes once and keeps in the data directory (mode 0600): the Ed25519 key
 * that signs receiver commands, the HMAC key for expiring audio URLs, and the embedded broker's
 * controller password. Nothing secret is ever a default in code.
 */
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { generateSigningKey, type SigningKey } from './contract/signing.js';

const fileSchema = z.object({
  signingKid: z.string(),
  signingKeyPem: z.string(),
  urlSecret: z.string(),
  brokerSecret: z.string(),
});

export interface Secrets {
  signingKey: SigningKey;
  urlSecret: Buffer;
  brokerSecret: string;
}

export function loadOrCreateSecrets(dataDir: string): Secrets {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'secrets.json');
  if (!existsSync(file)) {
    const key = generateSigningKey(`k${Date.now().toString(36)}`);
    const content = {
      signingKid: key.kid,
      signingKeyPem: key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      urlSecret: randomBytes(32).toString('base64url'),
      brokerSecret: randomBytes(24).toString('base64url'),
    };
    writeFileSync(file, JSON.stringify(content, null, 2), { mode: 0o600 });
  }
  const parsed = fileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  const privateKey = createPrivateKey(parsed.signingKeyPem);
  return {
    signingKey: { kid: parsed.signingKid, privateKey, publicKey: createPublicKey(privateKey) },
    urlSecret: Buffer.from(parsed.urlSecret, 'base64url'),
    brokerSecret: parsed.brokerSecret,
  };
}
