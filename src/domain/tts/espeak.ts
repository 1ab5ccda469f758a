/**
 * The default voice: eSpeak NG compiled to wasm (@echogarden/espeak-ng-emscripten, GPL-3.0, its
 * voice data inside the package): offline, nothing to install, Northern, Central and Southern
 * Vietnamese. A formant voice — robotic but intelligible over a horn.
 *
 * The engine runs in one worker thread, loaded at the first synthesis (~0.3 s, 24 MB of voice
 * data) and kept for the next ones: a synthesis (about 0.1 s per second of speech) blocks its
 * thread, and the controller's thread must keep answering receivers and timing schedules.
 * Requests queue in the worker, one at a time.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
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

/** The worker's code (CommonJS, evaluated): loads the engine once, then answers requests in turn. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const t0 = performance.now();
const ready = import(workerData.moduleUrl)
  .then((mod) => mod.default({ print: () => {}, printErr: () => {} }))
  .then((m) => ({ engine: new m.eSpeakNGWorker(), loadMs: performance.now() - t0 }));
ready.then(
  (r) => parentPort.postMessage({ type: 'ready', loadMs: r.loadMs, sampleRate: r.engine.samplerate }),
  (err) => parentPort.postMessage({ type: 'failed', error: String(err && err.message || err) }),
);
parentPort.on('message', async (msg) => {
  let engine;
  try {
    engine = (await ready).engine;
  } catch (err) {
    parentPort.postMessage({ type: 'result', id: msg.id, error: 'the engine did not load: ' + String(err && err.message || err) });
    return;
  }
  try {
    const t = performance.now();
    const code = engine.set_voice(msg.voice, '');
    if (code !== 0) throw new Error('voice ' + msg.voice + ' is missing (code ' + code + ')');
    engine.set_rate(msg.rate);
    const chunks = [];
    let n = 0;
    engine.synthesize(msg.text, (samples) => { chunks.push(samples); n += samples.length; return 0; });
    const pcm = new Int16Array(n);
    let off = 0;
    for (const c of chunks) { pcm.set(c, off); off += c.length; }
    parentPort.postMessage(
      { type: 'result', id: msg.id, pcm, sampleRate: engine.samplerate, synthMs: performance.now() - t },
      [pcm.buffer],
    );
  } catch (err) {
    parentPort.postMessage({ type: 'result', id: msg.id, error: String(err && err.message || err) });
  }
});
`;

interface Pending {
  resolve(r: SynthesisResult): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export interface EspeakProvider extends TtsProvider {
  /** load time of the engine, once loaded (ms) */
  readonly loadMs: number | null;
  close(): Promise<void>;
}

/**
 * eSpeak NG in a worker thread. `timeoutMs` bounds one synthesis (a stuck engine is restarted);
 * `moduleUrl` is for tests that need an engine that is not there.
 */
export function createEspeakProvider(
  deps: { log?: Logger; timeoutMs?: number; moduleUrl?: string } = {},
): EspeakProvider {
  const timeoutMs = deps.timeoutMs ?? 60_000;
  let worker: Worker | null = null;
  let loadMs: number | null = null;
  let nextId = 1;
  const pending = new Map<number, Pending>();

  const moduleUrl = (): string => {
    if (deps.moduleUrl) return deps.moduleUrl;
    const require = createRequire(import.meta.url);
    return pathToFileURL(require.resolve('@echogarden/espeak-ng-emscripten')).href;
  };

  function failAll(reason: string): void {
    for (const [id, p] of pending) {
      clearTimeout(p.timer);
      p.reject(ttsUnavailable('espeak', reason));
      pending.delete(id);
    }
  }

  function start(): Worker {
    if (worker) return worker;
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { moduleUrl: moduleUrl() } });
    w.unref(); // an idle engine never keeps the process alive
    w.on(
      'message',
      (msg: {
        type: string;
        id?: number;
        error?: string;
        pcm?: Int16Array;
        sampleRate?: number;
        loadMs?: number;
        synthMs?: number;
      }) => {
        if (msg.type === 'ready') {
          loadMs = msg.loadMs ?? null;
          deps.log?.info({ loadMs: Math.round(loadMs ?? 0) }, 'tts: eSpeak NG loaded');
          return;
        }
        if (msg.type === 'failed') {
          deps.log?.error({ error: msg.error }, 'tts: eSpeak NG did not load');
          return;
        }
        const p = pending.get(msg.id!);
        if (!p) return;
        pending.delete(msg.id!);
        clearTimeout(p.timer);
        if (msg.error) p.reject(ttsUnavailable('espeak', msg.error));
        else p.resolve({ pcm: msg.pcm!, sampleRate: msg.sampleRate! });
      },
    );
    w.on('error', (err) => {
      deps.log?.error({ err }, 'tts: eSpeak NG worker failed');
      if (worker === w) worker = null;
      failAll(`the engine stopped (${err.message})`);
    });
    w.on('exit', (code) => {
      if (worker === w) worker = null;
      if (pending.size > 0) failAll(`the engine exited (code ${code})`);
    });
    worker = w;
    return w;
  }

  return {
    id: 'espeak',
    get loadMs() {
      return loadMs;
    },
    synthesize({ text, voice, speed }: SynthesisRequest): Promise<SynthesisResult> {
      const w = start();
      const id = nextId++;
      const rate = Math.round(Math.min(MAX_RATE, Math.max(MIN_RATE, BASE_RATE * speed)));
      return new Promise<SynthesisResult>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(ttsUnavailable('espeak', `no answer within ${timeoutMs} ms; the engine is restarted`));
          if (worker === w) worker = null;
          void w.terminate();
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
        w.postMessage({ id, text, voice: ESPEAK_VOICES[voice], rate });
      });
    },
    async check() {
      try {
        moduleUrl();
        return null;
      } catch (err) {
        return `@echogarden/espeak-ng-emscripten cannot be found (${(err as Error).message}); run npm install`;
      }
    },
    async close() {
      const w = worker;
      worker = null;
      failAll('the controller is stopping');
      if (w) await w.terminate();
    },
  };
}
