/**
 * Text to a library audio: normalise, look in the cache, else synthesise, store the WAV in the
 * audio library (source 'tts') and keep the text beside it in `tts_cache`.
 *
 * One synthesis per (provider, voice, speed, normalised text): the key is the sha256 of those; the
 * same request again answers the cached audio unless that audio was deleted since. Identical
 * requests arriving together share one synthesis.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { AppError, badRequest } from '../../errors.js';
import { type Db, nowIso } from '../../storage/db.js';
import type { SpeechMaker } from '../announcements/service.js';
import { titleFrom } from '../announcements/service.js';
import { VOICES, type Voice } from '../announcements/types.js';
import type { AudioLibrary, AudioRecord } from '../audio/library.js';
import { encodeWav } from '../audio/wav.js';
import { BUILTIN_LEXICON, type Lexicon } from './lexicon.js';
import { createNormaliser, type Normaliser } from './normalise.js';
import type { SynthesisResult, TtsProvider } from './provider.js';
import { ttsUnavailable } from './provider.js';

/** TTS_MAX_CHARS's default: a long bulletin (≈ 6 minutes of speech) fits. */
export const DEFAULT_MAX_CHARS = 5000;
export const MIN_SPEED = 0.5;
export const MAX_SPEED = 2;

export interface SpeechResult {
  audio: AudioRecord;
  cached: boolean;
  /** the text as read, after normalisation */
  spoken: string;
  /** time the provider took (0 when cached) */
  synthMs: number;
  /** the provider that made it (the fallback's id when the configured one was unavailable) */
  provider: string;
}

export interface SpeechService extends SpeechMaker {
  synthesize(input: {
    text: string;
    voice: Voice;
    speed: number;
    userId?: string | undefined;
  }): Promise<SpeechResult>;
  /** The text as `voice` would read it (the normaliser alone). */
  normalise(text: string, voice?: Voice): string;
  /** Stops the providers (their worker threads). */
  close(): Promise<void>;
}

interface CacheRow {
  key: string;
  audio_id: string;
  spoken: string;
}

/**
 * Builds the speech maker. `fallback` (TTS_FALLBACK=espeak) speaks when `provider` is
 * unavailable; its audio is cached under its own key, so the better voice is tried again next time.
 */
