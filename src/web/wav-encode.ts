/**
 * Browser side of a phone recording (runs in the page, not in the controller; no imports, no DOM
 * types needed to compile). MediaRecorder gives WebM/Opus (Chrome, Android), Ogg/Opus (Firefox)
 * or MP4/AAC (Safari). The controller takes all of them, but no decoder on npm reads AAC, so it
 * cannot make the small speech renditions of an MP4/AAC recording (4G bulletins; 415 there). The
 * page therefore decodes such a recording itself (`decodeAudioData` reads whatever the browser can
 * play) and uploads 16 kHz mono WAV instead: about 32 KB per second, encoded again by the server.
 *
 * ```ts
 * const mimeType = pickRecorderMime((t) => MediaRecorder.isTypeSupported(t));
 * const rec = new MediaRecorder(stream, mimeType ? { mimeType } : {});
 * // … collect the chunks into `blob`, then:
 * const upload = needsWav(rec.mimeType)
 *   ? new Blob([await recordingToWav(await blob.arrayBuffer())], { type: 'audio/wav' })
 *   : blob;
 * form.append('file', upload, needsWav(rec.mimeType) ? 'ghi-am.wav' : `ghi-am.${extensionFor(rec.mimeType)}`);
 * ```
 */

/** MediaRecorder types in the order a phone page should ask for them: Opus first (small, remuxable). */
export const RECORDER_MIME_TYPES = [
  'audio/webm;codecs=opus',
  'audio/ogg;codecs=opus',
  'audio/mp4;codecs=opus',
  'audio/mp4',
] as const;

/** The first of RECORDER_MIME_TYPES the browser records, or null (then let the browser choose). */
export function pickRecorderMime(isTypeSupported: (mimeType: string) => boolean): string | null {
  return RECORDER_MIME_TYPES.find((t) => isTypeSupported(t)) ?? null;
}

/**
 * Whether a recording of `mimeType` (MediaRecorder's `mimeType` after start) should be sent as
 * WAV: an MP4 that does not say it holds Opus (Safari writes `audio/mp4` with AAC).
 */
export function needsWav(mimeType: string): boolean {
  const t = mimeType.toLowerCase();
  return t.startsWith('audio/mp4') || t.startsWith('video/mp4') ? !/opus/.test(t) : false;
}

/** A file extension for an upload of `mimeType` (the server judges the content, not the name). */
export function extensionFor(mimeType: string): string {
  const t = mimeType.toLowerCase();
  if (t.includes('webm')) return 'webm';
  if (t.includes('ogg')) return 'ogg';
  if (t.includes('mp4')) return 'm4a';
  if (t.includes('wav')) return 'wav';
  return 'bin';
}

/**
 * A WAV file (RIFF, 16-bit PCM, mono) of `samples` in [-1, 1] at `sampleRate` Hz; values outside
 * are clipped.
 */
export function encodeWav(samples: Float32Array, sampleRate: number): Uint8Array {
  if (!Number.isInteger(sampleRate) || sampleRate < 1) throw new RangeError(`bad sample rate ${sampleRate}`);
  const dataBytes = samples.length * 2;
  const out = new Uint8Array(44 + dataBytes);
  const view = new DataView(out.buffer);
  const ascii = (at: number, s: string) => {
    for (let i = 0; i < s.length; i++) out[at + i] = s.charCodeAt(i);
  };
  ascii(0, 'RIFF');
  view.setUint32(4, 36 + dataBytes, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  view.setUint32(16, 16, true); // fmt chunk size
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true); // byte rate
  view.setUint16(32, 2, true); // block align
  view.setUint16(34, 16, true); // bits per sample
  ascii(36, 'data');
  view.setUint32(40, dataBytes, true);
  for (let i = 0; i < samples.length; i++) {
    const x = Math.max(-1, Math.min(1, samples[i] ?? 0));
    view.setInt16(44 + i * 2, x < 0 ? Math.round(x * 0x8000) : Math.round(x * 0x7fff), true);
  }
  return out;
}

/** The parts of the Web Audio API used here (the page's globals), typed without the DOM lib. */
interface DecodedAudio {
  readonly duration: number;
}
interface RenderedAudio {
  getChannelData(channel: number): Float32Array;
}
interface WebAudio {
  AudioContext: new () => {
    decodeAudioData(bytes: ArrayBuffer): Promise<DecodedAudio>;
    close(): Promise<void>;
  };
  OfflineAudioContext: new (
    channels: number,
    length: number,
    sampleRate: number,
  ) => {
    createBufferSource(): { buffer: DecodedAudio | null; connect(node: unknown): void; start(): void };
    destination: unknown;
    startRendering(): Promise<RenderedAudio>;
  };
}

/**
 * Decodes a recording in the browser and returns it as mono WAV at `sampleRate` (default 16 kHz,
 * plenty for speech): the Web Audio API mixes the channels down and resamples. Rejects when the
 * browser cannot decode the bytes.
 */
export async function recordingToWav(
  bytes: ArrayBuffer,
  opts: { sampleRate?: number } = {},
): Promise<Uint8Array> {
  const rate = opts.sampleRate ?? 16_000;
  const web = globalThis as unknown as WebAudio;
  const ctx = new web.AudioContext();
  let decoded: DecodedAudio;
  try {
    decoded = await ctx.decodeAudioData(bytes);
  } finally {
    await ctx.close();
  }
  const length = Math.max(1, Math.ceil(decoded.duration * rate));
  const offline = new web.OfflineAudioContext(1, length, rate);
  const source = offline.createBufferSource();
  source.buffer = decoded;
  source.connect(offline.destination);
  source.start();
  const rendered = await offline.startRendering();
  return encodeWav(rendered.getChannelData(0), rate);
}
