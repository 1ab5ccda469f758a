/**
 * Short, real WAV files made in memory (16-bit PCM mono, 8 kHz), so the demo and the bench need no
 * audio file on disk. The controller sniffs content and reads the duration, so they must be genuine.
 */

/** A WAV file holding `samples` (16-bit PCM, mono). */
export function pcm16Wav(samples: Int16Array, sampleRate = 8000): Buffer {
  const data = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16); // fmt chunk size
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28); // byte rate
  header.writeUInt16LE(2, 32); // block align
  header.writeUInt16LE(16, 34); // bits per sample
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

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
