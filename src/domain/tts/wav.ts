/**
 * RIFF/WAVE PCM, the one format every provider's samples are stored in: 16-bit mono little-endian,
 * a 44-byte header. `decodeWav` reads back what this writes, and what a command or a service
 * answered (PCM 8/16/24/32-bit or 32-bit float, any channel count), to check it is real audio.
 */

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
