/**
 * The audio library: uploads checked by content and stored once per distinct content (sha256),
 * their metadata in the `audio` table, deletion guarded by active bulletins, and expiring signed
 * URLs through which receivers download without a bearer token.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { AppError, badRequest, conflict, notFound } from '../../errors.js';
import { type Db, nowIso } from '../../storage/db.js';
import { type AudioProbe, plausibleDuration, probeAudioFile } from './probe.js';
import { fileDigest, planRemux, remux } from './remux.js';
import { audioSignature, verifyAudioSignature } from './signed-url.js';
import { AudioStore } from './store.js';

/** One stored audio file and what is known about it. */
export interface AudioRecord extends Omit<AudioProbe, 'durationMs'> {
  /**
   * Milliseconds; null when the stored duration is not plausible for the file's size (a row an
   * older version stored from a damaged file). Such audio is listed and served but not played.
   */
  durationMs: number | null;
  id: string;
  sha256: string;
  /** display name */
  name: string;
  /** bytes */
  size: number;
  createdAt: string;
  /** user id of the uploader */
  createdBy: string | null;
  /** 'upload'; 'recording' for a browser recording remuxed to be playable; 'tts' for speech made here */
  source: string;
  /**
   * The bytes that arrived, when they are not the stored file (a browser recording remuxed): kept
   * in the store by their sha256. Null when the stored file is what was uploaded.
   */
  original: { sha256: string; mime: string } | null;
}

/** Audio a bulletin may play: its duration is known. */
export type PlayableAudio = AudioRecord & { durationMs: number };

/** An upload received into a temp file and probed, not yet in the library: commit or discard it. */
export interface StagedUpload {
  /** of the playable file */
  readonly sha256: string;
  readonly size: number;
  readonly probe: AudioProbe;
  /** the temp file to store (the remuxed copy of a browser recording) */
  readonly path: string;
  /** what arrived, when `path` is a remuxed copy of it: its temp file, hash, size and MIME type */
  readonly original: {
    readonly sha256: string;
    readonly size: number;
    readonly mime: string;
    readonly path: string;
  } | null;
  /** how long the remux took, ms (0 when none) */
  readonly remuxMs: number;
}

