/**
 * Text-to-speech on real parts: eSpeak NG (wasm, in its worker thread) writing WAV into a real
 * audio library over SQLite in a temp dir; the HTTP provider against real loopback servers; the
 * command provider running a real program. Figures (engine load, synthesis) are printed.
 */
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AudioLibrary, createAudioLibrary } from '../src/domain/audio/library.js';
import { decodeWav, encodeWav, rms } from '../src/domain/audio/wav.js';
import { createCommandProvider, PIPER_ARGS } from '../src/domain/tts/command.js';
import { createEspeakProvider, type EspeakProvider } from '../src/domain/tts/espeak.js';
import { createHttpProvider } from '../src/domain/tts/http.js';
import type { TtsProvider } from '../src/domain/tts/provider.js';
import { createSpeechMaker, type SpeechService } from '../src/domain/tts/speech.js';
import { createLogger } from '../src/log.js';
import { type Db, openDatabase } from '../src/storage/db.js';

const ALERT =
  'Thông báo khẩn: bão số 3 đổ bộ lúc 14h30 ngày 25/11, gió giật 120 km/h, đề nghị bà con sơ tán.';
const log = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent', false);

/** A provider that counts the syntheses it was asked for (the real engine does the work). */
function counting(p: TtsProvider): TtsProvider & { calls: number } {
  const c = {
    id: p.id,
    calls: 0,
    synthesize(r: Parameters<TtsProvider['synthesize']>[0]) {
      c.calls++;
      return p.synthesize(r);
    },
  };
  return c;
}

