/** Audio for the rendition tests: a stereo WAV made here, and the "vendor" MP3 target. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RenditionTarget, Transcoder } from '../../src/domain/audio/transcode.js';

/** What a vendor's bulletin usually is: MP3 at 128 kbit/s, stereo, 44.1 kHz. */
export const VENDOR_MP3: RenditionTarget = {
  codec: 'mp3',
  mime: 'audio/mpeg',
  encoder: 'libmp3lame',
  muxer: 'mp3',
  sampleRate: 44_100,
  bitrate: 128_000,
  channels: 2,
  options: {},
};

/** A 16-bit stereo PCM WAV: a sine of `hz` on both channels for `ms`. */
export function stereoWav(hz: number, ms: number, rate = 44_100): Buffer {
  const frames = Math.round((rate * ms) / 1000);
  const data = Buffer.alloc(frames * 4);
  for (let i = 0; i < frames; i++) {
    const v = Math.round(Math.sin((2 * Math.PI * hz * i) / rate) * 12_000);
    data.writeInt16LE(v, i * 4);
    data.writeInt16LE(v, i * 4 + 2);
  }
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(2, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 4, 28);
  h.writeUInt16LE(4, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

/**
 * A vendor's MP3 (VENDOR_MP3) of a sine of `hz` lasting `ms`, made by `transcoder` from a stereo WAV
 * it writes in `dir`.
 */
export async function vendorMp3(
  transcoder: Transcoder,
  dir: string,
  hz: number,
  ms: number,
): Promise<Buffer> {
  const wav = join(dir, `vendor-${hz}-${ms}.wav`);
  writeFileSync(wav, stereoWav(hz, ms));
  const [out] = await transcoder.transcode({ path: wav, mime: 'audio/wav', codec: 'PCM' }, [VENDOR_MP3]);
  return Buffer.from(out!.bytes);
}