export function createSpeechMaker(deps: {
  db: Db;
  log: Logger;
  audio: AudioLibrary;
  provider: TtsProvider;
  fallback?: TtsProvider | null;
  lexicon?: Lexicon;
  maxChars?: number;
}): SpeechService {
  const { db, log, audio } = deps;
  const maxChars = deps.maxChars ?? DEFAULT_MAX_CHARS;
  const lexicon = deps.lexicon ?? BUILTIN_LEXICON;
  const normalisers: Record<'north' | 'south', Normaliser> = {
    north: createNormaliser(lexicon, { dialect: 'north' }),
    south: createNormaliser(lexicon, { dialect: 'south' }),
  };
  const normalise = (text: string, voice: Voice = 'north') =>
    normalisers[voice === 'south' ? 'south' : 'north'](text);

  const byKey = db.prepare<[string], CacheRow>('SELECT key, audio_id, spoken FROM tts_cache WHERE key = ?');
  const save = db.prepare(
    `INSERT INTO tts_cache (key, provider, voice, speed, text, spoken, audio_id, synth_ms, created_at, created_by)
     VALUES (@key, @provider, @voice, @speed, @text, @spoken, @audio_id, @synth_ms, @created_at, @created_by)
     ON CONFLICT (key) DO UPDATE SET audio_id = excluded.audio_id, text = excluded.text,
       synth_ms = excluded.synth_ms, created_at = excluded.created_at, created_by = excluded.created_by`,
  );
  const markTts = db.prepare(`UPDATE audio SET source = 'tts' WHERE id = ?`);
  const inflight = new Map<string, Promise<SpeechResult>>();

  const keyOf = (provider: TtsProvider, voice: Voice, speed: number, spoken: string) =>
    createHash('sha256').update(`${provider.id}\n${voice}\n${speed}\n${spoken}`).digest('hex');

  /** The provider's answer as bytes the library stores: its samples as WAV, or its file. */
  function toFile(result: SynthesisResult): { bytes: Buffer; fromProvider: boolean } {
    if ('pcm' in result) return { bytes: encodeWav(result.pcm, result.sampleRate), fromProvider: false };
    return { bytes: result.bytes, fromProvider: true };
  }

  async function make(
    provider: TtsProvider,
    input: { text: string; voice: Voice; speed: number; userId?: string | undefined },
    spoken: string,
  ): Promise<SpeechResult> {
    const key = keyOf(provider, input.voice, input.speed, spoken);
    const hit = byKey.get(key);
    const live = hit ? audio.get(hit.audio_id) : null;
    if (live) return { audio: live, cached: true, spoken, synthMs: 0, provider: provider.id };
    const running = inflight.get(key);
    if (running) return running;
    const job = (async (): Promise<SpeechResult> => {
      const t0 = performance.now();
      const result = await provider.synthesize({ text: spoken, voice: input.voice, speed: input.speed });
      const synthMs = performance.now() - t0;
      const { bytes, fromProvider } = toFile(result);
      let staged: Awaited<ReturnType<AudioLibrary['stage']>>;
      try {
        staged = await audio.stage(Readable.from([bytes]));
      } catch (err) {
        // A service or command that answered something else than audio is unavailable, not a bad request.
        if (fromProvider && err instanceof AppError && err.statusCode < 500) {
          throw ttsUnavailable(provider.id, `its answer is not audio the library can read (${err.message})`);
        }
        throw err;
      }
      const name = `TTS ${input.voice}: ${titleFrom(input.text, 60)}`;
      const stored = db.transaction(() => {
        const { audio: record, created } = audio.commit(staged, { name, userId: input.userId });
        if (created) markTts.run(record.id);
        save.run({
          key,
          provider: provider.id,
          voice: input.voice,
          speed: input.speed,
          text: input.text,
          spoken,
          audio_id: record.id,
          synth_ms: Math.round(synthMs),
          created_at: nowIso(),
          created_by: input.userId ?? null,
        });
        return record;
      })();
      log.info(
        {
          audioId: stored.id,
          provider: provider.id,
          voice: input.voice,
          speed: input.speed,
          chars: spoken.length,
          durationMs: stored.durationMs,
          synthMs: Math.round(synthMs),
        },
        'tts: synthesised',
      );
      return { audio: stored, cached: false, spoken, synthMs, provider: provider.id };
    })();
    inflight.set(key, job);
    try {
      return await job;
    } finally {
      inflight.delete(key);
    }
  }

  return {
    normalise,
    async synthesize(input) {
      const text = input.text.trim();
      if (!text) throw badRequest('empty_text', 'There is no text to read; type the announcement.');
      if (text.length > maxChars) {
        throw badRequest(
          'text_too_long',
          `The text has ${text.length} characters; at most ${maxChars} are read at once. Shorten it or split it into several announcements.`,
          { maxChars },
        );
      }
      if (!VOICES.includes(input.voice)) {
        throw badRequest('bad_voice', `Unknown voice "${String(input.voice)}"; use ${VOICES.join(', ')}.`);
      }
      if (!(input.speed >= MIN_SPEED && input.speed <= MAX_SPEED)) {
        throw badRequest('bad_speed', `Speed must be between ${MIN_SPEED} and ${MAX_SPEED} (1 is normal).`);
      }
      // Speeds differing in the third decimal are the same speed: one cache entry.
      const req = { ...input, text, speed: Math.round(input.speed * 100) / 100 };
      const spoken = normalise(text, req.voice);
      if (!spoken) throw badRequest('empty_text', 'The text has nothing that can be read aloud.');
      try {
        return await make(deps.provider, req, spoken);
      } catch (err) {
        if (!deps.fallback || !(err instanceof AppError) || err.code !== 'tts_unavailable') throw err;
        log.error(
          { provider: deps.provider.id, reason: err.message },
          'tts: provider unavailable; using fallback',
        );
        return make(deps.fallback, req, spoken);
      }
    },
    async close() {
      await deps.provider.close?.();
      await deps.fallback?.close?.();
    },
  };
}
