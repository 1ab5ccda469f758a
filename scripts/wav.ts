/**
 * Short, real WAV files made in memory (16-bit PCM mono, 8 kHz), so the demo and the bench need no
 * audio file on disk. The controller sniffs content and reads the duration, so they must be genuine.
 */
import { encodeWav } from '../src/domain/audio/wav.js';

/** A WAV file holding `samples` (16-bit PCM, mono). */
export const pcm16Wav = (samples: Int16Array, sampleRate = 8000): Buffer => encodeWav(samples, sampleRate);

/** A two-tone chime of `seconds`. */
export function chimeWav(seconds: number, sampleRate = 8000): Buffer {
  const samples = new Int16Array(Math.round(seconds * sampleRate));
  for (let i = 0; i < samples.length; i++) {
    const t = i / sampleRate;
    const freq = t % 1 < 0.5 ? 880 : 660;
    const envelope = Math.min(1, (t % 0.5) * 20) * Math.exp(-(t % 0.5) * 4);
    samples[i] = Math.round(Math.sin(2 * Math.PI * freq * t) * envelope * 12000);
  }
  return pcm16Wav(samples, sampleRate);
}

/** A 440 Hz tone of `ms` milliseconds. */
export function toneWav(ms: number, sampleRate = 8000): Buffer {
  const samples = new Int16Array(Math.round((sampleRate * ms) / 1000));
  for (let i = 0; i < samples.length; i++) {
    samples[i] = Math.round(Math.sin((2 * Math.PI * 440 * i) / sampleRate) * 12_000);
  }
  return pcm16Wav(samples, sampleRate);
}