/** The audio library's operations. */
export interface AudioLibrary {
  /**
   * Receives an upload streamed from `stream` into a temp file (hashing, never buffering it whole),
   * detects the format by content and reads duration/codec/bitrate with music-metadata, refusing
   * implausible metadata. A browser recording receivers could not play as it is (a WebM without a
   * duration, Opus in MP4, a fragmented MP4) is first remuxed (remux.ts) and the copy is what is
   * probed and stored; the arrival is kept as its original. Nothing is in the library until `commit`. Throws AppError 415
   * 'unsupported_media', 413 'too_large' (the source was truncated at the upload limit), 400
   * 'empty_file', 'upload_failed', 'unreadable_audio', 'implausible_audio' or 'audio_too_long', and
   * then leaves no temp file behind.
   */
  stage(stream: NodeJS.ReadableStream): Promise<StagedUpload>;
  /**
   * Puts a staged upload in the library, the row and the file move in one transaction: dedups by
   * sha256 (same bytes twice → one copy, `created: false`; bytes of a deleted record restore it
   * under the same id with `created: true` and freshly probed metadata); a remuxed recording
   * dedups by its original's sha256 too (a remux is not byte-identical twice: Ogg serial numbers). `name` is the display
   * name, else `filename` without its directory, else "audio". Synchronous, so no other upload or
   * delete interleaves. The staged upload is used up either way.
   */
  commit(
    staged: StagedUpload,
    input: {
      filename?: string | undefined;
      name?: string | undefined;
      userId?: string | undefined;
      /** default 'recording' when the upload was remuxed, else 'upload' */
      source?: string | undefined;
    },
  ): { audio: AudioRecord; created: boolean };
  /** Drops a staged upload's temp files (no-op once committed or discarded). */
  discard(staged: StagedUpload): void;
  /** `stage`, then `commit` (discarding on any error). */
  ingest(input: {
    stream: NodeJS.ReadableStream;
    filename?: string | undefined;
    name?: string | undefined;
    userId?: string | undefined;
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
  /** Absolute path of the original of a remuxed recording (same layout), or null when it has none. */
  originalPath(audio: AudioRecord): string | null;
  /**
   * Absolute URL a receiver may GET without a token until `expiresAt`:
   * `${publicUrl}/api/audio/<id>/content?exp=<unix s>&sig=<base64url HMAC-SHA256(urlSecret, `${id}.${exp}`)>`;
   * with `rendition` (a codec), `…/api/audio/<id>/renditions/<codec>/content?exp=…&sig=…`, signed
   * over `${id}/renditions/${codec}.${exp}` (renditions.ts)
   */
  signedUrl(id: string, expiresAt: Date, rendition?: string): string;
  /** Whether `exp` and `sig` form a valid, unexpired signature for `id` (and `rendition`; timing-safe). */
  verifySignedUrl(id: string, exp: string | undefined, sig: string | undefined, rendition?: string): boolean;
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
  source: string;
  original_sha256: string | null;
  original_mime: string | null;
}

/** A count as stored, or null when it is not one a person or the API schema could use. */
const safeCount = (n: number | null): number | null =>
  n !== null && Number.isSafeInteger(n) && n > 0 ? n : null;

// Rows are read defensively: an older version stored whatever music-metadata said (issue 7: a
// duration of 1.9e17 ms made every listing answer 500). Reading a row never fails.
const toRecord = (r: AudioRow): AudioRecord => ({
  id: r.id,
  sha256: r.sha256,
  name: r.name,
  mime: r.mime,
  container: r.container,
  codec: r.codec,
  durationMs:
    Number.isSafeInteger(r.duration_ms) && plausibleDuration(r.duration_ms, r.size) ? r.duration_ms : null,
  bitrate: safeCount(r.bitrate),
  sampleRate: safeCount(r.sample_rate),
  channels: safeCount(r.channels),
  size: r.size,
  createdAt: r.created_at,
  createdBy: r.created_by,
  source: r.source,
  original:
    r.original_sha256 !== null ? { sha256: r.original_sha256, mime: r.original_mime ?? 'unknown' } : null,
});

/** AUDIO_MAX_DURATION_S's default: 4 h, longer than any bulletin or recorded council session. */
export const DEFAULT_MAX_DURATION_MS = 4 * 3600_000;

/** Longest display name kept; longer names are cut. */
export const MAX_NAME_LENGTH = 200;

/**
 * Whether `audio` may be played, as a type guard. Throws AppError 409 'audio_unplayable' when its
 * stored duration is not plausible: a receiver would wait for it forever, and the play command's
 * schema refuses it.
 */
export function assertPlayable(audio: AudioRecord): asserts audio is PlayableAudio {
  if (audio.durationMs === null) {
    throw conflict(
      'audio_unplayable',
      `Audio "${audio.name}" has no valid duration (it was stored from a damaged file); delete it and ` +
        'upload a re-encoded copy.',
      { audioId: audio.id },
    );
  }
}

/** `audio` if it may be played, else null. */
export const playable = (audio: AudioRecord | null): PlayableAudio | null =>
  audio && audio.durationMs !== null ? (audio as PlayableAudio) : null;

/** A display name from what the user gave, or the file name without its directory. */
function displayName(name: string | undefined, filename: string | undefined): string {
  const base = (filename ?? '').split(/[\\/]/).pop() ?? '';
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
  /** longest accepted upload, milliseconds (AUDIO_MAX_DURATION_S); default 4 h */
  maxDurationMs?: number;
}): AudioLibrary {
  const limits = { maxDurationMs: deps.maxDurationMs ?? DEFAULT_MAX_DURATION_MS };
  const { db, urlSecret } = deps;
  const { log } = deps;
  const store = new AudioStore(deps.dataDir);
  const publicUrl = (): string =>
    (typeof deps.publicUrl === 'function' ? deps.publicUrl() : deps.publicUrl).replace(/\/+$/, '');
  const swept = store.sweepTemp();
  if (swept > 0) log.info({ swept }, 'removed stale upload temp files');

  const byId = db.prepare<[string], AudioRow>('SELECT * FROM audio WHERE id = ?');
  const bySha = db.prepare<[string], AudioRow>('SELECT * FROM audio WHERE sha256 = ?');
  // Newest first: a live row wins over a deleted one holding the same original.
  const byOriginal = db.prepare<[string], AudioRow>(
    'SELECT * FROM audio WHERE original_sha256 = ? ORDER BY deleted_at IS NOT NULL, rowid DESC LIMIT 1',
  );
  const live = db.prepare<[], AudioRow>(
    'SELECT * FROM audio WHERE deleted_at IS NULL ORDER BY created_at DESC, rowid DESC',
  );
  const insert = db.prepare(
    `INSERT INTO audio (id, sha256, name, mime, container, codec, duration_ms, bitrate, sample_rate,
       channels, size, created_at, created_by, source, original_sha256, original_mime)
     VALUES (@id, @sha256, @name, @mime, @container, @codec, @duration_ms, @bitrate, @sample_rate,
       @channels, @size, @created_at, @created_by, @source, @original_sha256, @original_mime)`,
  );
  // A re-upload probes the bytes again: metadata an older version stored wrongly is replaced. A
  // recording found by its original gets the new remux (sha256) too.
  const restore = db.prepare(
    `UPDATE audio SET deleted_at = NULL, name = @name, created_at = @created_at, created_by = @created_by,
       mime = @mime, container = @container, codec = @codec, duration_ms = @duration_ms, bitrate = @bitrate,
       sample_rate = @sample_rate, channels = @channels, size = @size, sha256 = @sha256, source = @source,
       original_sha256 = @original_sha256, original_mime = @original_mime
     WHERE id = @id`,
  );
  const activeUses = db.prepare<[string], { n: number }>(
    `SELECT count(*) AS n FROM bulletins WHERE audio_id = ? AND status = 'active'`,
  );
  const markDeleted = db.prepare('UPDATE audio SET deleted_at = ? WHERE id = ?');
  const sharers = db.prepare<[string, string], { n: number }>(
    'SELECT count(*) AS n FROM audio WHERE sha256 = ? AND id <> ? AND deleted_at IS NULL',
  );
  const originalSharers = db.prepare<{ sha: string; id: string }, { n: number }>(
    `SELECT count(*) AS n FROM audio WHERE (original_sha256 = @sha OR sha256 = @sha) AND id <> @id
       AND deleted_at IS NULL`,
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

  async function stage(stream: NodeJS.ReadableStream): Promise<StagedUpload> {
    const temp = await store.receive(stream).catch((err: unknown) => {
      throw receiveError(err);
    });
    let copy: string | null = null;
    try {
      if (temp.truncated) throw receiveError({ statusCode: 413 });
      if (temp.size === 0) throw badRequest('empty_file', 'The uploaded file is empty.');
      const plan = await planRemux(temp.path);
      if (!plan) {
        const probe = await probeAudioFile(temp.path, temp.size, limits);
        return { sha256: temp.sha256, size: temp.size, probe, path: temp.path, original: null, remuxMs: 0 };
      }
      // In the temp folder: swept after a crash like any upload, and renamed in place on commit.
      copy = join(store.tempDir, `${randomUUID()}.${plan.to}.part`);
      const { remuxMs } = await remux(temp.path, copy, plan);
      const { sha256, size } = await fileDigest(copy);
      const probe = await probeAudioFile(copy, size, limits);
      log.info(
        {
          from: plan.originalMime,
          reason: plan.reason,
          to: probe.mime,
          remuxMs,
          durationMs: probe.durationMs,
        },
        'remuxed a browser recording',
      );
      const original = { sha256: temp.sha256, size: temp.size, mime: plan.originalMime, path: temp.path };
      return { sha256, size, probe, path: copy, original, remuxMs };
    } catch (err) {
      store.discard(temp.path);
      if (copy) store.discard(copy);
      if (err instanceof AppError) log.info({ code: err.code }, `refused upload: ${err.message}`);
      throw err;
    }
  }

  const discard = (staged: StagedUpload): void => {
    store.discard(staged.path);
    if (staged.original) store.discard(staged.original.path);
  };

  function commit(
    staged: StagedUpload,
    input: {
      filename?: string | undefined;
      name?: string | undefined;
      userId?: string | undefined;
      source?: string | undefined;
    },
  ): { audio: AudioRecord; created: boolean } {
    const { sha256, probe, original } = staged;
    const fields = {
      name: displayName(input.name, input.filename),
      mime: probe.mime,
      container: probe.container,
      codec: probe.codec,
      duration_ms: probe.durationMs,
      bitrate: probe.bitrate,
      sample_rate: probe.sampleRate,
      channels: probe.channels,
      size: staged.size,
      created_at: nowIso(),
      created_by: input.userId ?? null,
      source: input.source ?? (original ? 'recording' : 'upload'),
      original_sha256: original?.sha256 ?? null,
      original_mime: original?.mime ?? null,
    };
    try {
      // The row and the file move commit together: a failed rename rolls the row back, and no
      // file is moved for a row that could not be written.
      return db.transaction(() => {
        const existing = bySha.get(sha256) ?? (original ? byOriginal.get(original.sha256) : undefined);
        if (existing && existing.deleted_at === null) {
          // Heal a store that lost the file; otherwise the temp copy is simply dropped.
          if (existing.sha256 === sha256 && !store.has(sha256)) store.commit(staged.path, sha256);
          if (original && existing.original_sha256 === original.sha256 && !store.has(original.sha256)) {
            store.commit(original.path, original.sha256);
          }
          log.info({ id: existing.id }, 'upload matches stored audio; keeping one copy');
          return { audio: toRecord(existing), created: false };
        }
        const id = existing?.id ?? randomUUID();
        if (existing) restore.run({ id, sha256, ...fields });
        else insert.run({ id, sha256, ...fields });
        store.commit(staged.path, sha256);
        if (original) store.commit(original.path, original.sha256);
        log.info(
          { id, mime: probe.mime, durationMs: probe.durationMs, size: staged.size, restored: !!existing },
          existing ? 'restored deleted audio by re-upload' : 'stored audio',
        );
        return { audio: toRecord(byId.get(id)!), created: true };
      })();
    } finally {
      discard(staged);
    }
  }

  return {
    stage,
    commit,
    discard,

    async ingest({ stream, filename, name, userId }) {
      const staged = await stage(stream);
      return commit(staged, { filename, name, userId });
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
      const unshared = [
        ...(sharers.get(audio.sha256, id)!.n === 0 ? [audio.sha256] : []),
        ...(audio.original && originalSharers.get({ sha: audio.original.sha256, id })!.n === 0
          ? [audio.original.sha256]
          : []),
      ];
      for (const sha of unshared) {
        try {
          store.remove(sha);
        } catch (err) {
          // The deletion stands; the orphaned file is replaced if the same bytes come back.
          log.warn({ err, id }, 'could not remove the audio file');
        }
      }
      log.info({ id }, 'deleted audio');
    },

    filePath: (audio) => store.pathFor(audio.sha256),
    originalPath: (audio) => (audio.original ? store.pathFor(audio.original.sha256) : null),

    signedUrl(id, expiresAt, rendition) {
      const exp = Math.floor(expiresAt.getTime() / 1000);
      const path = rendition
        ? `${encodeURIComponent(id)}/renditions/${encodeURIComponent(rendition)}`
        : encodeURIComponent(id);
      const sig = audioSignature(urlSecret, rendition ? `${id}/renditions/${rendition}` : id, exp);
      const base = publicUrl();
      // Before the HTTP server has its address (port 0), a URL would be relative, and a receiver
      // would refuse the command: the caller retries once the address is known.
      if (!base) throw new Error('the public URL is not known yet (HTTP server not listening)');
      return `${base}/api/audio/${path}/content?exp=${exp}&sig=${sig}`;
    },

    verifySignedUrl: (id, exp, sig, rendition) =>
      verifyAudioSignature(urlSecret, rendition ? `${id}/renditions/${rendition}` : id, exp, sig),
  };
}