function rig() {
  const dir = mkdtempSync(join(tmpdir(), 'loalang-tts-'));
  const db: Db = openDatabase(join(dir, 'loalang.db'));
  const audio: AudioLibrary = createAudioLibrary({
    db,
    dataDir: dir,
    urlSecret: Buffer.alloc(32, 7),
    publicUrl: 'http://127.0.0.1:1',
    log,
  });
  return {
    dir,
    db,
    audio,
    speech: (provider: TtsProvider, extra: Partial<Parameters<typeof createSpeechMaker>[0]> = {}) =>
      createSpeechMaker({ db, log, audio, provider, ...extra }),
    wavOf: (id: string) => decodeWav(readFileSync(audio.filePath(audio.require(id)))),
    close() {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A second of a 440 Hz tone as WAV: what a working service or model answers here. */
const toneWav = (seconds = 1, rate = 16000) => {
  const s = new Float32Array(Math.round(seconds * rate));
  for (let i = 0; i < s.length; i++) s[i] = 0.3 * Math.sin((2 * Math.PI * 440 * i) / rate);
  return encodeWav(s, rate);
};

describe('eSpeak NG: Vietnamese speech into the audio library', () => {
  const r = rig();
  let espeak: EspeakProvider;
  let engine: TtsProvider & { calls: number };
  let speech: SpeechService;
  const figures: Record<string, number> = {};

  beforeAll(() => {
    espeak = createEspeakProvider({ log });
    engine = counting(espeak);
    speech = r.speech(engine);
  });
  afterAll(async () => {
    await speech.close();
    await espeak.close();
    r.close();
    console.log('tts figures (ms):', JSON.stringify(figures));
  });

  it('reads the alert as 16-bit mono WAV whose length fits the spoken text, not silent', async () => {
    const t0 = performance.now();
    const res = await speech.synthesize({ text: ALERT, voice: 'north', speed: 1, userId: 'u1' });
    figures.firstSynthesisWithLoad = Math.round(performance.now() - t0);
    figures.engineLoad = Math.round(espeak.loadMs ?? -1);
    figures.alertSpeech = res.audio.durationMs ?? -1;
    expect(res.cached).toBe(false);
    expect(res.spoken).toContain('mười bốn giờ ba mươi phút ngày hai mươi lăm tháng mười một');
    expect(res.spoken).not.toMatch(/\d/);
    expect(res.audio.mime).toBe('audio/wav');
    const wav = r.wavOf(res.audio.id);
    expect(wav).toMatchObject({ channels: 1, bitsPerSample: 16, sampleRate: 22050 });
    const perChar = wav.durationMs / 1000 / res.spoken.length;
    expect(perChar).toBeGreaterThan(0.04);
    expect(perChar).toBeLessThan(0.2);
    expect(rms(wav.samples)).toBeGreaterThan(0.02);
    expect(Math.abs((res.audio.durationMs ?? 0) - wav.durationMs)).toBeLessThan(50);
    // the library knows it as speech, and the text is kept beside it
    expect(r.db.prepare('SELECT source, created_by FROM audio WHERE id = ?').get(res.audio.id)).toEqual({
      source: 'tts',
      created_by: 'u1',
    });
    expect(r.db.prepare('SELECT provider, voice, speed, text, spoken FROM tts_cache').all()).toEqual([
      { provider: 'espeak', voice: 'north', speed: 1, text: ALERT, spoken: res.spoken },
    ]);
  });

  it('answers the cached audio the second time, without a synthesis', async () => {
    const first = await speech.synthesize({ text: ALERT, voice: 'north', speed: 1 });
    const calls = engine.calls;
    const again = await speech.synthesize({ text: `  ${ALERT} `, voice: 'north', speed: 1 });
    expect(engine.calls).toBe(calls);
    expect(again).toMatchObject({ cached: true, synthMs: 0, spoken: first.spoken });
    expect(again.audio.id).toBe(first.audio.id);
  });

  it('three voices differ, each plausible speech', async () => {
    const t0 = performance.now();
    const made = await Promise.all(
      (['north', 'central', 'south'] as const).map((voice) =>
        speech.synthesize({ text: ALERT, voice, speed: 1 }),
      ),
    );
    figures.threeVoicesWarm = Math.round(performance.now() - t0);
    expect(new Set(made.map((m) => m.audio.sha256)).size).toBe(3);
    expect(new Set(made.map((m) => m.audio.id)).size).toBe(3);
    for (const m of made) {
      const wav = r.wavOf(m.audio.id);
      expect(rms(wav.samples)).toBeGreaterThan(0.02);
      expect(wav.durationMs / 1000 / m.spoken.length).toBeGreaterThan(0.04);
    }
  });

  it('speed 1.5 is shorter than 1.0', async () => {
    const normal = await speech.synthesize({ text: ALERT, voice: 'central', speed: 1 });
    const t0 = performance.now();
    const fast = await speech.synthesize({ text: ALERT, voice: 'central', speed: 1.5 });
    figures.alertAtSpeed15 = Math.round(performance.now() - t0);
    expect(fast.cached).toBe(false);
    expect(fast.audio.durationMs!).toBeLessThan(normal.audio.durationMs! * 0.8);
    expect(fast.audio.durationMs!).toBeGreaterThan(normal.audio.durationMs! * 0.4);
  });

  it('identical requests at once share one synthesis', async () => {
    const calls = engine.calls;
    const text = 'Họp dân lúc 19h30 tại nhà văn hóa thôn.';
    const all = await Promise.all(
      [1, 2, 3].map(() => speech.synthesize({ text, voice: 'south', speed: 1.2 })),
    );
    expect(engine.calls).toBe(calls + 1);
    expect(new Set(all.map((a) => a.audio.id)).size).toBe(1);
  });

  it('synthesises again when the cached audio was deleted', async () => {
    const text = 'Lịch tiêm phòng ngày 2/12.';
    const first = await speech.synthesize({ text, voice: 'north', speed: 1 });
    r.audio.delete(first.audio.id);
    const calls = engine.calls;
    const again = await speech.synthesize({ text, voice: 'north', speed: 1 });
    expect(engine.calls).toBe(calls + 1);
    expect(again.cached).toBe(false);
    expect(r.audio.get(again.audio.id)).not.toBeNull(); // the same bytes restore the same record
    expect(r.db.prepare('SELECT count(*) AS n FROM tts_cache WHERE spoken = ?').get(again.spoken)).toEqual({
      n: 1,
    });
  });

  it('refuses a text over the limit, an empty one, a bad speed with 400', async () => {
    const short = r.speech(engine, { maxChars: 100 });
    await expect(short.synthesize({ text: 'a'.repeat(101), voice: 'north', speed: 1 })).rejects.toMatchObject(
      {
        statusCode: 400,
        code: 'text_too_long',
      },
    );
    await expect(short.synthesize({ text: '   ', voice: 'north', speed: 1 })).rejects.toMatchObject({
      statusCode: 400,
      code: 'empty_text',
    });
    await expect(short.synthesize({ text: 'xin chào', voice: 'north', speed: 3 })).rejects.toMatchObject({
      statusCode: 400,
      code: 'bad_speed',
    });
  });
});

/** A loopback HTTP server answering with `handle`; its URL. */
async function serve(
  handle: (req: IncomingMessage, body: Buffer, res: ServerResponse) => void,
): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, Buffer.concat(chunks), res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('a better voice configured but unavailable', () => {
  const r = rig();
  const servers: { close(): Promise<void> }[] = [];
  afterAll(async () => {
    for (const s of servers) await s.close();
    r.close();
  });
  const httpSpeech = (url: string, extra: Partial<Parameters<typeof createHttpProvider>[0]> = {}) =>
    r.speech(createHttpProvider({ url, style: 'json', timeoutMs: 5000, pollMs: 20, ...extra }));
  const say = (s: SpeechService) =>
    s.synthesize({ text: 'Thông báo mất điện lúc 8h.', voice: 'north', speed: 1 });

  it('HTTP: a refused connection is 503 tts_unavailable naming the URL', async () => {
    const s = await serve(() => {});
    await s.close(); // nothing listens there any more
    await expect(say(httpSpeech(`${s.url}/tts`))).rejects.toMatchObject({
      statusCode: 503,
      code: 'tts_unavailable',
      message: expect.stringMatching(/127\.0\.0\.1:\d+\/tts cannot be reached \(ECONNREFUSED\)/),
    });
  });

  it('HTTP: an error status, a page that is not audio, and bytes that are not audio are 503', async () => {
    const s = await serve((req, _body, res) => {
      if (req.url === '/500') res.writeHead(500).end('quota exceeded');
      else if (req.url === '/html')
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
      else res.writeHead(200, { 'content-type': 'audio/wav' }).end(Buffer.from('RIFF....garbage garbage'));
    });
    servers.push(s);
    await expect(say(httpSpeech(`${s.url}/500`))).rejects.toMatchObject({
      statusCode: 503,
      code: 'tts_unavailable',
      message: expect.stringContaining('answered 500: quota exceeded'),
    });
    await expect(say(httpSpeech(`${s.url}/html`))).rejects.toMatchObject({
      statusCode: 503,
      message: expect.stringContaining('text/html that is neither audio nor JSON'),
    });
    await expect(say(httpSpeech(`${s.url}/garbage`))).rejects.toMatchObject({
      statusCode: 503,
      code: 'tts_unavailable',
      message: expect.stringContaining('not audio the library can read'),
    });
  });

  it('HTTP: a service that stays silent past the timeout is 503', async () => {
    const s = await serve(() => {}); // never answers
    servers.push(s);
    const started = Date.now();
    await expect(say(httpSpeech(s.url, { timeoutMs: 300 }))).rejects.toMatchObject({
      statusCode: 503,
      message: expect.stringContaining('no answer within 300 ms'),
    });
    expect(Date.now() - started).toBeLessThan(3000);
    s.server.closeAllConnections();
  });

  it('HTTP json: posts the normalised text with the key, stores the WAV it answers', async () => {
    const seen: { auth?: string; body?: unknown }[] = [];
    const s = await serve((req, body, res) => {
      seen.push({ auth: req.headers.authorization, body: JSON.parse(body.toString('utf8')) });
      res.writeHead(200, { 'content-type': 'audio/wav' }).end(toneWav());
    });
    servers.push(s);
    const res = await say(httpSpeech(s.url, { apiKey: 'k-123', voices: { north: 'vi-north-female' } }));
    expect(seen).toEqual([
      {
        auth: 'Bearer k-123',
        body: { text: 'Thông báo mất điện lúc tám giờ.', voice: 'vi-north-female', speed: 1, format: 'wav' },
      },
    ]);
    expect(res).toMatchObject({ cached: false, provider: `http:json:${new URL(s.url).host}` });
    expect(res.audio.durationMs).toBeGreaterThan(900);
  });

  it('HTTP fpt: FPT.AI style, the audio fetched from the async link once it exists', async () => {
    let polls = 0;
    const s = await serve((req, body, res) => {
      if (req.method === 'POST') {
        expect(req.headers).toMatchObject({ api_key: 'fpt-key', voice: 'lannhi', speed: '1' });
        expect(body.toString('utf8')).toBe('Thông báo mất điện lúc tám giờ.');
        const link = `http://${req.headers.host}/audio/x.wav`;
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ async: link, error: 0 }));
      } else if (++polls < 3) {
        res.writeHead(404).end(); // not made yet
      } else {
        res.writeHead(200, { 'content-type': 'audio/wav' }).end(toneWav(0.5));
      }
    });
    servers.push(s);
    const res = await r
      .speech(
        createHttpProvider({ url: s.url, style: 'fpt', apiKey: 'fpt-key', timeoutMs: 5000, pollMs: 20 }),
      )
      .synthesize({ text: 'Thông báo mất điện lúc 8h.', voice: 'south', speed: 1.4 });
    expect(polls).toBe(3);
    expect(res.audio.durationMs).toBeGreaterThan(400);
  });

  it('HTTP fpt: an error the service reports is 503 with its message', async () => {
    const s = await serve((_req, _body, res) => {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: 1, message: 'Invalid api key' }));
    });
    servers.push(s);
    await expect(
      say(r.speech(createHttpProvider({ url: s.url, style: 'fpt', apiKey: 'bad', timeoutMs: 5000 }))),
    ).rejects.toMatchObject({
      statusCode: 503,
      message: expect.stringContaining('refused: Invalid api key'),
    });
  });

  /** A stand-in for Piper: reads the text on stdin, writes a WAV to --output_file, notes what it got. */
  function fakePiper(): { script: string; seen: string } {
    const script = join(r.dir, 'fake-piper.mjs');
    const seen = join(r.dir, 'seen.json');
    writeFileSync(
      script,
      `import { readFileSync, writeFileSync } from 'node:fs';
const args = process.argv.slice(2);
const opt = (n) => args[args.indexOf(n) + 1];
const text = readFileSync(0, 'utf8');
readFileSync(opt('--model')); // a model that cannot be read fails, as Piper does
writeFileSync(${JSON.stringify(seen)}, JSON.stringify({ text, lengthScale: opt('--length_scale') }));
const rate = 16000, n = Math.round(rate * 0.06 * text.length * Number(opt('--length_scale')));
const out = Buffer.alloc(44 + n * 2);
out.write('RIFF', 0); out.writeUInt32LE(36 + n * 2, 4); out.write('WAVEfmt ', 8); out.writeUInt32LE(16, 16);
out.writeUInt16LE(1, 20); out.writeUInt16LE(1, 22); out.writeUInt32LE(rate, 24); out.writeUInt32LE(rate * 2, 28);
out.writeUInt16LE(2, 32); out.writeUInt16LE(16, 34); out.write('data', 36); out.writeUInt32LE(n * 2, 40);
for (let i = 0; i < n; i++) out.writeInt16LE(Math.round(8000 * Math.sin(i / 5)), 44 + i * 2);
writeFileSync(opt('--output_file'), out);
`,
    );
    return { script, seen };
  }

  it('command: runs the operator’s program, text on stdin, WAV out', async () => {
    const { script, seen } = fakePiper();
    const model = join(r.dir, 'vi_VN-test.onnx');
    writeFileSync(model, 'not really a model');
    const provider = createCommandProvider({
      command: process.execPath,
      args: [script, ...PIPER_ARGS],
      model,
      timeoutMs: 10_000,
      tempDir: r.dir,
    });
    const res = await r
      .speech(provider)
      .synthesize({ text: 'Cúp nước ngày 3/12.', voice: 'north', speed: 2 });
    expect(JSON.parse(readFileSync(seen, 'utf8'))).toEqual({
      text: 'Cúp nước ngày ba tháng mười hai.',
      lengthScale: '0.500',
    });
    expect(res).toMatchObject({ cached: false, provider: 'command:vi_VN-test.onnx' });
    expect(res.audio.durationMs).toBeGreaterThan(500);
  });

  it('command: a missing model file or program is 503 naming the path; a failing program says why', async () => {
    const { script } = fakePiper();
    const missingModel = createCommandProvider({
      command: process.execPath,
      args: [script, ...PIPER_ARGS],
      model: '/nonexistent/vi_VN-vais1000-medium.onnx',
      timeoutMs: 10_000,
    });
    expect(await missingModel.check?.()).toMatch(/vi_VN-vais1000-medium\.onnx \(TTS_MODEL\) does not exist/);
    await expect(say(r.speech(missingModel))).rejects.toMatchObject({
      statusCode: 503,
      code: 'tts_unavailable',
      message: expect.stringContaining(
        'the model file /nonexistent/vi_VN-vais1000-medium.onnx (TTS_MODEL) does not exist',
      ),
    });
    const missingProgram = createCommandProvider({ command: '/nonexistent/piper', timeoutMs: 10_000 });
    await expect(say(r.speech(missingProgram))).rejects.toMatchObject({
      statusCode: 503,
      message: expect.stringContaining('TTS_COMMAND /nonexistent/piper does not exist'),
    });
    const failing = join(r.dir, 'failing.sh');
    writeFileSync(failing, '#!/bin/sh\necho "Unable to load model: bad magic" >&2\nexit 3\n');
    chmodSync(failing, 0o755);
    await expect(
      say(r.speech(createCommandProvider({ command: failing, args: [], timeoutMs: 10_000 }))),
    ).rejects.toMatchObject({
      statusCode: 503,
      message: expect.stringContaining('exited with code 3: Unable to load model: bad magic'),
    });
  });

  it('eSpeak: an engine that cannot load answers 503, and the next request is answered too', async () => {
    const broken = createEspeakProvider({ log, moduleUrl: 'file:///nonexistent/espeak-ng.js' });
    try {
      for (let i = 0; i < 2; i++) {
        await expect(say(r.speech(broken))).rejects.toMatchObject({
          statusCode: 503,
          code: 'tts_unavailable',
          message: expect.stringContaining('the engine did not load'),
        });
      }
    } finally {
      await broken.close();
    }
  });

  it('TTS_FALLBACK: eSpeak speaks when the configured voice is unavailable', async () => {
    const espeak = createEspeakProvider({ log });
    const missing = createCommandProvider({ command: '/nonexistent/piper', timeoutMs: 10_000 });
    const s = r.speech(missing, { fallback: espeak });
    try {
      const res = await say(s);
      expect(res.provider).toBe('espeak');
      expect(rms(r.wavOf(res.audio.id).samples)).toBeGreaterThan(0.02);
      const sha = createHash('sha256')
        .update(readFileSync(r.audio.filePath(res.audio)))
        .digest('hex');
      expect(sha).toBe(res.audio.sha256);
    } finally {
      await s.close();
    }
  });
});
