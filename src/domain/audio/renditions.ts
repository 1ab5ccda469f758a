/**
 * Speech renditions: small mono copies of an audio for receivers on 4G (Opus/Ogg 24 kbit/s and
 * MP3 32 kbit/s, transcode.ts), stored by content in the audio store beside the original, one row
 * each in `audio_renditions`. The original is kept and still served; the dispatcher picks, per
 * receiver, the smallest file it can play (dispatch/pick.ts).
 *
 * Renditions are made once per audio: in the background after an upload that looks like speech
 * worth shrinking (above SPEECH_MIN_BITRATE or stereo, or WAV), and when a bulletin or an
 * announcement asks (`ensure`). Concurrent requests share one job. Each file is probed before it
 * is kept: its duration must match the original's.
 */
import { createHash, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { AppError, notFound } from '../../errors.js';
import { type Db, nowIso } from '../../storage/db.js';
import type { AudioLibrary, AudioRecord } from './library.js';
import { probeAudioFile } from './probe.js';
import { AudioStore } from './store.js';
import { RENDITION_CODECS, type RenditionCodec, type Transcoder } from './transcode.js';
import { encodeWav } from './wav.js';

/** One stored rendition. */
export interface Rendition {
  audioId: string;
  codec: RenditionCodec;
  mime: string;
  sha256: string;
  size: number;
  durationMs: number;
  /** bits per second of the (constant bitrate) encoding; size × 8 / duration adds the container */
  bitrate: number;
  sampleRate: number | null;
  channels: number | null;
  /** wall time of the job that made it (all its renditions at once) */
  encodeMs: number | null;
  createdAt: string;
}

/**
 * What a receiver can be sent for an audio: the original or one of its renditions. `codec` is the
 * name receivers advertise (docs/protocol.md §5): mp3, opus (Ogg), vorbis (Ogg), aac (MP4), pcm
 * (WAV), webm (WebM/Opus).
 */
export interface AudioFile {
  audioId: string;
  codec: string;
  /** null: the original */
  rendition: RenditionCodec | null;
  mime: string;
  sha256: string;
  size: number;
  durationMs: number;
}

/** The codec name receivers advertise for an original, from what the probe found. */
export function codecOfOriginal(a: Pick<AudioRecord, 'mime' | 'codec'>): string {
  switch (a.mime) {
    case 'audio/mpeg':
      return 'mp3';
    case 'audio/ogg':
      return /vorbis/i.test(a.codec ?? '') ? 'vorbis' : 'opus';
    case 'audio/wav':
      return 'pcm';
    case 'audio/mp4':
      return 'aac';
    case 'audio/webm':
      return 'webm';
    default:
      return a.mime;
  }
}

/** Above this average bitrate (bit/s) an upload is worth shrinking in the background. */
export const SPEECH_MIN_BITRATE = 40_000;
/** A rendition's duration may differ from the original's by this share (encoder padding)… */
const DURATION_TOLERANCE = 0.05;
/** …or by this much, for very short files (an MP3 frame of padding is 48 ms at 24 kHz). */
const DURATION_SLACK_MS = 120;

export interface RenditionService {
  /**
   * Makes the renditions of `audioId` unless they exist; resolves with them. Idempotent; concurrent
   * calls share one job. Throws AppError 404 for unknown audio, 415 'no_decoder' when the original
   * cannot be decoded here (AAC, a damaged file; remembered until restart), 422
   * 'rendition_too_long' beyond the duration limit. Turned off (RENDITION_MAX_DURATION_S=0), it
   * resolves with those that exist, making none.
   */
  ensure(audioId: string): Promise<Rendition[]>;
  /** Starts `ensure` in the background when the audio looks like speech worth shrinking. Never throws. */
  offer(audio: AudioRecord): void;
  /** The stored renditions of an audio, smallest first. */
  list(audioId: string): Rendition[];
  /** One rendition, or null. */
  get(audioId: string, codec: string): Rendition | null;
  /** The original (first) and the renditions whose file is in the store: what a receiver may get. */
  files(audioId: string): AudioFile[];
  /** Where a rendition's bytes are. */
  filePath(r: Rendition): string;
  /** Whether a job for the audio is running. */
  busy(audioId: string): boolean;
  /** Removes renditions of deleted audio (their files too, when nothing else uses the bytes). */
  start(): void;
  /**
   * Loads the codec library and runs one tiny job, so that the first real one (an emergency's)
   * does not pay the load and the wasm warm-up (about 0.3 s and 0.7 s here). Never throws.
   */
  warmUp(): Promise<void>;
  /** Waits for running jobs, then frees the codec library. */
  close(): Promise<void>;
}

interface Row {
  audio_id: string;
  codec: string;
  mime: string;
  sha256: string;
  size: number;
  duration_ms: number;
  bitrate: number | null;
  sample_rate: number | null;
  channels: number | null;
  encode_ms: number | null;
  created_at: string;
}

const toRendition = (r: Row): Rendition => ({
  audioId: r.audio_id,
  codec: r.codec as RenditionCodec,
  mime: r.mime,
  sha256: r.sha256,
  size: r.size,
  durationMs: r.duration_ms,
  bitrate: r.bitrate ?? Math.round((r.size * 8000) / Math.max(1, r.duration_ms)),
  sampleRate: r.sample_rate,
  channels: r.channels,
  encodeMs: r.encode_ms,
  createdAt: r.created_at,
});

/** A mono 16-bit WAV of `samples` of silence at `rate`. */
export function createRenditionService(deps: {
  db: Db;
  log: Logger;
  audio: AudioLibrary;
  dataDir: string;
  transcoder: Transcoder;
  /** longest original that gets renditions, ms (RENDITION_MAX_DURATION_S); 0 turns renditions off */
  maxDurationMs: number;
}): RenditionService {
  const { db, log, audio: lib } = deps;
  const store = new AudioStore(deps.dataDir);
  const known = new Set<string>(RENDITION_CODECS);
  const byAudio = db.prepare<[string], Row>(
    'SELECT * FROM audio_renditions WHERE audio_id = ? ORDER BY size, codec',
  );
  const one = db.prepare<[string, string], Row>(
    'SELECT * FROM audio_renditions WHERE audio_id = ? AND codec = ?',
  );
  const upsert = db.prepare(
    `INSERT OR REPLACE INTO audio_renditions (audio_id, codec, mime, sha256, size, duration_ms, bitrate,
       sample_rate, channels, encode_ms, created_at)
     VALUES (@audio_id, @codec, @mime, @sha256, @size, @duration_ms, @bitrate, @sample_rate, @channels,
       @encode_ms, @created_at)`,
  );
  const drop = db.prepare('DELETE FROM audio_renditions WHERE audio_id = ? AND codec = ?');
  const ofDeleted = db.prepare<[], Row>(
    `SELECT r.* FROM audio_renditions r JOIN audio a ON a.id = r.audio_id WHERE a.deleted_at IS NOT NULL`,
  );
  /** other live uses of some bytes: an audio, or another rendition */
  const usersOf = db.prepare<[{ sha: string }], { n: number }>(
    `SELECT (SELECT count(*) FROM audio WHERE sha256 = @sha AND deleted_at IS NULL)
          + (SELECT count(*) FROM audio_renditions r JOIN audio a ON a.id = r.audio_id
               WHERE r.sha256 = @sha AND a.deleted_at IS NULL) AS n`,
  );

  const jobs = new Map<string, Promise<Rendition[]>>();
  let closed = false;
  /** audio whose original could not be decoded: not tried again until restart */
  const failed = new Map<string, AppError>();
  /** files per audio, for dispatch (a Map lookup per send); dropped when a job ends */
  const filesCache = new Map<string, AudioFile[]>();

  function list(audioId: string): Rendition[] {
    return byAudio
      .all(audioId)
      .filter((r) => known.has(r.codec))
      .map(toRendition);
  }

  /** Keeps only renditions whose file is present; a lost file drops its row (it is made again). */
  function present(audioId: string): Rendition[] {
    return list(audioId).filter((r) => {
      if (store.has(r.sha256)) return true;
      log.warn({ audioId, codec: r.codec }, 'renditions: file missing from the store; dropped');
      drop.run(audioId, r.codec);
      return false;
    });
  }

  function complete(rs: Rendition[]): boolean {
    return RENDITION_CODECS.every((c) => rs.some((r) => r.codec === c));
  }

  async function make(a: AudioRecord & { durationMs: number }): Promise<Rendition[]> {
    const outputs = await deps.transcoder.transcode({ path: lib.filePath(a), mime: a.mime, codec: a.codec });
    const made: Rendition[] = [];
    for (const out of outputs) {
      const bytes = out.bytes;
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const temp = join(store.tempDir, `${randomUUID()}.part`);
      try {
        writeFileSync(temp, bytes, { flag: 'wx' });
        const probe = await probeAudioFile(temp, bytes.byteLength, {
          maxDurationMs: a.durationMs * 2 + 60_000,
        });
        const off = Math.abs(probe.durationMs - a.durationMs);
        if (off > Math.max(a.durationMs * DURATION_TOLERANCE, DURATION_SLACK_MS)) {
          throw new Error(
            `the ${out.target.codec} copy lasts ${probe.durationMs} ms against ${a.durationMs} ms for the original`,
          );
        }
        if (probe.mime !== out.target.mime || (probe.channels ?? 1) !== (out.target.channels ?? 1)) {
          throw new Error(
            `the ${out.target.codec} copy probes as ${probe.mime}, ${probe.channels} channel(s)`,
          );
        }
        if (closed) throw new AppError(503, 'shutting_down', 'The controller is stopping.');
        store.commit(temp, sha256);
        const row: Row = {
          audio_id: a.id,
          codec: out.target.codec,
          mime: out.target.mime,
          sha256,
          size: bytes.byteLength,
          duration_ms: probe.durationMs,
          // constant bitrate: what the encoder wrote (the file's average adds the container's headers)
          bitrate: out.target.bitrate,
          sample_rate: probe.sampleRate,
          channels: probe.channels,
          encode_ms: out.encodeMs,
          created_at: nowIso(),
        };
        upsert.run(row);
        made.push(toRendition(row));
      } finally {
        store.discard(temp);
      }
    }
    log.info(
      {
        audioId: a.id,
        durationMs: a.durationMs,
        original: { size: a.size, bitrate: a.bitrate },
        renditions: made.map((r) => ({ codec: r.codec, size: r.size, bitrate: r.bitrate })),
        encodeMs: outputs[0]?.encodeMs,
      },
      'renditions: made',
    );
    return made.sort((x, y) => x.size - y.size);
  }

  function ensure(audioId: string): Promise<Rendition[]> {
    const running = jobs.get(audioId);
    if (running) return running;
    const a = lib.get(audioId);
    if (!a) return Promise.reject(notFound('Audio', audioId));
    const have = present(audioId);
    if (complete(have)) return Promise.resolve(have);
    // Turned off: what exists is what there is (the original plays).
    if (deps.maxDurationMs <= 0) return Promise.resolve(have);
    const refused = failed.get(audioId);
    if (refused) return Promise.reject(refused);
    if (a.durationMs === null || a.durationMs > deps.maxDurationMs) {
      return Promise.reject(
        new AppError(
          422,
          'rendition_too_long',
          `Small 4G copies are made of audio up to ${Math.round(deps.maxDurationMs / 1000)} s ` +
            '(RENDITION_MAX_DURATION_S); this one is sent as uploaded.',
        ),
      );
    }
    const playable = a as AudioRecord & { durationMs: number };
    const job = make(playable)
      .catch((err: unknown) => {
        const e =
          err instanceof AppError
            ? err
            : new AppError(
                415,
                'no_decoder',
                `The small 4G copies could not be made (${(err as Error).message}); the audio is sent as uploaded.`,
              );
        if (e.code === 'no_decoder') failed.set(audioId, e);
        log.warn({ audioId, code: e.code, err: e.message }, 'renditions: not made');
        throw e;
      })
      .finally(() => {
        jobs.delete(audioId);
        filesCache.delete(audioId);
      });
    jobs.set(audioId, job);
    return job;
  }

  function files(audioId: string): AudioFile[] {
    const cached = filesCache.get(audioId);
    if (cached) return cached;
    const a = lib.get(audioId);
    if (!a || a.durationMs === null) return [];
    const out: AudioFile[] = [
      {
        audioId,
        codec: codecOfOriginal(a),
        rendition: null,
        mime: a.mime,
        sha256: a.sha256,
        size: a.size,
        durationMs: a.durationMs,
      },
      ...present(audioId).map((r) => ({
        audioId,
        codec: r.codec,
        rendition: r.codec,
        mime: r.mime,
        sha256: r.sha256,
        size: r.size,
        durationMs: r.durationMs,
      })),
    ];
    // Not cached while a job may still add files.
    if (!jobs.has(audioId)) filesCache.set(audioId, out);
    return out;
  }

  return {
    ensure,
    offer(a) {
      if (deps.maxDurationMs <= 0 || a.durationMs === null || a.durationMs > deps.maxDurationMs) return;
      if (a.mime === 'audio/mp4') return; // AAC: no decoder (ensure would say so)
      const worth = a.mime === 'audio/wav' || (a.channels ?? 1) > 1 || (a.bitrate ?? 0) > SPEECH_MIN_BITRATE;
      if (!worth) return;
      ensure(a.id).catch(() => undefined); // logged by ensure
    },
    list,
    get(audioId, codec) {
      const r = known.has(codec) ? one.get(audioId, codec) : undefined;
      return r ? toRendition(r) : null;
    },
    files,
    filePath: (r) => store.pathFor(r.sha256),
    busy: (audioId) => jobs.has(audioId),
    start() {
      for (const r of ofDeleted.all()) {
        drop.run(r.audio_id, r.codec);
        if (usersOf.get({ sha: r.sha256 })!.n === 0) store.remove(r.sha256);
      }
    },
    async warmUp() {
      if (deps.maxDurationMs <= 0 || closed) return;
      const t0 = performance.now();
      const path = join(store.tempDir, `${randomUUID()}.wav`);
      try {
        writeFileSync(path, encodeWav(new Int16Array(16_000), 8000)); // 2 s of silence
        await deps.transcoder.transcode({ path, mime: 'audio/wav', codec: 'PCM' });
        log.info({ ms: Math.round(performance.now() - t0) }, 'renditions: codec library ready');
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'renditions: warm-up failed');
      } finally {
        store.discard(path);
      }
    },
    async close() {
      closed = true;
      // A job still running is abandoned (the transcoder gives it 2 s): the audio gets its copies
      // when it is next used.
      await deps.transcoder.close();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...jobs.values()]),
        new Promise((resolve) => (timer = setTimeout(resolve, 1000))),
      ]);
      clearTimeout(timer);
    },
  };
}
