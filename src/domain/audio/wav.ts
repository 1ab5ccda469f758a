/**
 * A small WAV (RIFF/WAVE) reader for the renditions: FFmpeg in wasm lacks several of the PCM
 * decoders uploads use (8-bit unsigned, 32-bit integer, A-law, µ-law), and a WAV needs no codec
 * library anyway. Reads the file a chunk at a time and yields mono float samples (the average of
 * the channels), so a long recording never sits whole in memory. Errors are plain `Error`s saying
 * what the file is; the transcoder turns them into its 415.
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
