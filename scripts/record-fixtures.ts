/**
 * Re-makes the browser-recording fixtures in `test/fixtures/audio/recorded/` (see the README there):
 * a Vietnamese sentence spoken by eSpeak NG (wasm) becomes Chromium's fake microphone, and a page on
 * a loopback HTTP server records it with MediaRecorder in each audio format Chromium can record.
 * Formats Chromium cannot record (Firefox's Ogg/Opus, Safari's MP4/AAC) are made with mediabunny
 * from real encoded packets, as the README says. Needs Debian's `/usr/bin/chromium` (never downloads
 * a browser). Run: `npx tsx scripts/record-fixtures.ts` (about 20 s).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ALL_FORMATS,
  BufferSource,
  BufferTarget,
  Conversion,
  Input,
  Mp4OutputFormat,
  OggOutputFormat,
  Output,
} from 'mediabunny';
import { chromium } from 'playwright-core';
import { pcm16Wav } from './wav.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const FIXTURES = join(HERE, '..', 'test', 'fixtures', 'audio');
const OUT = join(FIXTURES, 'recorded');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** What the fake microphone says: a short village bulletin (about 3 s). */
export const SPOKEN = 'Thông báo khẩn. Mưa lớn kéo dài, bà con không ra đồng.';

interface EspeakWorker {
  set_voice(name: string): void;
  get_samplerate(): number;
  synthesize(text: string, cb: (samples: Int16Array) => boolean): void;
}

/** `text` spoken by eSpeak NG's Vietnamese voice, as 16-bit mono WAV at its 22.05 kHz. */
async function speak(text: string): Promise<Buffer> {
  // The package ships no types: imported through a string, typed here by what is used.
  const name: string = '@echogarden/espeak-ng-emscripten';
  const init = (
    (await import(name)) as { default: () => Promise<{ eSpeakNGWorker: new () => EspeakWorker }> }
  ).default;
  const worker = new (await init()).eSpeakNGWorker();
  worker.set_voice('vi');
  const chunks: Int16Array[] = [];
  worker.synthesize(text, (samples) => {
    chunks.push(samples);
    return false; // false: go on
  });
  const all = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return pcm16Wav(all, worker.get_samplerate());
}

// The page a phone UI would be: getUserMedia, MediaRecorder with a timeslice, the blob's bytes.
const PAGE = `<!doctype html><meta charset="utf-8"><title>record</title><script>
window.record = async (mimeType, ms) => {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1 } });
  const rec = new MediaRecorder(stream, { mimeType, audioBitsPerSecond: 32000 });
  const parts = [];
  rec.ondataavailable = (e) => { if (e.data.size > 0) parts.push(e.data); };
  const stopped = new Promise((resolve) => { rec.onstop = resolve; });
  rec.start(1000);
  await new Promise((resolve) => setTimeout(resolve, ms));
  rec.stop();
  await stopped;
  stream.getTracks().forEach((t) => t.stop());
  const blob = new Blob(parts, { type: rec.mimeType });
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return { mimeType: rec.mimeType, base64: btoa(s) };
};
</script>`;

/** One MediaRecorder take: what the browser said it wrote, and the bytes. */
interface Take {
  mimeType: string;
  bytes: Buffer;
}

/** Records `ms` of the fake microphone (which plays `wavPath` in a loop) in each of `mimeTypes`. */
async function recordInChromium(wavPath: string, takes: { mimeType: string; ms: number }[]): Promise<Take[]> {
  const server = createServer((_req, res) => {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(PAGE);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      `--use-file-for-fake-audio-capture=${wavPath}`,
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    console.log(`Chromium ${browser.version()}`);
    const out: Take[] = [];
    for (const take of takes) {
      const supported = await page.evaluate(
        (t) =>
          (
            globalThis as unknown as { MediaRecorder: { isTypeSupported(t: string): boolean } }
          ).MediaRecorder.isTypeSupported(t),
        take.mimeType,
      );
      if (!supported) throw new Error(`this Chromium cannot record ${take.mimeType}`);
      const r = await page.evaluate(
        ([t, ms]) =>
          (
            globalThis as unknown as {
              record(t: string, ms: number): Promise<{ mimeType: string; base64: string }>;
            }
          ).record(t, ms),
        [take.mimeType, take.ms] as const,
      );
      out.push({ mimeType: r.mimeType, bytes: Buffer.from(r.base64, 'base64') });
    }
    return out;
  } finally {
    await browser.close();
    server.close();
  }
}

/** The encoded packets of `bytes` copied (never re-encoded) into a new container. */
async function remux(bytes: Buffer, format: OggOutputFormat | Mp4OutputFormat): Promise<Buffer> {
  const input = new Input({ source: new BufferSource(bytes), formats: ALL_FORMATS });
  const output = new Output({ format, target: new BufferTarget() });
  const conversion = await Conversion.init({ input, output, showWarnings: false });
  if (!conversion.isValid) throw new Error(`cannot remux: ${JSON.stringify(conversion.discardedTracks)}`);
  await conversion.execute();
  input.dispose();
  return Buffer.from(output.target.buffer!);
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'loalang-record-'));
  try {
    const wavPath = join(work, 'speech.wav');
    writeFileSync(wavPath, await speak(SPOKEN));
    const [webm, mp4, oggSource, pcm] = await recordInChromium(wavPath, [
      { mimeType: 'audio/webm;codecs=opus', ms: 3000 },
      { mimeType: 'audio/mp4;codecs=opus', ms: 3000 },
      // a second take, so the Firefox-like Ogg is not the same bytes the controller makes of the first
      { mimeType: 'audio/webm;codecs=opus', ms: 2500 },
      // raw PCM in WebM, which the controller refuses (415): a fraction of a second is enough
      { mimeType: 'audio/webm;codecs=pcm', ms: 300 },
    ]);
    mkdirSync(OUT, { recursive: true });
    const files: [string, Buffer, string][] = [
      ['chrome-webm-opus.webm', webm!.bytes, `Chromium MediaRecorder ${webm!.mimeType}`],
      ['chrome-mp4-opus.mp4', mp4!.bytes, `Chromium MediaRecorder ${mp4!.mimeType}`],
      [
        'firefox-like-ogg-opus.ogg',
        await remux(oggSource!.bytes, new OggOutputFormat()),
        `Chromium MediaRecorder ${oggSource!.mimeType}, Opus packets copied into Ogg by mediabunny`,
      ],
      [
        'safari-like-mp4-aac.mp4',
        await remux(
          readFileSync(join(FIXTURES, 'tone.m4a')),
          new Mp4OutputFormat({ fastStart: 'fragmented', minimumFragmentDuration: 0.5 }),
        ),
        'AAC packets of ../tone.m4a copied into a fragmented MP4 by mediabunny',
      ],
      ['chrome-webm-pcm.webm', pcm!.bytes, `Chromium MediaRecorder ${pcm!.mimeType}`],
    ];
    for (const [name, bytes, how] of files) {
      writeFileSync(join(OUT, name), bytes);
      console.log(`${name}: ${bytes.length} B (${how})`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
