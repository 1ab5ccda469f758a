/**
 * The audio library: uploads checked by content and stored once per distinct content (sha256),
 * their metadata in the `audio` table, deletion guarded by active bulletins, and expiring signed
 * URLs through which receivers download without a bearer token.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { AppError, badRequest, conflict, notFound } from '../../errors.js';
import { type Db, nowIso } from '../../storage/db.js';
import { type AudioProbe, probeAudioFile } from './probe.js';
import { audioSignature, verifyAudioSignature } from './signed-url.js';
import { AudioStore } from './store.js';

/** One stored audio file and what is known about it. */
export interface AudioRecord extends AudioProbe {
  id: string;
  sha256: string;
  /** display name */
  name: string;
  /** bytes */
  size: number;
  createdAt: string;
  /** user id of the uploader */
  createdBy: string | null;
}

/** The audio library's operations. */
export interface AudioLibrary {
  /**
   * Stores an upload streamed from `stream` (to a temp file while hashing, never buffering it
   * whole); detects the format by content; reads duration/codec/bitrate with music-metadata; dedups
   * by sha256 (same bytes twice → one copy, `created: false`; bytes of a deleted record restore it
   * under the same id with `created: true`). `name` is the display name (default: `filename`).
   * Throws AppError 415 'unsupported_media', 413 'too_large' (the source was truncated at the
   * upload limit), 400 'empty_file' or 'unreadable_audio'. Leaves no temp file behind on any error.
   */
  ingest(input: {
    stream: NodeJS.ReadableStream;
    filename: string;
    name?: string;
    userId?: string;
  }): Promise<{ audio: AudioRecord; created: boolean }>;
  /** Every audio not deleted, newest first. */
  list(): AudioRecord[];
  /** The audio, or null if missing or deleted. */
  get(id: string): AudioRecord | null;
  /** The audio; throws 404 'not_found' if missing or deleted. */
  require(id: string): AudioRecord;
  /** Changes the display name; 404 if missing or deleted. */
  rename(id: string, name: string): AudioRecord;
  /**
   * Marks the audio deleted (its row stays for the broadcast log) and removes its file. Throws
   * 409 'audio_in_use' while an active bulletin references it, 404 if missing or already deleted.
   */
  delete(id: string): void;
  /** Absolute path of the stored file: `<dataDir>/audio/<aa>/<sha256>`. */
  filePath(audio: AudioRecord): string;
  /**
   * Absolute URL a receiver may GET without a token until `expiresAt`:
   * `${publicUrl}/api/audio/<id>/content?exp=<unix s>&sig=<base64url HMAC-SHA256(urlSecret, `${id}.${exp}`)>`
   */
  signedUrl(id: string, expiresAt: Date): string;
  /** Whether `exp` and `sig` form a valid, unexpired signature for `id` (timing-safe). */
  verifySignedUrl(id: string, exp: string | undefined, sig: string | undefined): boolean;
}

interface AudioRow {
  id: string;
  sha256: string;
  name: string;
  mime: string;
  container: string | null;
  codec: string | null;
  duration_ms: number;
  bitrate: number | null;
  sample_rate: number | null;
  channels: number | null;
  size: number;
  created_at: string;
  created_by: string | null;
  deleted_at: string | null;
}

const toRecord = (r: AudioRow): AudioRecord => ({
  id: r.id,
  sha256: r.sha256,
  name: r.name,
  mime: r.mime,
  container: r.container,
  codec: r.codec,
  durationMs: r.duration_ms,
  bitrate: r.bitrate,
  sampleRate: r.sample_rate,
  channels: r.channels,
  size: r.size,
  createdAt: r.created_at,
  createdBy: r.created_by,
});

/** Longest display name kept; longer names are cut. */
export const MAX_NAME_LENGTH = 200;

/** A display name from what the user gave, or the file name without its directory. */
function displayName(name: string | undefined, filename: string): string {
  const base = filename.split(/[\\/]/).pop() ?? '';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  const clean = (s: string) => s.replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
  const chosen = clean(name ?? '') || clean(base) || 'audio';
  return chosen.slice(0, MAX_NAME_LENGTH);
}

/** An error while reading the upload itself, as an AppError a client can act on. */
function receiveError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = err as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (e.statusCode === 413 || e.code === 'FST_REQ_FILE_TOO_LARGE') {
    return new AppError(
      413,
      'too_large',
      'The file is larger than the upload limit; shorten or compress it.',
    );
  }
  return badRequest(
    'upload_failed',
    `The upload did not arrive completely (${String(e.message ?? err)}); try again.`,
  );
}

/**
 * Builds the library over `db` and the files under `<dataDir>/audio`. `publicUrl` is the base URL
 * receivers reach the HTTP server at; a function is read at each signing, for when it is known
 * only after the server listens.
 */
