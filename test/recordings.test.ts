/**
 * Browser recordings (issue 9, item 2) on real parts: the files Debian's Chromium recorded with
 * MediaRecorder (and the Firefox- and Safari-like ones made from real packets, see
 * fixtures/audio/recorded/README.md) go through POST /api/audio of a real controller, a simulated
 * receiver downloads and plays one, and real Chromium decodes what the controller stores and runs
 * the phone page's WAV path (decodeAudioData → WAV → upload).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseBuffer } from 'music-metadata';
import type { Browser, Page } from 'playwright-core';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, fetchTrustedKeys, startFleet } from '../firmware-sim/index.js';
import type { AudioRecord } from '../src/domain/audio/library.js';
import { encodeWav, extensionFor, needsWav, pickRecorderMime } from '../src/web/wav-encode.js';
import { hasChromium, launchBrowser } from './helpers/browser.js';
import { startTestController, type TestController } from './helpers/controller.js';
import { waitFor } from './helpers/wait.js';

const RECORDED = new URL('./fixtures/audio/recorded/', import.meta.url);
const bytesOf = (name: string) => readFileSync(new URL(name, RECORDED));
const sha256 = (b: Buffer | Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Each browser's format: the take's length, what the library stores, whether it had to remux. */
const RECORDINGS = [
  {
    file: 'chrome-webm-opus.webm',
    browser: 'Chrome/Android',
    ms: 3000,
    mime: 'audio/ogg',
    from: 'audio/webm',
  },
  { file: 'chrome-mp4-opus.mp4', browser: 'Chrome (MP4)', ms: 3000, mime: 'audio/ogg', from: 'audio/mp4' },
  { file: 'firefox-like-ogg-opus.ogg', browser: 'Firefox', ms: 2500, mime: 'audio/ogg', from: null },
  // The AAC packets of a 1.5 s tone (no AAC encoder here), fragmented as Safari writes them.
  { file: 'safari-like-mp4-aac.mp4', browser: 'Safari', ms: 1500, mime: 'audio/mp4', from: 'audio/mp4' },
] as const;

interface Bulletin {
  id: string;
  summary: { total: number; finished: number };
  deliveries: { receiverId: string; state: string }[];
}

/** The page a phone UI would serve: it loads the browser helper as a module. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>ghi âm</title>
<script type="module">import * as wav from '/wav-encode.js'; window.wav = wav;</script>`;

/** src/web/wav-encode.ts as the browser gets it: the TypeScript compiler's ES module output. */
function browserModule(): string {
  const source = readFileSync(new URL('../src/web/wav-encode.ts', import.meta.url), 'utf8');
  return ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
  }).outputText;
}

