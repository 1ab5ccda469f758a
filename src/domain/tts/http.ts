/**
 * A cloud voice over HTTP (TTS_PROVIDER=http). Two request styles:
 *
 *  - `json` (default): POST {text, voice, speed, format: "wav"} as JSON, the API key as
 *    `Authorization: Bearer <key>` (or raw in TTS_HTTP_AUTH_HEADER). The answer is the audio
 *    itself (audio/* or application/octet-stream), or JSON naming where to fetch it
 *    (`url`, `audio_url`, `async` or `link`). Fits most services and a self-hosted model server.
 *  - `fpt`: FPT.AI TTS v5 as documented (https://docs.fpt.ai/docs/en/speech/api/text-to-speech):
 *    POST the text as the body with headers `api_key`, `voice`, `speed` (−3…+3), `format`; the
 *    answer is JSON {error, async, message}, and the file appears at the `async` link a few
 *    seconds later (polled until it does, within TTS_TIMEOUT_S).
 *
 * Anything else — refused connection, timeout, an error status, an answer that is not audio —
 * is AppError 503 'tts_unavailable' saying which.
 */
import { z } from 'zod';
import type { SynthesisRequest, SynthesisResult, TtsProvider, Voice } from './provider.js';
import { ttsUnavailable } from './provider.js';

export interface HttpProviderOptions {
  url: string;
  style: 'json' | 'fpt';
  apiKey?: string | undefined;
  /** header carrying the raw key; default Authorization: Bearer (json) or api_key (fpt) */
  authHeader?: string | undefined;
  /** the service's voice names for ours */
  voices?: Partial<Record<Voice, string>> | undefined;
  timeoutMs: number;
  /** largest answer accepted */
  maxBytes?: number;
  /** wait between polls of an `async` link */
  pollMs?: number;
}

/** FPT.AI's documented voices: banmai (Northern), myan (Central), lannhi (Southern). */
const FPT_VOICES: Record<Voice, string> = { north: 'banmai', central: 'myan', south: 'lannhi' };

const linkAnswer = z
  .object({
    error: z.union([z.number(), z.string()]).optional(),
    message: z.string().optional(),
    url: z.url().optional(),
    audio_url: z.url().optional(),
    async: z.url().optional(),
    link: z.url().optional(),
  })
  .loose();

const AUDIO_MIME = /^(audio\/[\w.+-]+|application\/octet-stream)$/i;

/** Reads at most `max` bytes of a response body; throws when it is longer. */
async function readLimited(res: Response, max: number): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > max) throw new Error(`the answer is ${declared} bytes, more than ${max}`);
  const chunks: Buffer[] = [];
  let size = 0;
  if (!res.body) return Buffer.alloc(0);
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > max) throw new Error(`the answer is more than ${max} bytes`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

export function createHttpProvider(opts: HttpProviderOptions): TtsProvider {
  const host = new URL(opts.url).host;
  const id = `http:${opts.style}:${host}`;
  const name = `${opts.style === 'fpt' ? 'FPT.AI' : 'HTTP'} at ${host}`;
  const maxBytes = opts.maxBytes ?? 50 * 1024 * 1024;
  const pollMs = opts.pollMs ?? 1000;
  const voiceName = (v: Voice) => opts.voices?.[v] ?? (opts.style === 'fpt' ? FPT_VOICES[v] : v);
  const fail = (what: string) => ttsUnavailable(name, what);

  function request(
    text: string,
    voice: Voice,
    speed: number,
  ): RequestInit & { headers: Record<string, string> } {
    if (opts.style === 'fpt') {
      const headers: Record<string, string> = {
        'content-type': 'text/plain; charset=utf-8',
        voice: voiceName(voice),
        // FPT.AI's speed is a step from −3 (slowest) to +3 (fastest), 0 normal
        speed: String(Math.max(-3, Math.min(3, Math.round((speed - 1) * 3)))),
        format: 'wav',
      };
      if (opts.apiKey) headers[opts.authHeader ?? 'api_key'] = opts.apiKey;
      return { method: 'POST', headers, body: text };
    }
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'audio/*, application/json',
    };
    if (opts.apiKey) {
      if (opts.authHeader) headers[opts.authHeader] = opts.apiKey;
      else headers.authorization = `Bearer ${opts.apiKey}`;
    }
    return {
      method: 'POST',
      headers,
      body: JSON.stringify({ text, voice: voiceName(voice), speed, format: 'wav' }),
    };
  }

  /** GETs the audio at `link`, waiting while it is not there yet (404/403), until `deadline`. */
  async function fetchLink(link: string, deadline: number, signal: AbortSignal): Promise<SynthesisResult> {
    for (let attempt = 1; ; attempt++) {
      const res = await fetch(link, { signal });
      if (res.ok) {
        const mime = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
        if (mime && !AUDIO_MIME.test(mime)) throw fail(`the audio link answered ${mime}, not audio`);
        return { bytes: await readLimited(res, maxBytes), mime: mime || 'application/octet-stream' };
      }
      await res.body?.cancel();
      if ((res.status !== 404 && res.status !== 403) || Date.now() + pollMs > deadline) {
        throw fail(`the audio link answered ${res.status} after ${attempt} tries`);
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  return {
    id,
    async synthesize({ text, voice, speed }: SynthesisRequest): Promise<SynthesisResult> {
      const deadline = Date.now() + opts.timeoutMs;
      const signal = AbortSignal.timeout(opts.timeoutMs);
      let res: Response;
      try {
        res = await fetch(opts.url, { ...request(text, voice, speed), signal });
      } catch (err) {
        const e = err as Error & { cause?: { code?: string; message?: string } };
        const why =
          e.name === 'TimeoutError'
            ? `no answer within ${opts.timeoutMs} ms`
            : (e.cause?.code ?? e.cause?.message ?? e.message);
        throw fail(`${opts.url} cannot be reached (${why})`);
      }
      try {
        const mime = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
        if (!res.ok) {
          const body = (await readLimited(res, 64 * 1024).catch(() => Buffer.alloc(0))).toString('utf8');
          throw fail(`${opts.url} answered ${res.status}${body ? `: ${body.slice(0, 200)}` : ''}`);
        }
        if (AUDIO_MIME.test(mime) && opts.style === 'json') {
          const bytes = await readLimited(res, maxBytes);
          if (bytes.length === 0) throw fail(`${opts.url} answered no audio (an empty body)`);
          return { bytes, mime };
        }
        const body = await readLimited(res, 64 * 1024);
        let json: unknown;
        try {
          json = JSON.parse(body.toString('utf8'));
        } catch {
          throw fail(`${opts.url} answered ${mime || 'no content type'} that is neither audio nor JSON`);
        }
        const parsed = linkAnswer.safeParse(json);
        if (!parsed.success) throw fail(`${opts.url} answered JSON without an audio link`);
        const a = parsed.data;
        if (a.error !== undefined && a.error !== 0 && a.error !== '0') {
          throw fail(`${opts.url} refused: ${a.message ?? `error ${a.error}`}`);
        }
        const link = a.async ?? a.url ?? a.audio_url ?? a.link;
        if (!link) throw fail(`${opts.url} answered JSON without an audio link`);
        return await fetchLink(link, deadline, signal);
      } catch (err) {
        if ((err as Error).name === 'TimeoutError') throw fail(`no audio within ${opts.timeoutMs} ms`);
        if ((err as { code?: string }).code === 'tts_unavailable') throw err;
        throw fail((err as Error).message);
      }
    },
  };
}
