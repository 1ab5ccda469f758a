/**
 * A small WAV (RIFF/WAVE) reader for the renditions: FFmpeg in wasm lacks several of the PCM
 * decoders uploads use (8-bit unsigned, 32-bit integer, A-law, µ-law), and a WAV needs no codec
 * library anyway. Reads the file a chunk at a time and yields mono float samples (the average of
 * the channels), so a long recording never sits whole in memory. Errors are plain `Error`s saying
 * what the file is; the transcoder turns them into its 415.
 *
 * Also the one WAV writer of the project (`encodeWav`: the speech engines' output, the codec
 * warm-up, the demo's tones) and a whole-buffer reader (`decodeWav`) for checking what a speech
 * engine answered.
 */
import type { FileHandle } from 'node:fs/promises';

/** What the `fmt ` and `data` chunks say. */
export interface WavHeader {
  /** 1 PCM, 3 IEEE float, 6 A-law, 7 µ-law (WAVE_FORMAT_EXTENSIBLE resolved to its sub-format) */
  format: 1 | 3 | 6 | 7;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  /** bytes per frame (all channels) */
  blockAlign: number;
  dataOffset: number;
  /** bytes of sample data (bounded by the file's size) */
  dataBytes: number;
}

const FORMATS = new Set([1, 3, 6, 7]);

/** Reads the RIFF header up to the `data` chunk; throws for anything it does not read. */
export async function readWavHeader(fh: FileHandle): Promise<WavHeader> {
  const { size } = await fh.stat();
  const head = Buffer.alloc(12);
  await fh.read(head, 0, 12, 0);
  if (head.toString('ascii', 0, 4) !== 'RIFF' || head.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error('The WAV file has no RIFF/WAVE header (RIFX and RF64 are not read).');
  }
  let pos = 12;
  let fmt: Omit<WavHeader, 'dataOffset' | 'dataBytes'> | null = null;
  const chunk = Buffer.alloc(8);
  // Bounded: each step moves forward by at least 8 bytes within the file.
  while (pos + 8 <= size) {
    await fh.read(chunk, 0, 8, pos);
    const id = chunk.toString('ascii', 0, 4);
    const len = chunk.readUInt32LE(4);
    const body = pos + 8;
    if (id === 'fmt ') {
      const f = Buffer.alloc(Math.min(len, 40));
      await fh.read(f, 0, f.length, body);
      if (f.length < 16) throw new Error('The WAV file has a truncated format chunk.');
      let format = f.readUInt16LE(0);
      // WAVE_FORMAT_EXTENSIBLE: the sub-format GUID starts with the real format tag.
      if (format === 0xfffe && f.length >= 26) format = f.readUInt16LE(24);
      const channels = f.readUInt16LE(2);
      const sampleRate = f.readUInt32LE(4);
      const blockAlign = f.readUInt16LE(12);
      const bitsPerSample = f.readUInt16LE(14);
      const bitsOk =
        format === 1
          ? [8, 16, 24, 32].includes(bitsPerSample)
          : format === 3
            ? bitsPerSample === 32 || bitsPerSample === 64
            : bitsPerSample === 8;
      if (!FORMATS.has(format) || !bitsOk) {
        throw new Error(`WAV format ${format} with ${bitsPerSample}-bit samples is not read here.`);
      }
      if (channels < 1 || channels > 8 || sampleRate < 1000 || sampleRate > 384_000) {
        throw new Error(`A WAV file of ${channels} channels at ${sampleRate} Hz is not read here.`);
      }
      if (blockAlign !== channels * (bitsPerSample / 8)) {
        throw new Error(
          'The WAV format chunk is inconsistent (block size against channels and sample size).',
        );
      }
      fmt = { format: format as WavHeader['format'], channels, sampleRate, bitsPerSample, blockAlign };
    } else if (id === 'data') {
      if (!fmt) throw new Error('The WAV file has its data before its format chunk.');
      // A streamed WAV may say 0 or 0xFFFFFFFF: the rest of the file is the data.
      const rest = size - body;
      const dataBytes = len === 0 || len > rest ? rest : len;
      return { ...fmt, dataOffset: body, dataBytes: dataBytes - (dataBytes % fmt.blockAlign) };
    }
    pos = body + len + (len % 2);
  }
  throw new Error('The WAV file has no data chunk.');
}

/** G.711 A-law and µ-law to linear, −1…1. */
function alaw(v: number): number {
  const a = v ^ 0x55;
  const seg = (a & 0x70) >> 4;
  let t = (a & 0x0f) << 4;
  t = seg === 0 ? t + 8 : ((t + 0x108) << (seg - 1)) >>> 0;
  return (a & 0x80 ? t : -t) / 32768;
}
function ulaw(v: number): number {
  const u = ~v & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return (u & 0x80 ? 0x84 - t : t - 0x84) / 32768;
}

/** One sample at byte `o` of `b`, as −1…1. */
function sampleReader(h: WavHeader): (b: Buffer, o: number) => number {
  if (h.format === 3)
    return h.bitsPerSample === 32 ? (b, o) => b.readFloatLE(o) : (b, o) => b.readDoubleLE(o);
  if (h.format === 6) return (b, o) => alaw(b[o]!);
  if (h.format === 7) return (b, o) => ulaw(b[o]!);
  switch (h.bitsPerSample) {
    case 8:
      return (b, o) => (b[o]! - 128) / 128;
    case 16:
      return (b, o) => b.readInt16LE(o) / 32768;
    case 24:
      return (b, o) => b.readIntLE(o, 3) / 8388608;
    default:
      return (b, o) => b.readInt32LE(o) / 2147483648;
  }
}

