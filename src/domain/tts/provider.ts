/**
 * What a text-to-speech engine must offer loalang: Vietnamese speech from (normalised) text in
 * three regional voices at a speed. The default is eSpeak NG in wasm (offline, always there);
 * a better voice plugs in by configuration: an operator's neural model run as a command, or a
 * cloud service over HTTP (TTS_PROVIDER, see README "Text-to-speech").
 */
import { AppError } from '../../errors.js';
import type { Voice } from '../announcements/types.js';

export type { Voice };

export interface SynthesisRequest {
  /** normalised text: words, no digits or abbreviations left */
  text: string;
  voice: Voice;
  /** 0.5–2; 1 is the engine's normal speed */
  speed: number;
}

/** Samples (mono), or an encoded file the audio library can read (WAV, MP3, Ogg …). */
export type SynthesisResult =
  | { pcm: Float32Array | Int16Array; sampleRate: number }
  | { bytes: Buffer; mime: string };

export interface TtsProvider {
  /**
   * Stable name used in the cache key ("espeak", "http:<host>", "command:<model>"): a change of
   * engine or model makes new audio, never reuses another engine's.
   */
  readonly id: string;
  /** Throws AppError 503 'tts_unavailable' saying what is wrong when the engine cannot speak. */
  synthesize(request: SynthesisRequest): Promise<SynthesisResult>;
  /** Checks what can be checked without speaking (files present, …); the reason when it is not. */
  check?(): Promise<string | null>;
  /** Frees what it holds (a worker thread). */
  close?(): Promise<void> | void;
}

/** The error every provider throws when it cannot speak: 503, with what is wrong and what to do. */
export function ttsUnavailable(provider: string, what: string): AppError {
  return new AppError(503, 'tts_unavailable', `Text-to-speech (${provider}) is unavailable: ${what}`, {
    provider,
  });
}
