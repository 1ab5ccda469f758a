/**
 * A small real HTTP app for the audio tests: SQLite in a temp dir, the real auth service and
 * audio library, @fastify/multipart with a small file limit, the auth hook and the audio routes,
 * listening on a loopback port. The full app (src/app.ts) is covered elsewhere.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { pino } from 'pino';
import { createAuthService } from '../../src/auth/service.js';
import { type AudioLibrary, createAudioLibrary } from '../../src/domain/audio/library.js';
import { createDeviceCredentials } from '../../src/domain/fleet/credentials.js';
import type { Fleet } from '../../src/domain/fleet/fleet.js';
import { createFleetRepo } from '../../src/domain/fleet/repo.js';
import { createAudit } from '../../src/http/audit.js';
import { installAuth } from '../../src/http/auth-hook.js';
import { installErrorHandler } from '../../src/http/errors.js';
import audioRoutes from '../../src/http/routes/audio.js';
import type { Services } from '../../src/http/types.js';
import { type Db, openDatabase } from '../../src/storage/db.js';

/** Where the fixtures are. */
export const AUDIO_FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'audio');

/** The library's publicUrl in tests; signed URLs are fetched by their path against `baseUrl`. */
export const PUBLIC_URL = 'http://controller.example:8080/';

export interface AudioTestApp {
  app: FastifyInstance;
  /** e.g. http://127.0.0.1:41234 */
  baseUrl: string;
  db: Db;
  dataDir: string;
  lib: AudioLibrary;
  /** a valid bearer token of user `userId` */
  token: string;
  userId: string;
  /** an adopted receiver's credentials, for signed URLs (HTTP Basic) */
  device: { username: string; password: string };
  /** `Authorization` header value with `device`'s credentials */
  deviceAuth: string;
  close(): Promise<void>;
}

/** Starts the app; `uploadMaxBytes` is the multipart file limit (default 32 KiB). */
export async function startAudioApp(opts: { uploadMaxBytes?: number } = {}): Promise<AudioTestApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'loalang-audio-'));
  const log = pino({ level: 'silent' });
  const db = openDatabase(join(dataDir, 'loalang.db'));
  const auth = createAuthService({ db, log, tokenTtlS: 3600 });
  const user = await auth.users.create({
    username: 'tester',
    password: 'correct horse battery',
    roles: ['editor', 'operator'],
  });
  const { token } = await auth.login('tester', 'correct horse battery');
  const app = Fastify({ logger: false }).withTypeProvider<ZodTypeProvider>();
  const lib = createAudioLibrary({ db, dataDir, urlSecret: randomBytes(32), publicUrl: PUBLIC_URL, log });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandler(app);
  await app.register(multipart, {
    limits: { fileSize: opts.uploadMaxBytes ?? 32 * 1024, files: 1, fields: 10, fieldSize: 1024 },
  });
  // One adopted receiver with credentials: signed URLs are served to it (HTTP Basic) only.
  const repo = createFleetRepo(db);
  const credentials = createDeviceCredentials(db);
  repo.insertZone('thon-1', 'Thôn 1', new Date().toISOString());
  const at = new Date().toISOString();
  repo.insertReceiver({
    id: 'rx-audio',
    name: 'rx-audio',
    zoneId: 'thon-1',
    adoption: 'adopted',
    createdAt: at,
    adoptedAt: at,
  });
  const device = credentials.issue('rx-audio');
  const fleet: Pick<Fleet, 'verifyDevice' | 'brokerRights'> = {
    verifyDevice: (username, password) => credentials.verify(username, password),
    brokerRights(id) {
      const row = repo.rights(id);
      return row ? { adopted: row.adoption === 'adopted', zoneId: row.zone_id } : null;
    },
  };
  const services = {
    db,
    auth,
    audit: createAudit(db),
    audio: lib,
    fleet,
    config: { CORS_ORIGINS: [] },
  } as unknown as Services;
  await installAuth(app, services, randomBytes(32));
  await app.register(audioRoutes, { prefix: '/api/audio', services });
  const baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    app,
    baseUrl,
    db,
    dataDir,
    lib,
    token,
    userId: user.id,
    device: { username: device.username, password: device.password },
    deviceAuth: `Basic ${Buffer.from(`${device.username}:${device.password}`).toString('base64')}`,
    async close() {
      await app.close();
      db.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Just the library over a fresh temp data dir, for direct tests. */
export function createTestLibrary(): {
  lib: AudioLibrary;
  db: Db;
  dataDir: string;
  urlSecret: Buffer;
  close(): void;
} {
  const dataDir = mkdtempSync(join(tmpdir(), 'loalang-audio-'));
  const db = openDatabase(join(dataDir, 'loalang.db'));
  const urlSecret = randomBytes(32);
  const lib = createAudioLibrary({
    db,
    dataDir,
    urlSecret,
    publicUrl: PUBLIC_URL,
    log: pino({ level: 'silent' }),
  });
  return {
    lib,
    db,
    dataDir,
    urlSecret,
    close() {
      db.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Every file under `<dataDir>/audio` (temp files included), relative to it, sorted. */
export function audioFilesOnDisk(dataDir: string): string[] {
  const root = join(dataDir, 'audio');
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)))
    .sort();
}
