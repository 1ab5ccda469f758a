/**
 * The default voice: eSpeak NG compiled to wasm (@echogarden/espeak-ng-emscripten, GPL-3.0, its
 * voice data inside the package): offline, nothing to install, Northern, Central and Southern
 * Vietnamese. A formant voice — robotic but intelligible over a horn.
 *
 * The engine runs in one worker thread, loaded at the first synthesis (~0.3 s, 24 MB of voice
 * data) and kept for the next ones: a synthesis (about 0.1 s per second of speech) blocks its
 * thread, and the controller's thread must keep answering receivers and timing schedules.
 * Requests go to it one at a time.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { createJobThread } from '../job-thread.js';
import type { SynthesisRequest, SynthesisResult, TtsProvider, Voice } from './provider.js';
import { ttsUnavailable } from './provider.js';

/** eSpeak NG's Vietnamese voices. */
export const ESPEAK_VOICES: Record<Voice, string> = {
  north: 'vi',
  central: 'vi-VN-x-central',
  south: 'vi-VN-x-south',
};

/** eSpeak's words per minute at speed 1 (its default). */
const BASE_RATE = 175;
const MIN_RATE = 80;
const MAX_RATE = 450;

/**
 * The worker's code (CommonJS, evaluated; the job-thread.ts protocol): loads the engine once, then
 * answers each request.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const t0 = performance.now();
const ready = import(workerData.moduleUrl)
  .then((mod) => mod.default({ print: () => {}, printErr: () => {} }))
  .then((m) => ({ engine: new m.eSpeakNGWorker(), loadMs: performance.now() - t0 }));
ready.then(
  (r) => parentPort.postMessage({ type: 'ready', loadMs: r.loadMs }),
  (err) => parentPort.postMessage({ type: 'failed', error: String(err && err.message || err) }),
);
parentPort.on('message', async (msg) => {
  let engine;
  try {
    engine = (await ready).engine;
  } catch (err) {
    parentPort.postMessage({ id: msg.id, error: { message: 'the engine did not load: ' + String(err && err.message || err) } });
    return;
  }
  try {
    const code = engine.set_voice(msg.voice, '');
    if (code !== 0) throw new Error('voice ' + msg.voice + ' is missing (code ' + code + ')');
    engine.set_rate(msg.rate);
    const chunks = [];
    let n = 0;
    engine.synthesize(msg.text, (samples) => { chunks.push(samples); n += samples.length; return 0; });
    const pcm = new Int16Array(n);
    let off = 0;
    for (const c of chunks) { pcm.set(c, off); off += c.length; }
    parentPort.postMessage({ id: msg.id, result: { pcm, sampleRate: engine.samplerate } }, [pcm.buffer]);
  } catch (err) {
    parentPort.postMessage({ id: msg.id, error: { message: String(err && err.message || err) } });
  }
});
`;

export interface EspeakProvider extends TtsProvider {
  /** load time of the engine, once loaded (ms) */
  readonly loadMs: number | null;
  close(): Promise<void>;
}

/**
 * eSpeak NG in a worker thread (job-thread.ts). `timeoutMs` bounds one synthesis (a stuck engine is
 * restarted); `moduleUrl` is for tests that need an engine that is not there.
 */
export function createEspeakProvider(
  deps: { log?: Logger; timeoutMs?: number; moduleUrl?: string } = {},
): EspeakProvider {
  let loadMs: number | null = null;

  const moduleUrl = (): string => {
    if (deps.moduleUrl) return deps.moduleUrl;
    const require = createRequire(import.meta.url);
    return pathToFileURL(require.resolve('@echogarden/espeak-ng-emscripten')).href;
  };

  const thread = createJobThread({
    spawn: () => new Worker(WORKER_SOURCE, { eval: true, workerData: { moduleUrl: moduleUrl() } }),
    timeoutMs: deps.timeoutMs ?? 60_000,
    onNotice: (m) => {
      if (m.type === 'ready') {
        loadMs = typeof m.loadMs === 'number' ? m.loadMs : null;
        deps.log?.info({ loadMs: Math.round(loadMs ?? 0) }, 'tts: eSpeak NG loaded');
      } else if (m.type === 'failed') {
        deps.log?.error({ error: m.error }, 'tts: eSpeak NG did not load');
      }
    },
    onError: (err) => deps.log?.error({ err }, 'tts: eSpeak NG worker failed'),
  });

  return {
    id: 'espeak',
    get loadMs() {
      return loadMs;
    },
    async synthesize({ text, voice, speed }: SynthesisRequest): Promise<SynthesisResult> {
      const rate = Math.round(Math.min(MAX_RATE, Math.max(MIN_RATE, BASE_RATE * speed)));
      try {
        return await thread.run<SynthesisResult>({ text, voice: ESPEAK_VOICES[voice], rate });
      } catch (err) {
        throw ttsUnavailable('espeak', (err as Error).message);
      }
    },
    async check() {
      try {
        moduleUrl();
        return null;
      } catch (err) {
        return `@echogarden/espeak-ng-emscripten cannot be found (${(err as Error).message}); run npm install`;
      }
    },
    close: () => thread.close(),
  };
}