describe('browser recordings', () => {
  let tc: TestController;
  let fleet: Fleet;
  let pageServer: Server;
  let pageUrl = '';
  let zoneId = '';
  const stored = new Map<string, AudioRecord>();
  let browser: Browser | undefined;
  let page: Page;

  beforeAll(async () => {
    const js = browserModule();
    pageServer = createServer((req, res) => {
      if (req.url === '/wav-encode.js') {
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(js);
      } else if (req.url === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => pageServer.listen(0, '127.0.0.1', r));
    pageUrl = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;
    // The page uploads from its own origin, as a phone UI on another host would.
    tc = await startTestController({ CORS_ORIGINS: pageUrl });
    const z = await tc.api<{ id: string }>('POST', '/api/zones', { name: 'Thôn Đồng Bùa' });
    zoneId = z.body.id;
    await tc.register('rec-01', zoneId);
    fleet = await startFleet({
      count: 1,
      idPrefix: 'rec',
      brokerUrl: tc.mqttUrl,
      trustedKeys: await fetchTrustedKeys(`${tc.url}/api/system/signing-key`),
      timeFactor: 0.05,
      configure: (id) => tc.sim(id),
    });
    await fleet.receivers[0]!.waitForConfig((c) => c.adopted);
    await waitFor('rec-01 online', () => tc.isOnline('rec-01'));
    if (hasChromium) {
      browser = await launchBrowser();
      page = await browser.newPage();
      await page.goto(`${pageUrl}/`);
      await page.waitForFunction(() => 'wav' in globalThis, null, { timeout: 10_000 });
    }
  });

  afterAll(async () => {
    await browser?.close();
    await fleet?.stop();
    await tc?.stop();
    await new Promise((r) => pageServer?.close(r));
  });

  it.each(RECORDINGS)(
    'accepts a $browser recording ($file) with its length, keeping the original',
    async (rec) => {
      const bytes = bytesOf(rec.file);
      const up = await tc.upload(bytes, `ghi-am.${rec.file.split('.').pop()}`, `Ghi âm ${rec.browser}`);
      expect(up.status).toBe(201);
      const audio = tc.controller.audio.require(up.audio.id);
      stored.set(rec.file, audio);
      expect(audio.mime).toBe(rec.mime);
      expect(Math.abs(audio.durationMs! - rec.ms), `${audio.durationMs} ms`).toBeLessThanOrEqual(150);

      // What receivers download: the stored bytes, with a length of their own in the container.
      const res = await fetch(`${tc.url}/api/audio/${audio.id}/content`, {
        headers: { authorization: `Bearer ${tc.token}` },
      });
      expect(res.status).toBe(200);
      const served = Buffer.from(await res.arrayBuffer());
      expect(sha256(served)).toBe(audio.sha256);
      const meta = (await parseBuffer(served, { mimeType: audio.mime }, { duration: true })).format;
      expect(meta.duration! * 1000).toBeCloseTo(audio.durationMs!, -1);

      if (rec.from === null) {
        // Already playable as it came: stored as is, no second copy.
        expect(audio.sha256).toBe(sha256(bytes));
        expect(audio).toMatchObject({ source: 'upload', original: null });
        const none = await tc.api('GET', `/api/audio/${audio.id}/original`);
        expect(none.status).toBe(404);
        return;
      }
      expect(audio.sha256).not.toBe(sha256(bytes));
      expect(audio.source).toBe('recording');
      expect(audio.original!.sha256).toBe(sha256(bytes));
      expect(audio.original!.mime.startsWith(rec.from)).toBe(true);
      expect(readFileSync(tc.controller.audio.originalPath(audio)!).equals(bytes)).toBe(true);
      // ... and through the API: the record says so, the original is served as it arrived.
      const api = await tc.api<{ source: string; original: { sha256: string } | null }>(
        'GET',
        `/api/audio/${audio.id}`,
      );
      expect(api.body).toMatchObject({ source: 'recording', original: { sha256: sha256(bytes) } });
      const orig = await fetch(`${tc.url}/api/audio/${audio.id}/original`, {
        headers: { authorization: `Bearer ${tc.token}` },
      });
      expect(orig.status).toBe(200);
      expect(orig.headers.get('content-type')).toContain(audio.original!.mime.split(';')[0]);
      expect(Buffer.from(await orig.arrayBuffer()).equals(bytes)).toBe(true);
      const row = tc.controller.db
        .prepare('SELECT source, original_sha256, original_mime FROM audio WHERE id = ?')
        .get(audio.id);
      expect(row).toEqual({
        source: 'recording',
        original_sha256: sha256(bytes),
        original_mime: audio.original!.mime,
      });
    },
  );

  it('takes the same recording sent twice as the same audio', async () => {
    const again = await tc.upload(bytesOf('chrome-webm-opus.webm'), 'lai.webm');
    expect(again.status).toBe(200);
    expect(again.audio.id).toBe(stored.get('chrome-webm-opus.webm')!.id);
  });

  it('plays a remuxed Chrome recording on a receiver: the bytes it downloaded are the stored file', async () => {
    const audio = stored.get('chrome-webm-opus.webm')!;
    const res = await tc.api<Bulletin>('POST', '/api/bulletins', {
      title: 'Ghi âm khẩn',
      audioId: audio.id,
      target: { zones: [zoneId] },
      // (one village is every village here: emergency and priority would ask for the PIN)
      priority: 'normal',
    });
    expect(res.status).toBe(201);
    const done = await waitFor('bulletin finished', async () => {
      const b = (await tc.api<Bulletin>('GET', `/api/bulletins/${res.body.id}`)).body;
      return b.summary.finished === b.summary.total ? b : null;
    });
    expect(done.deliveries).toEqual([expect.objectContaining({ receiverId: 'rec-01', state: 'done' })]);
    const played = fleet.receivers[0]!.played.filter((p) => p.bulletinId === res.body.id);
    expect(played).toHaveLength(1);
    // The stored file, or one of its speech renditions should the controller choose one.
    const renditions = tc.controller.db
      .prepare<[string], { sha256: string }>('SELECT sha256 FROM audio_renditions WHERE audio_id = ?')
      .all(audio.id)
      .map((r) => r.sha256);
    expect([audio.sha256, ...renditions]).toContain(played[0]!.sha256);
  });

  it('refuses a format it cannot handle with 415 saying what to do, and stores nothing', async () => {
    const before = (await tc.api<{ items: unknown[] }>('GET', '/api/audio')).body.items.length;
    // Chromium's MediaRecorder "audio/webm;codecs=pcm": 32-bit float PCM, written as Matroska.
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(bytesOf('chrome-webm-pcm.webm'))]), 'ghi-am.webm');
    const res = await fetch(`${tc.url}/api/audio`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tc.token}` },
      body: form,
    });
    expect(res.status).toBe(415);
    const body = (await res.json()) as { error: string; message: string };
    expect(body.error).toBe('unsupported_media');
    expect(body.message).toContain('record with "audio/webm;codecs=opus", or upload WAV');
    expect((await tc.api<{ items: unknown[] }>('GET', '/api/audio')).body.items.length).toBe(before);
  });

  it('tells the phone page which recorder type to use and when to send WAV', () => {
    expect(pickRecorderMime((t) => t !== 'audio/webm;codecs=opus')).toBe('audio/ogg;codecs=opus');
    expect(pickRecorderMime((t) => t === 'audio/mp4')).toBe('audio/mp4');
    expect(pickRecorderMime(() => false)).toBeNull();
    expect(['audio/mp4', 'audio/mp4;codecs=mp4a.40.2', 'video/mp4'].map(needsWav)).toEqual([
      true,
      true,
      true,
    ]);
    expect(
      ['audio/webm;codecs=opus', 'audio/ogg; codecs=opus', 'audio/mp4;codecs=opus'].map(needsWav),
    ).toEqual([false, false, false]);
    expect(['audio/webm;codecs=opus', 'audio/ogg', 'audio/mp4', 'audio/wav'].map(extensionFor)).toEqual([
      'webm',
      'ogg',
      'm4a',
      'wav',
    ]);
  });

  it('stores the WAV that encodeWav writes: 16-bit mono at its rate, full scale clipped', async () => {
    const rate = 16_000;
    const samples = Float32Array.from(
      { length: rate },
      (_, i) => 1.5 * Math.sin((2 * Math.PI * 440 * i) / rate),
    );
    const wav = encodeWav(samples, rate);
    expect(wav.length).toBe(44 + 2 * rate);
    expect(Buffer.from(wav).readInt16LE(44 + 2 * 9)).toBe(0x7fff); // 1.5·sin(…) past full scale
    const up = await tc.upload(Buffer.from(wav), 'sine.wav');
    expect(up.status).toBe(201);
    expect(tc.controller.audio.require(up.audio.id)).toMatchObject({
      mime: 'audio/wav',
      durationMs: 1000,
      sampleRate: rate,
      channels: 1,
    });
  });

  describe.skipIf(!hasChromium)('in Debian’s Chromium', () => {
    it('decodes every stored recording to sound (not silence) of its length', async () => {
      for (const rec of RECORDINGS) {
        const audio = stored.get(rec.file)!;
        const heard = await page.evaluate(
          async ({ url, token }) => {
            const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
            const web = globalThis as unknown as {
              AudioContext: new () => {
                decodeAudioData(
                  b: ArrayBuffer,
                ): Promise<{ duration: number; getChannelData(c: number): Float32Array }>;
              };
            };
            const decoded = await new web.AudioContext().decodeAudioData(await res.arrayBuffer());
            const x = decoded.getChannelData(0);
            let sum = 0;
            for (const v of x) sum += v * v;
            return { durationMs: decoded.duration * 1000, rms: Math.sqrt(sum / x.length) };
          },
          { url: `${tc.url}/api/audio/${audio.id}/content`, token: tc.token },
        );
        expect(Math.abs(heard.durationMs - audio.durationMs!), rec.file).toBeLessThanOrEqual(100);
        expect(heard.rms, rec.file).toBeGreaterThan(0.05);
      }
    });

    it('turns a Safari MP4/AAC recording into WAV in the page and uploads it: accepted, same length', async () => {
      const bytes = bytesOf('safari-like-mp4-aac.mp4');
      const result = await page.evaluate(
        async ({ b64, api, token }) => {
          const w = (globalThis as unknown as { wav: typeof import('../src/web/wav-encode.js') }).wav;
          const recording = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          if (!w.needsWav('audio/mp4')) throw new Error('Safari MP4 should go as WAV');
          const wav = await w.recordingToWav(recording.buffer);
          const form = new FormData();
          form.append(
            'file',
            new Blob([wav as Uint8Array<ArrayBuffer>], { type: 'audio/wav' }),
            'ghi-am.wav',
          );
          const res = await fetch(`${api}/api/audio`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}` },
            body: form,
          });
          return {
            status: res.status,
            body: (await res.json()) as { audio: { id: string } },
            size: wav.length,
          };
        },
        { b64: bytes.toString('base64'), api: tc.url, token: tc.token },
      );
      expect(result.status).toBe(201);
      const audio = tc.controller.audio.require(result.body.audio.id);
      expect(audio).toMatchObject({ mime: 'audio/wav', sampleRate: 16_000, channels: 1, source: 'upload' });
      expect(audio.size).toBe(result.size);
      expect(Math.abs(audio.durationMs! - 1500)).toBeLessThanOrEqual(100);
    });
  });
});