/** Yields the data as mono float chunks of at most `frames` samples. */
export async function* wavChunks(fh: FileHandle, h: WavHeader, frames: number): AsyncGenerator<Float32Array> {
  const read = sampleReader(h);
  const width = h.bitsPerSample / 8;
  const buf = Buffer.alloc(frames * h.blockAlign);
  let offset = 0;
  while (offset < h.dataBytes) {
    const want = Math.min(buf.length, h.dataBytes - offset);
    const { bytesRead } = await fh.read(buf, 0, want, h.dataOffset + offset);
    const n = Math.floor(bytesRead / h.blockAlign);
    if (n === 0) return;
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let sum = 0;
      const base = i * h.blockAlign;
      for (let ch = 0; ch < h.channels; ch++) sum += read(buf, base + ch * width);
      out[i] = sum / h.channels;
    }
    yield out;
    offset += n * h.blockAlign;
  }
}

// ---- Whole files in memory: 16-bit mono PCM written by the speech engines, and any PCM WAV read
// back to check it is real audio (what a command or a service answered).

/** A 16-bit mono WAV file of `samples` (floats are clipped to −1…1). */
export function encodeWav(samples: Float32Array | Int16Array, sampleRate: number): Buffer {
  const n = samples.length;
  const out = Buffer.alloc(44 + n * 2);
  out.write('RIFF', 0, 'ascii');
  out.writeUInt32LE(36 + n * 2, 4);
  out.write('WAVE', 8, 'ascii');
  out.write('fmt ', 12, 'ascii');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(1, 20); // PCM
  out.writeUInt16LE(1, 22); // mono
  out.writeUInt32LE(sampleRate, 24);
  out.writeUInt32LE(sampleRate * 2, 28);
  out.writeUInt16LE(2, 32);
  out.writeUInt16LE(16, 34);
  out.write('data', 36, 'ascii');
  out.writeUInt32LE(n * 2, 40);
  if (samples instanceof Int16Array) {
    for (let i = 0; i < n; i++) out.writeInt16LE(samples[i]!, 44 + i * 2);
  } else {
    for (let i = 0; i < n; i++) {
      const v = Math.max(-1, Math.min(1, samples[i]!));
      out.writeInt16LE(Math.round(v < 0 ? v * 0x8000 : v * 0x7fff), 44 + i * 2);
    }
  }
  return out;
}

export interface DecodedWav {
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  /** the first channel, −1…1 */
  samples: Float32Array;
  durationMs: number;
}

/** Reads a WAV file; throws Error saying what is wrong when it is not one. */
export function decodeWav(buf: Buffer): DecodedWav {
  if (buf.length < 12 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE')
    throw new Error('not a RIFF/WAVE file');
  let fmt: { format: number; channels: number; sampleRate: number; bits: number } | null = null;
  let off = 12;
  // Chunks are bounded by the buffer: at most one pass over it.
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    let size = buf.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > buf.length) throw new Error('truncated fmt chunk');
      let format = buf.readUInt16LE(body);
      if (format === 0xfffe && size >= 26) format = buf.readUInt16LE(body + 24); // WAVE_FORMAT_EXTENSIBLE
      fmt = {
        format,
        channels: buf.readUInt16LE(body + 2),
        sampleRate: buf.readUInt32LE(body + 4),
        bits: buf.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (!fmt) throw new Error('data chunk before fmt chunk');
      // streaming writers (a command writing to a pipe) leave 0 or 0xffffffff: up to the end
      if (size === 0 || body + size > buf.length) size = buf.length - body;
      return decodeData(buf.subarray(body, body + size), fmt);
    }
    off = body + size + (size % 2);
  }
  throw new Error('no data chunk');
}

function decodeData(
  data: Buffer,
  fmt: { format: number; channels: number; sampleRate: number; bits: number },
): DecodedWav {
  const { format, channels, sampleRate, bits } = fmt;
  if (channels < 1 || sampleRate < 1000 || sampleRate > 384_000) throw new Error('implausible format');
  const bytes = bits / 8;
  const frame = bytes * channels;
  const frames = Math.floor(data.length / frame);
  const samples = new Float32Array(frames);
  const read =
    format === 3 && bits === 32
      ? (o: number) => data.readFloatLE(o)
      : format === 1 && bits === 16
        ? (o: number) => data.readInt16LE(o) / 0x8000
        : format === 1 && bits === 8
          ? (o: number) => (data.readUInt8(o) - 128) / 128
          : format === 1 && bits === 24
            ? (o: number) => data.readIntLE(o, 3) / 0x800000
            : format === 1 && bits === 32
              ? (o: number) => data.readInt32LE(o) / 0x80000000
              : null;
  if (!read) throw new Error(`unsupported WAV encoding (format ${format}, ${bits} bits)`);
  for (let i = 0; i < frames; i++) samples[i] = read(i * frame);
  return { sampleRate, channels, bitsPerSample: bits, samples, durationMs: (frames / sampleRate) * 1000 };
}

/** Root mean square of `samples` (−1…1): 0 for silence, ~0.1 for speech at a normal level. */
export function rms(samples: Float32Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return samples.length ? Math.sqrt(sum / samples.length) : 0;
}