export function createAudioLibrary(deps: {
  db: Db;
  dataDir: string;
  urlSecret: Buffer;
  publicUrl: string | (() => string);
  log: Logger;
}): AudioLibrary {
  const { db, urlSecret } = deps;
  const { log } = deps;
  const store = new AudioStore(deps.dataDir);
  const publicUrl = (): string =>
    (typeof deps.publicUrl === 'function' ? deps.publicUrl() : deps.publicUrl).replace(/\/+$/, '');
  const swept = store.sweepTemp();
  if (swept > 0) log.info({ swept }, 'removed stale upload temp files');

  const byId = db.prepare<[string], AudioRow>('SELECT * FROM audio WHERE id = ?');
  const bySha = db.prepare<[string], AudioRow>('SELECT * FROM audio WHERE sha256 = ?');
  const live = db.prepare<[], AudioRow>(
    'SELECT * FROM audio WHERE deleted_at IS NULL ORDER BY created_at DESC, rowid DESC',
  );
  const insert = db.prepare(
    `INSERT INTO audio (id, sha256, name, mime, container, codec, duration_ms, bitrate, sample_rate,
       channels, size, created_at, created_by)
     VALUES (@id, @sha256, @name, @mime, @container, @codec, @duration_ms, @bitrate, @sample_rate,
       @channels, @size, @created_at, @created_by)`,
  );
  const restore = db.prepare(
    `UPDATE audio SET deleted_at = NULL, name = ?, created_at = ?, created_by = ? WHERE id = ?`,
  );
  const activeUses = db.prepare<[string], { n: number }>(
    `SELECT count(*) AS n FROM bulletins WHERE audio_id = ? AND status = 'active'`,
  );
  const markDeleted = db.prepare('UPDATE audio SET deleted_at = ? WHERE id = ?');
  const sharers = db.prepare<[string, string], { n: number }>(
    'SELECT count(*) AS n FROM audio WHERE sha256 = ? AND id <> ? AND deleted_at IS NULL',
  );

  function get(id: string): AudioRecord | null {
    const row = byId.get(id);
    return row && row.deleted_at === null ? toRecord(row) : null;
  }
  function requireAudio(id: string): AudioRecord {
    const a = get(id);
    if (!a) throw notFound('Audio', id);
    return a;
  }

  return {
    async ingest({ stream, filename, name, userId }) {
      const temp = await store.receive(stream).catch((err: unknown) => {
        throw receiveError(err);
      });
      try {
        if (temp.truncated) throw receiveError({ statusCode: 413 });
        if (temp.size === 0) throw badRequest('empty_file', 'The uploaded file is empty.');
        const probe = await probeAudioFile(temp.path, temp.size);
        const display = displayName(name, filename);
        const now = nowIso();
        // From here on everything is synchronous, so no other upload or delete interleaves.
        const existing = bySha.get(temp.sha256);
        if (existing && existing.deleted_at === null) {
          // Heal a store that lost the file; otherwise the temp copy is simply dropped.
          if (!store.has(temp.sha256)) store.commit(temp.path, temp.sha256);
          log.info({ id: existing.id }, 'upload matches stored audio; keeping one copy');
          return { audio: toRecord(existing), created: false };
        }
        store.commit(temp.path, temp.sha256);
        if (existing) {
          restore.run(display, now, userId ?? null, existing.id);
          log.info({ id: existing.id }, 'restored deleted audio by re-upload');
          return { audio: toRecord(byId.get(existing.id)!), created: true };
        }
        const id = randomUUID();
        insert.run({
          id,
          sha256: temp.sha256,
          name: display,
          mime: probe.mime,
          container: probe.container,
          codec: probe.codec,
          duration_ms: probe.durationMs,
          bitrate: probe.bitrate,
          sample_rate: probe.sampleRate,
          channels: probe.channels,
          size: temp.size,
          created_at: now,
          created_by: userId ?? null,
        });
        log.info({ id, mime: probe.mime, durationMs: probe.durationMs, size: temp.size }, 'stored audio');
        return { audio: toRecord(byId.get(id)!), created: true };
      } catch (err) {
        if (err instanceof AppError) log.info({ code: err.code, filename }, `refused upload: ${err.message}`);
        throw err;
      } finally {
        store.discard(temp.path);
      }
    },

    list: () => live.all().map(toRecord),
    get,
    require: requireAudio,

    rename(id, name) {
      requireAudio(id);
      db.prepare('UPDATE audio SET name = ? WHERE id = ?').run(displayName(name, ''), id);
      return requireAudio(id);
    },

    delete(id) {
      const audio = requireAudio(id);
      const { n } = activeUses.get(id)!;
      if (n > 0) {
        throw conflict(
          'audio_in_use',
          `"${audio.name}" is used by ${n} active bulletin${n === 1 ? '' : 's'}; cancel ${n === 1 ? 'it' : 'them'} first.`,
          { activeBulletins: n },
        );
      }
      markDeleted.run(nowIso(), id);
      if (sharers.get(audio.sha256, id)!.n === 0) {
        try {
          store.remove(audio.sha256);
        } catch (err) {
          // The deletion stands; the orphaned file is replaced if the same bytes come back.
          log.warn({ err, id }, 'could not remove the audio file');
        }
      }
      log.info({ id }, 'deleted audio');
    },

    filePath: (audio) => store.pathFor(audio.sha256),

    signedUrl(id, expiresAt) {
      const exp = Math.floor(expiresAt.getTime() / 1000);
      const sig = audioSignature(urlSecret, id, exp);
      return `${publicUrl()}/api/audio/${encodeURIComponent(id)}/content?exp=${exp}&sig=${sig}`;
    },

    verifySignedUrl: (id, exp, sig) => verifyAudioSignature(urlSecret, id, exp, sig),
  };
}
