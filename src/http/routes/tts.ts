/**
 * Text-to-speech for the phone: hear an announcement before sending it (the audio is the one the
 * announcement will use: same text, voice and speed → the cached file), and see the text as it
 * will be read.
 */
import { z } from 'zod';
import { VOICES } from '../../domain/announcements/types.js';
import { MAX_SPEED, MIN_SPEED } from '../../domain/tts/speech.js';
import { AppError } from '../../errors.js';
import { errorBodySchema } from '../errors.js';
import type { RoutePlugin } from '../types.js';
import { audioSchema } from './audio.js';

const speechBody = z.object({
  // the configured limit (TTS_MAX_CHARS) is checked by the speech maker: 400 text_too_long
  text: z.string().trim().min(1).max(100_000),
  voice: z.enum(VOICES).default('north').describe('north (Hà Nội), central (Huế), south (Sài Gòn)'),
  speed: z.number().min(MIN_SPEED).max(MAX_SPEED).default(1),
});

const routes: RoutePlugin = async (app, { services }) => {
  const tags = ['tts'];
  const speech = () => {
    if (!services.tts) {
      throw new AppError(
        503,
        'tts_unavailable',
        'Text-to-speech is off on this controller (TTS_PROVIDER=off).',
      );
    }
    return services.tts;
  };

  app.post(
    '/preview',
    {
      schema: {
        tags,
        summary:
          'Synthesise text into the audio library and answer it, to listen before announcing (the announcement then reuses it)',
        body: speechBody,
        response: {
          200: z.object({
            audio: audioSchema,
            contentUrl: z.string().describe('GET it with your token or session cookie to listen'),
            cached: z.boolean().describe('true: the same text, voice and speed were read before'),
            spoken: z.string().describe('the text as read aloud, after normalisation'),
            synthMs: z.number().int(),
            provider: z.string(),
          }),
          400: errorBodySchema,
          503: errorBodySchema,
        },
      },
    },
    async (request) => {
      const r = await speech().synthesize({ ...request.body, userId: request.user?.id });
      request.auditSubject = r.audio.id;
      return {
        audio: r.audio,
        contentUrl: `/api/audio/${encodeURIComponent(r.audio.id)}/content`,
        cached: r.cached,
        spoken: r.spoken,
        synthMs: Math.round(r.synthMs),
        provider: r.provider,
      };
    },
  );

  app.post(
    '/normalise',
    {
      schema: {
        tags,
        summary:
          'The text as it would be read (numbers, dates, times, units, abbreviations in words); no audio',
        body: speechBody.pick({ text: true, voice: true }),
        response: { 200: z.object({ spoken: z.string() }), 503: errorBodySchema },
      },
    },
    async (request) => ({ spoken: speech().normalise(request.body.text, request.body.voice) }),
  );
};

export default routes;
