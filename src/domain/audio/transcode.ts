/**
 * Speech renditions with a real codec library: FFmpeg in WebAssembly (`@libav.js/variant-obsolete`,
 * LGPL, shipped in npm, so `npm install` alone sets it up). The original is decoded once (MP3,
 * Ogg/Opus, Ogg/Vorbis, WebM/Opus, FLAC by libav; WAV by the small reader in wav.ts, whatever its
 * sample format), downmixed to mono, resampled, and encoded into every target in the same pass:
 * Opus in Ogg (RFC 7845) and MP3, both constant bitrate, so their size is known in advance
 * (bitrate × duration) and a 4G budget can be planned.
 *
 * One LibAV instance serves the whole controller, on a thread of its own: it is loaded at the first
 * job (about 0.3 s), and jobs run one at a time (the wasm instance is single-threaded, and the
 * machine small).
 */
import { open, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { AppError } from '../../errors.js';
import { createJobThread } from '../job-thread.js';
import { readWavHeader, wavChunks } from './wav.js';

/** The codecs renditions are made in (the names receivers advertise, docs/protocol.md §5). */
export const RENDITION_CODECS = ['opus', 'mp3'] as const;
export type RenditionCodec = (typeof RENDITION_CODECS)[number];

/** How one rendition is encoded. */
export interface RenditionTarget {
  codec: RenditionCodec;
  mime: string;
  /** FFmpeg encoder and muxer names */
  encoder: 'libopus' | 'libmp3lame';
  muxer: 'ogg' | 'mp3';
  sampleRate: number;
  /** bits per second, constant */
  bitrate: number;
  /** 1 (the renditions) or 2 (tests make a "vendor" 128 kbit/s stereo MP3 with it) */
  channels?: 1 | 2;
  /** encoder options (AVOptions) */
  options: Record<string, string>;
}

/**
 * The renditions made, smallest first. Opus at 24 kbit/s on 24 kHz input (super-wideband: the 12 kHz
 * audio band is more than a horn loudspeaker reproduces), tuned for speech ('voip'), constant
 * bitrate; MP3 (MPEG-2 Layer III) mono at 32 kbit/s, 24 kHz, which every receiver with an MP3
 * decoder plays.
 */
export const RENDITION_TARGETS: readonly RenditionTarget[] = [
  {
    codec: 'opus',
    mime: 'audio/ogg',
    encoder: 'libopus',
    muxer: 'ogg',
    sampleRate: 24_000,
    bitrate: 24_000,
    // Complexity 5 of 10 halves the encode time (30 s of speech: 0.5 s instead of 1.1 s here) at a
    // loss a horn does not show: the cold path of an emergency waits for it.
    options: { vbr: 'off', application: 'voip', compression_level: '5' },
  },
  {
    codec: 'mp3',
    mime: 'audio/mpeg',
    encoder: 'libmp3lame',
    muxer: 'mp3',
    sampleRate: 24_000,
    bitrate: 32_000,
    options: {},
  },
];

/** What the transcoder is given: the stored original and what the probe said it is. */
export interface TranscodeInput {
  path: string;
  /** detected MIME type (audio/mpeg, audio/ogg, audio/wav, audio/mp4, audio/webm) */
  mime: string;
  codec: string | null;
}

/** One encoded rendition, in memory (they are small: 30 s of speech is about 100 KB). */
export interface TranscodeOutput {
  target: RenditionTarget;
  bytes: Uint8Array;
  /** wall time of the whole job (decode, resample, encode, mux), shared by its targets */
  encodeMs: number;
  /** samples written per channel, at target.sampleRate */
  samples: number;
}

export interface Transcoder {
  /**
   * Decodes `input` once and encodes it into each of `targets`. Throws AppError 415 'no_decoder'
   * when the original cannot be decoded here (AAC: no decoder ships in npm; a damaged file).
   */
  transcode(input: TranscodeInput, targets?: readonly RenditionTarget[]): Promise<TranscodeOutput[]>;
  /**
   * Decodes `input` to mono float samples at `sampleRate` (at most `maxSeconds` of them): to check
   * what a file sounds like (its level, its pitch). Throws as `transcode`.
   */
  decode(input: TranscodeInput, sampleRate: number, maxSeconds?: number): Promise<Float32Array>;
  /** Frees the LibAV instance (a job still running gets up to 2 s to finish). */
  close(): Promise<void>;
}

/** The part of libav.js used here (its own types describe far more). */
// biome-ignore lint/suspicious/noExplicitAny: libav.js is typed loosely; only this module touches it
type LibAV = any;
// biome-ignore lint/suspicious/noExplicitAny: see LibAV
type Frame = any;

const AV_CH_LAYOUT_MONO = 4;
const AV_CH_LAYOUT_STEREO = 3;
/** Packets read from the demuxer per step (bytes): keeps the wasm heap small for long files. */
const READ_CHUNK_BYTES = 256 * 1024;
/** WAV read per step, in frames. */
const WAV_CHUNK_FRAMES = 16_384;
/** Largest compressed original copied into the wasm file system (30 min of 320 kbit/s MP3 is 72 MB). */
export const MAX_COMPRESSED_INPUT_BYTES = 96 * 1024 * 1024;

export function noDecoder(message: string): AppError {
  return new AppError(415, 'no_decoder', message);
}

/** One encoder and its filter graph (resample + downmix to the encoder's format) and muxer. */
interface Lane {
  target: RenditionTarget;
  file: string;
  c: number;
  frame: number;
  pkt: number;
  oc: number;
  pb: number;
  graph: number;
  src: number;
  sink: number;
  filterFrame: number;
  samples: number;
}

/**
 * The transcoder on the calling thread: libav.js without a worker, so its wasm calls block that
 * thread's event loop while they run (a 5-minute MP3 decodes in one stretch of ~9 s here). The
 * controller runs it on a thread of its own (`createTranscoder`, transcode-worker.ts); nothing is
 * loaded until the first job.
 */
export function createLocalTranscoder(deps: {
  log: { info(obj: Record<string, unknown>, msg: string): void };
}): Transcoder {
  let libavP: Promise<LibAV> | null = null;
  let queue: Promise<unknown> = Promise.resolve();
  let jobs = 0;

  function load(): Promise<LibAV> {
    libavP ??= (async () => {
      const t0 = performance.now();
      const mod = (await import('@libav.js/variant-obsolete')).default as LibAV;
      const libav = await mod.LibAV({ noworker: true, nothreads: true });
      // FFmpeg's own log goes to stderr: keep it for real errors only.
      await libav.av_log_set_level(libav.AV_LOG_QUIET);
      deps.log.info({ ms: Math.round(performance.now() - t0) }, 'transcode: libav.js loaded');
      return libav;
    })();
    return libavP;
  }

  /** Runs jobs one after the other on the one instance. */
  function serial<T>(job: () => Promise<T>): Promise<T> {
    const run = queue.then(job, job);
    queue = run.catch(() => undefined);
    return run;
  }

  async function openLane(libav: LibAV, target: RenditionTarget, inFmt: InputFormat): Promise<Lane> {
    const sampleFmt = target.encoder === 'libopus' ? libav.AV_SAMPLE_FMT_FLT : libav.AV_SAMPLE_FMT_FLTP;
    const channels = target.channels ?? 1;
    const layout = channels === 2 ? AV_CH_LAYOUT_STEREO : AV_CH_LAYOUT_MONO;
    const [, c, frame, pkt, frameSize] = await libav.ff_init_encoder(target.encoder, {
      ctx: {
        bit_rate: target.bitrate,
        sample_fmt: sampleFmt,
        sample_rate: target.sampleRate,
        channel_layout: layout,
        channels,
      },
      time_base: [1, target.sampleRate],
      options: target.options,
    });
    const [graph, src, sink] = await libav.ff_init_filter_graph(
      'anull',
      {
        sample_rate: inFmt.sampleRate,
        sample_fmt: inFmt.sampleFmt,
        channel_layout: inFmt.channelLayout,
      },
      {
        sample_rate: target.sampleRate,
        sample_fmt: sampleFmt,
        channel_layout: layout,
        frame_size: frameSize,
      },
    );
    const file = `out-${jobs}-${target.codec}.${target.muxer}`;
    const [oc, , pb] = await libav.ff_init_muxer({ format_name: target.muxer, filename: file, open: true }, [
      [c, 1, target.sampleRate],
    ]);
    const ret = await libav.avformat_write_header(oc, 0);
    if (ret < 0) throw new Error(`${target.muxer} muxer: header not written (${ret})`);
    const filterFrame = await libav.av_frame_alloc();
    return { target, file, c, frame, pkt, oc, pb, graph, src, sink, filterFrame, samples: 0 };
  }

  /** Resamples `frames` (null: the end) through a lane's graph, encodes and muxes what comes out. */
  async function feed(libav: LibAV, lane: Lane, frames: Frame[] | null): Promise<void> {
    const fin = frames === null;
    const filtered: Frame[] = await libav.ff_filter_multi(
      lane.src,
      lane.sink,
      lane.filterFrame,
      frames ?? [],
      fin,
    );
    for (const f of filtered) {
      f.pts = lane.samples;
      f.ptshi = 0;
      lane.samples += f.nb_samples;
    }
    if (filtered.length === 0 && !fin) return;
    const packets = await libav.ff_encode_multi(lane.c, lane.frame, lane.pkt, filtered, fin);
    for (const p of packets) {
      p.time_base_num = 1;
      p.time_base_den = lane.target.sampleRate;
      p.stream_index = 0;
    }
    if (packets.length) await libav.ff_write_multi(lane.oc, lane.pkt, packets);
  }

  async function closeLane(libav: LibAV, lane: Lane, finished: boolean): Promise<Uint8Array | null> {
    try {
      if (finished) await libav.av_write_trailer(lane.oc);
      await libav.ff_free_muxer(lane.oc, lane.pb);
      await libav.ff_free_encoder(lane.c, lane.frame, lane.pkt);
      await libav.avfilter_graph_free_js(lane.graph);
      await libav.av_frame_free_js(lane.filterFrame);
      return finished ? await libav.readFile(lane.file) : null;
    } finally {
      await libav.unlink(lane.file).catch(() => undefined);
    }
  }

  async function run(input: TranscodeInput, targets: readonly RenditionTarget[]): Promise<TranscodeOutput[]> {
    const t0 = performance.now();
    const libav = await load();
    const source = await sourceOf(libav, input);
    const lanes: Lane[] = [];
    const outputs: (Uint8Array | null)[] = [];
    let done = false;
    try {
      for (const target of targets) lanes.push(await openLane(libav, target, source.format));
      for (;;) {
        const frames = await source.next();
        if (frames === null) break;
        for (const lane of lanes) await feed(libav, lane, frames);
      }
      for (const lane of lanes) await feed(libav, lane, null);
      done = true;
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw noDecoder(
        `The audio could not be decoded for the small 4G copies (${(err as Error).message}); it is still ` +
          'played as uploaded.',
      );
    } finally {
      for (const lane of lanes) outputs.push(await closeLane(libav, lane, done).catch(() => null));
      await source.close();
    }
    const encodeMs = Math.round(performance.now() - t0);
    return lanes.map((lane, i) => {
      const bytes = outputs[i];
      if (!bytes) throw new Error(`${lane.target.codec}: the muxer wrote nothing`);
      return { target: lane.target, bytes, encodeMs, samples: lane.samples };
    });
  }

  /** A source for `input`, refusing what has no decoder here. */
  async function sourceOf(libav: LibAV, input: TranscodeInput): Promise<Source> {
    if (input.mime === 'audio/mp4' || /aac/i.test(input.codec ?? '')) {
      throw noDecoder(
        'This audio is AAC (M4A/MP4, as Safari records): no AAC decoder ships with the controller, so no ' +
          'small 4G copy can be made. It is still played as uploaded. To get the small copies, upload WAV ' +
          '(decoded in the browser) or MP3/Ogg/Opus.',
      );
    }
    jobs++;
    return input.mime === 'audio/wav' ? wavSource(input.path) : libavSource(libav, input, jobs);
  }

  async function decodeRun(
    input: TranscodeInput,
    sampleRate: number,
    maxSeconds: number,
  ): Promise<Float32Array> {
    const libav = await load();
    const source = await sourceOf(libav, input);
    const max = Math.round(sampleRate * maxSeconds);
    const parts: Float32Array[] = [];
    let n = 0;
    let graph = 0;
    let frame = 0;
    try {
      const { format } = source;
      const [g, src, sink] = await libav.ff_init_filter_graph(
        'anull',
        {
          sample_rate: format.sampleRate,
          sample_fmt: format.sampleFmt,
          channel_layout: format.channelLayout,
        },
        { sample_rate: sampleRate, sample_fmt: libav.AV_SAMPLE_FMT_FLT, channel_layout: AV_CH_LAYOUT_MONO },
      );
      graph = g;
      frame = await libav.av_frame_alloc();
      for (let fin = false; !fin && n < max; ) {
        const frames = await source.next();
        fin = frames === null;
        for (const f of await libav.ff_filter_multi(src, sink, frame, frames ?? [], fin)) {
          parts.push(f.data as Float32Array);
          n += (f.data as Float32Array).length;
        }
      }
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw noDecoder(`The audio could not be decoded (${(err as Error).message}).`);
    } finally {
      if (frame) await libav.av_frame_free_js(frame).catch(() => undefined);
      if (graph) await libav.avfilter_graph_free_js(graph).catch(() => undefined);
      await source.close();
    }
    const out = new Float32Array(Math.min(n, max));
    let o = 0;
    for (const p of parts) {
      if (o >= out.length) break;
      out.set(p.subarray(0, out.length - o), o);
      o += p.length;
    }
    return out;
  }

  return {
    transcode: (input, targets = RENDITION_TARGETS) => serial(() => run(input, targets)),
    decode: (input, sampleRate, maxSeconds = 600) => serial(() => decodeRun(input, sampleRate, maxSeconds)),
    async close() {
      const p = libavP;
      libavP = null;
      if (!p) return;
      // A shutdown does not wait long for a job: it is abandoned (its audio gets its copies later).
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([queue, new Promise((resolve) => (timer = setTimeout(resolve, 2000)))]);
      clearTimeout(timer);
      const libav = await p.catch(() => null);
      libav?.terminate?.();
    },
  };
}

interface InputFormat {
  sampleRate: number;
  sampleFmt: number;
  channelLayout: number;
}

/** Decoded audio, a chunk of frames at a time. */
interface Source {
  format: InputFormat;
  /** the next frames, or null at the end */
  next(): Promise<Frame[] | null>;
  close(): Promise<void>;
}

/** Layout mask for a channel count when the stream gives none (FFmpeg's defaults). */
const defaultLayout = (channels: number): number =>
  channels === 1 ? 4 : channels === 2 ? 3 : channels === 6 ? 0x3f : (1 << channels) - 1;

/** A WAV original, read by wav.ts: any PCM, float, A-law or µ-law. Frames are mono float. */
async function wavSource(path: string): Promise<Source> {
  const fh = await open(path, 'r');
  try {
    const header = await readWavHeader(fh).catch((err: Error) => {
      throw noDecoder(`${err.message} No small 4G copy can be made; it is still played as uploaded.`);
    });
    const chunks = wavChunks(fh, header, WAV_CHUNK_FRAMES);
    let pts = 0;
    return {
      // Mono already (wav.ts averages the channels): the graph only resamples.
      format: { sampleRate: header.sampleRate, sampleFmt: 3 /* AV_SAMPLE_FMT_FLT */, channelLayout: 4 },
      async next() {
        const r = await chunks.next();
        if (r.done) return null;
        const data = r.value;
        const frame = {
          data,
          format: 3,
          sample_rate: header.sampleRate,
          channel_layout: 4,
          channels: 1,
          nb_samples: data.length,
          pts,
          ptshi: 0,
          time_base_num: 1,
          time_base_den: header.sampleRate,
        };
        pts += data.length;
        return [frame];
      },
      close: () => fh.close(),
    };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/** A compressed original, demuxed and decoded by libav.js. */
async function libavSource(libav: LibAV, input: TranscodeInput, job: number): Promise<Source> {
  const bytes = await readFile(input.path);
  if (bytes.byteLength > MAX_COMPRESSED_INPUT_BYTES) {
    throw noDecoder(
      `The audio is ${Math.round(bytes.byteLength / 1e6)} MB; small copies are made of files up to ` +
        `${MAX_COMPRESSED_INPUT_BYTES / 1024 / 1024} MB. It is still played as uploaded.`,
    );
  }
  const name = `in-${job}`;
  await libav.writeFile(name, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  let fmtCtx = 0;
  let dec: [number, number, number, number] | null = null;
  const cleanup = async () => {
    if (dec) await libav.ff_free_decoder(dec[1], dec[2], dec[3]).catch(() => undefined);
    if (fmtCtx) await libav.avformat_close_input_js(fmtCtx).catch(() => undefined);
    await libav.unlink(name).catch(() => undefined);
  };
  try {
    let streams: { index: number; codec_type: number; codec_id: number; codecpar: number }[];
    try {
      [fmtCtx, streams] = await libav.ff_init_demuxer_file(name);
    } catch (err) {
      throw noDecoder(
        `The audio's container cannot be read for the small 4G copies (${(err as Error).message}); it is ` +
          'still played as uploaded.',
      );
    }
    const stream = streams.find((s) => s.codec_type === libav.AVMEDIA_TYPE_AUDIO);
    if (!stream) throw noDecoder('The file holds no audio stream the decoder can read.');
    let opened: [number, number, number, number];
    try {
      opened = await libav.ff_init_decoder(stream.codec_id, { codecpar: stream.codecpar });
      dec = opened;
    } catch {
      const codecName = await libav.avcodec_get_name(stream.codec_id).catch(() => String(stream.codec_id));
      throw noDecoder(
        `No decoder for ${input.codec ?? codecName} ships with the controller, so no small 4G copy can be ` +
          'made; it is still played as uploaded.',
      );
    }
    const [, c, pkt, frame] = opened;
    let ended = false;
    let inPts = 0;
    /** decodes until some frames come out (or the end) */
    const pull = async (): Promise<Frame[] | null> => {
      while (!ended) {
        const [ret, packets] = await libav.ff_read_frame_multi(fmtCtx, pkt, { limit: READ_CHUNK_BYTES });
        const mine = packets[stream.index] ?? [];
        ended = ret === libav.AVERROR_EOF;
        if (!ended && ret !== 0 && ret !== -libav.EAGAIN) throw new Error(`demuxer error ${ret}`);
        const frames: Frame[] = await libav.ff_decode_multi(c, pkt, frame, mine, {
          fin: ended,
          ignoreErrors: true,
        });
        if (frames.length) return frames;
      }
      return null;
    };
    const first = await pull();
    if (!first) throw noDecoder('The audio holds no decodable sound.');
    const f0 = first[0];
    const channels = libav.ff_channels(f0) as number;
    const format: InputFormat = {
      sampleRate: f0.sample_rate,
      sampleFmt: f0.format,
      channelLayout: (libav.ff_channel_layout(f0) as number) || defaultLayout(channels),
    };
    let pending: Frame[] | null = first;
    return {
      format,
      async next() {
        const frames = pending ?? (await pull());
        pending = null;
        if (!frames) return null;
        // A continuous timeline in input samples, whatever the container's timestamps said.
        for (const f of frames) {
          f.pts = inPts;
          f.ptshi = 0;
          f.time_base_num = 1;
          f.time_base_den = format.sampleRate;
          inPts += f.nb_samples;
        }
        return frames;
      },
      close: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** A job for the transcoder's thread (transcode-worker.ts). */
export type TranscodeJob =
  | { op: 'transcode'; input: TranscodeInput; targets: readonly RenditionTarget[] }
  | { op: 'decode'; input: TranscodeInput; sampleRate: number; maxSeconds: number };

/**
 * The thread for the transcoder: the compiled JS next to this file, or — running from the
 * TypeScript source (tests, `npm run bench`, the tsx CLIs) — the source, loaded through tsx's
 * loader, which a worker thread must register itself (Node 20 does not pass `--import` hooks on to
 * a worker's entry).
 */
function spawnThread(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./transcode-worker.js', import.meta.url));
  const entry = new URL('./transcode-worker.ts', import.meta.url).href;
  const req = createRequire(import.meta.url);
  const pkg = req.resolve('tsx/package.json');
  const api = pathToFileURL(join(dirname(pkg), req(pkg).exports['./esm/api'].import.default)).href;
  const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { eval: true });
}

/** How long one job may take on the thread (30 minutes of audio, the most kept, take ~1 min here). */
const JOB_TIMEOUT_MS = 5 * 60_000;

/**
 * The controller's transcoder: libav.js on a thread of its own (job-thread.ts), so that decoding
 * and encoding a long program never hold up the controller. A job still running after
 * `jobTimeoutMs` (a file that sends the decoder round in circles) fails and its thread is stopped,
 * as when the thread dies (a wasm abort on a hostile file); the audio is then sent as uploaded.
 */
export function createTranscoder(deps: { log: Logger; jobTimeoutMs?: number }): Transcoder {
  const thread = createJobThread({
    spawn: spawnThread,
    timeoutMs: deps.jobTimeoutMs ?? JOB_TIMEOUT_MS,
    onNotice: (m) => {
      const line = m.log as { obj: Record<string, unknown>; msg: string } | undefined;
      if (line) deps.log.info(line.obj, line.msg);
    },
    onError: (err) => deps.log.error({ err: err.message }, 'transcode: the thread failed'),
  });
  const run = <R>(job: TranscodeJob) => thread.run<R>(job);
  return {
    transcode: (input, targets = RENDITION_TARGETS) =>
      run<TranscodeOutput[]>({ op: 'transcode', input, targets }),
    decode: (input, sampleRate, maxSeconds = 600) =>
      run<Float32Array>({ op: 'decode', input, sampleRate, maxSeconds }),
    // A shutdown does not wait long for a job: it is abandoned (its audio gets its copies later).
    close: () => thread.close(2000),
  };
}
