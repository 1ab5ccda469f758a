/**
 * Text-to-speech from the configuration: the engine (TTS_PROVIDER), its fallback, the commune's
 * lexicon (TTS_LEXICON) and the speech maker the announcements and the preview route use.
 */
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { Db } from '../../storage/db.js';
import type { AudioLibrary } from '../audio/library.js';
import { createCommandProvider } from './command.js';
import { createEspeakProvider } from './espeak.js';
import { createHttpProvider } from './http.js';
import { BUILTIN_LEXICON, loadLexiconFile, mergeLexicon } from './lexicon.js';
import type { TtsProvider } from './provider.js';
import { createSpeechMaker, type SpeechService } from './speech.js';

/** The configured engine (null when TTS_PROVIDER=off). */
export function providerFromConfig(config: Config, log: Logger): TtsProvider | null {
  const timeoutMs = config.TTS_TIMEOUT_S * 1000;
  switch (config.TTS_PROVIDER) {
    case 'off':
      return null;
    case 'espeak':
      return createEspeakProvider({ log, timeoutMs });
    case 'http':
      return createHttpProvider({
        url: config.TTS_HTTP_URL!,
        style: config.TTS_HTTP_STYLE,
        apiKey: config.TTS_HTTP_API_KEY,
        authHeader: config.TTS_HTTP_AUTH_HEADER,
        voices: config.TTS_VOICES,
        timeoutMs,
        maxBytes: config.UPLOAD_MAX_BYTES,
      });
    case 'command':
      return createCommandProvider({
        command: config.TTS_COMMAND!,
        args: config.TTS_COMMAND_ARGS,
        model: config.TTS_MODEL,
        voices: config.TTS_VOICES,
        timeoutMs,
        maxBytes: config.UPLOAD_MAX_BYTES,
      });
  }
}

/**
 * The speech maker, or null when TTS is off. Throws LexiconError when TTS_LEXICON is not a valid
 * file (a configuration error, like a bad variable). An engine that is configured but not usable
 * (no model file, say) is logged here and answers 503 tts_unavailable when asked to speak: the
 * controller starts anyway, and recordings still go out.
 */
export async function createTtsFromConfig(
  config: Config,
  deps: { db: Db; log: Logger; audio: AudioLibrary },
): Promise<SpeechService | null> {
  const provider = providerFromConfig(config, deps.log);
  if (!provider) return null;
  const lexicon = config.TTS_LEXICON
    ? mergeLexicon(BUILTIN_LEXICON, loadLexiconFile(config.TTS_LEXICON))
    : BUILTIN_LEXICON;
  const problem = await provider.check?.();
  if (problem)
    deps.log.error({ provider: provider.id, problem }, `tts: ${provider.id} is not usable: ${problem}`);
  const fallback =
    config.TTS_FALLBACK === 'espeak' && config.TTS_PROVIDER !== 'espeak'
      ? createEspeakProvider({ log: deps.log, timeoutMs: config.TTS_TIMEOUT_S * 1000 })
      : null;
  return createSpeechMaker({ ...deps, provider, fallback, lexicon, maxChars: config.TTS_MAX_CHARS });
}
