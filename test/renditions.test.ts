/**
 * Speech renditions (issue 9, item 4): the small mono copies made with the real codec library
 * (libav.js), from the real fixtures, stored by content with their rows in SQLite, checked by
 * probing and by decoding them again; and which file each receiver's codecs get.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCliArgs } from '../firmware-sim/cli.js';
import { statusSchema } from '../src/contract/mqtt.js';
import { type AudioLibrary, type AudioRecord, createAudioLibrary } from '../src/domain/audio/library.js';
import { probeAudioFile } from '../src/domain/audio/probe.js';
import { createRenditionService, type RenditionService } from '../src/domain/audio/renditions.js';
import { createTranscoder, RENDITION_TARGETS, type Transcoder } from '../src/domain/audio/transcode.js';
import { pickFile } from '../src/domain/dispatch/pick.js';
import { AppError } from '../src/errors.js';
import { type Db, openDatabase } from '../src/storage/db.js';
import { AUDIO_FIXTURES } from './helpers/audio-app.js';
import { stereoWav, vendorMp3 } from './helpers/renditions.js';

/** Root mean square level and the pitch (from zero crossings) of mono samples. */
function listen(samples: Float32Array, rate: number): { rms: number; hz: number } {
  let sum = 0;
  let crossings = 0;
  for (let i = 0; i < samples.length; i++) {
    sum += samples[i]! * samples[i]!;
    if (i > 0 && samples[i - 1]! < 0 && samples[i]! >= 0) crossings++;
  }
  return { rms: Math.sqrt(sum / Math.max(1, samples.length)), hz: crossings / (samples.length / rate) };
}

let dir: string;
let db: Db;
let lib: AudioLibrary;
let transcoder: Transcoder;
let jobs = 0;
let service: RenditionService;
const log = pino({ level: 'silent' });

/** Puts bytes (or a fixture) into the library. */
async function ingest(what: string | Buffer, filename: string): Promise<AudioRecord> {
  const stream =
    typeof what === 'string' ? createReadStream(join(AUDIO_FIXTURES, what)) : Readable.from([what]);
  return (await lib.ingest({ stream, filename })).audio;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'loalang-renditions-'));
  db = openDatabase(join(dir, 'loalang.db'));
  lib = createAudioLibrary({
    db,
    dataDir: dir,
    urlSecret: randomBytes(32),
    publicUrl: 'http://127.0.0.1:1',
    log,
  });
  const real = createTranscoder({ log });
  // The real transcoder, counting its jobs.
  transcoder = {
    transcode: (input, targets) => {
      jobs++;
      return real.transcode(input, targets);
    },
    decode: (input, rate, max) => real.decode(input, rate, max),
    close: () => real.close(),
  };
  service = createRenditionService({ db, log, audio: lib, dataDir: dir, transcoder, maxDurationMs: 600_000 });
  service.start();
});

afterAll(async () => {
  await service.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('renditions made with libav.js', () => {
  for (const fixture of ['tone.mp3', 'tone.wav', 'tone.ogg', 'tone.webm']) {
    it(`makes Opus/Ogg and MP3, mono, 24–32 kbit/s, as long as the original, the tone still in it: ${fixture}`, async () => {
      const audio = await ingest(fixture, fixture);
      const made = await service.ensure(audio.id);
      expect(made.map((r) => r.codec).sort()).toEqual(['mp3', 'opus']);
      for (const r of made) {
        const path = service.filePath(r);
        const probe = await probeAudioFile(path, r.size, { maxDurationMs: 60_000 });
        expect(probe).toMatchObject({
          mime: r.codec === 'opus' ? 'audio/ogg' : 'audio/mpeg',
          codec: r.codec === 'opus' ? 'Opus' : 'MPEG 2 Layer 3',
          channels: 1,
          sampleRate: 24_000,
        });
        expect(r.channels).toBe(1);
        expect(r.bitrate).toBe(r.codec === 'opus' ? 24_000 : 32_000);
        // The average over the file, headers and container included (a lot for 1.5 s).
        const average = (r.size * 8000) / r.durationMs;
        expect(average).toBeGreaterThanOrEqual(24_000);
        expect(average).toBeLessThanOrEqual(35_000);
        // Within 5 % (or 120 ms: tone.mp3 claims 1584 ms with its encoder padding, the tone is 1500 ms).
        expect(Math.abs(r.durationMs - audio.durationMs!)).toBeLessThanOrEqual(
          Math.max(audio.durationMs! * 0.05, 120),
        );
        // Decoded again: sound, not silence, and still the 440 Hz of the fixture.
        const samples = await transcoder.decode({ path, mime: r.mime, codec: probe.codec }, 16_000);
        expect(samples.length / 16_000).toBeCloseTo(audio.durationMs! / 1000, 0);
        const heard = listen(samples, 16_000);
        // The fixtures' sine has an amplitude of 1/8: an RMS of 0.088.
        expect(heard.rms).toBeGreaterThan(0.06);
        expect(heard.hz).toBeGreaterThan(420);
        expect(heard.hz).toBeLessThan(460);
      }
      // Listed smallest first, and the GET shape has what an officer needs.
      expect(service.list(audio.id).map((r) => r.size)).toEqual(
        made.map((r) => r.size).sort((a, b) => a - b),
      );
    });
  }

  it('are far smaller than the usual 128 kbit/s stereo MP3, made in the background after such an upload', async () => {
    const audio = await ingest(await vendorMp3(transcoder, dir, 440, 6000), 'ban-tin-128k.mp3');
    expect(audio).toMatchObject({ mime: 'audio/mpeg', channels: 2 });
    expect(audio.bitrate).toBeGreaterThan(120_000);
    service.offer(audio); // what the upload route does
    expect(service.busy(audio.id)).toBe(true);
    const made = await service.ensure(audio.id); // joins the running job
    expect(service.busy(audio.id)).toBe(false);
    for (const r of made) expect(r.size).toBeLessThan(audio.size * 0.3);
    const opus = made.find((r) => r.codec === 'opus')!;
    const mp3 = made.find((r) => r.codec === 'mp3')!;
    expect(opus.size).toBeLessThan(mp3.size);
    // A 6 s file: 128 kbit/s is 96 KB; 24 and 32 kbit/s are about a quarter of it.
    expect(audio.size).toBeGreaterThan(90_000);
    expect(mp3.size).toBeLessThan(26_000);
    expect(opus.size).toBeLessThan(21_000);
  });

  it('is idempotent: concurrent calls share one job, later calls make nothing', async () => {
    const audio = await ingest(stereoWav(440, 2000, 22_050), 'idem.wav');
    const before = jobs;
    const [a, b] = await Promise.all([service.ensure(audio.id), service.ensure(audio.id)]);
    expect(jobs).toBe(before + 1);
    expect(b).toEqual(a);
    const again = await service.ensure(audio.id);
    expect(jobs).toBe(before + 1);
    expect(again).toEqual(service.list(audio.id));
    expect(again.map((r) => r.sha256).sort()).toEqual(a.map((r) => r.sha256).sort());
  });

  it('does not offer to shrink small mono speech or AAC in the background', async () => {
    const small = await ingest('tone.mp3', 'small.mp3');
    const aac = await ingest('tone.m4a', 'safari.m4a');
    service.offer(small);
    service.offer(aac);
    expect(service.busy(small.id) || service.busy(aac.id)).toBe(false);
  });

  it('AAC: 415 no_decoder with a message saying what to do, remembered; the original stays the file sent', async () => {
    const aac = await ingest('tone.m4a', 'safari2.m4a');
    const before = jobs;
    const err = await service.ensure(aac.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ statusCode: 415, code: 'no_decoder' });
    expect((err as Error).message).toMatch(/AAC.*played as uploaded.*WAV/s);
    await expect(service.ensure(aac.id)).rejects.toMatchObject({ code: 'no_decoder' });
    expect(service.list(aac.id)).toEqual([]);
    expect(service.files(aac.id)).toEqual([
      expect.objectContaining({ rendition: null, codec: 'aac', sha256: aac.sha256, mime: 'audio/mp4' }),
    ]);
    expect(jobs - before).toBeLessThanOrEqual(1);
  });

  it('refuses audio beyond the duration limit (422), and unknown audio (404)', async () => {
    const short = createRenditionService({
      db,
      log,
      audio: lib,
      dataDir: dir,
      transcoder,
      maxDurationMs: 1000,
    });
    const audio = await ingest(stereoWav(300, 1500, 8000), 'long.wav');
    await expect(short.ensure(audio.id)).rejects.toMatchObject({
      statusCode: 422,
      code: 'rendition_too_long',
    });
    await expect(service.ensure('no-such-audio')).rejects.toMatchObject({ statusCode: 404 });
    // Turned off: nothing is made, nothing fails.
    const off = createRenditionService({ db, log, audio: lib, dataDir: dir, transcoder, maxDurationMs: 0 });
    await expect(off.ensure(audio.id)).resolves.toEqual([]);
  });

  it('drops a rendition whose file was lost, and makes it again', async () => {
    const audio = await ingest(stereoWav(500, 1200, 16_000), 'lost.wav');
    const made = await service.ensure(audio.id);
    const opus = made.find((r) => r.codec === 'opus')!;
    rmSync(service.filePath(opus));
    expect(service.files(audio.id).map((f) => f.codec)).not.toContain('opus');
    const again = await service.ensure(audio.id);
    expect(again.map((r) => r.codec).sort()).toEqual(['mp3', 'opus']);
  });

  it('warms the codec library up without leaving a file behind', async () => {
    await service.warmUp();
    expect(readdirSync(join(dir, 'audio', '.tmp'))).toEqual([]);
  });

  it('removes the renditions of deleted audio at start', async () => {
    const audio = await ingest(stereoWav(600, 1000, 16_000), 'gone.wav');
    const made = await service.ensure(audio.id);
    lib.delete(audio.id);
    createRenditionService({ db, log, audio: lib, dataDir: dir, transcoder, maxDurationMs: 600_000 }).start();
    expect(service.list(audio.id)).toEqual([]);
    for (const r of made) expect(existsSync(service.filePath(r))).toBe(false);
  });
});

describe('the file each receiver is sent', () => {
  const original = { codec: 'pcm', size: 96_000, name: 'original' };
  const opus = { codec: 'opus', size: 18_000, name: 'opus' };
  const mp3 = { codec: 'mp3', size: 24_000, name: 'mp3' };
  const files = [original, opus, mp3];

  it('is the smallest it plays; MP3 when it says nothing; the original when it plays none', () => {
    const cases: [string[] | null, string][] = [
      [['opus'], 'opus'],
      [['mp3'], 'mp3'],
      [['mp3', 'opus'], 'opus'],
      [null, 'mp3'],
      [[], 'mp3'],
      [['pcm'], 'original'],
      [['aac', 'vorbis'], 'original'],
      [['pcm', 'mp3'], 'mp3'],
    ];
    for (const [codecs, expected] of cases)
      expect([codecs, pickFile(files, codecs).name]).toEqual([codecs, expected]);
    // A small original beats a bigger rendition of the same codec.
    const tiny = { codec: 'mp3', size: 3000, name: 'tiny original' };
    expect(pickFile([tiny, opus, mp3], null).name).toBe('tiny original');
    expect(pickFile([tiny, opus, mp3], ['opus']).name).toBe('opus');
    // No renditions: the original, whatever is said.
    expect(pickFile([original], ['opus']).name).toBe('original');
  });

  it('comes from codecs the contract accepts: lower-case names, at most 16', () => {
    const base = { v: 1, state: 'online', session: 1, ts: new Date().toISOString() };
    expect(statusSchema.safeParse({ ...base, codecs: ['mp3', 'opus', 'aac', 'vorbis', 'pcm'] }).success).toBe(
      true,
    );
    expect(statusSchema.safeParse({ ...base, codecs: ['flac'] }).success).toBe(true); // later formats
    expect(statusSchema.safeParse(base).success).toBe(true); // older receivers
    for (const bad of ['mp3', ['MP3'], ['mp3', 3], ['a b'], Array.from({ length: 17 }, (_, i) => `c${i}`)]) {
      expect([bad, statusSchema.safeParse({ ...base, codecs: bad }).success]).toEqual([bad, false]);
    }
  });

  it('the simulator advertises mp3 and opus by default, what --codecs says, or nothing', () => {
    const k = ['--key-file', 'k'];
    expect(parseCliArgs(k)).toMatchObject({ codecs: ['mp3', 'opus'] });
    expect(parseCliArgs([...k, '--codecs', 'opus'])).toMatchObject({ codecs: ['opus'] });
    expect(parseCliArgs([...k, '--codecs', 'pcm, mp3'])).toMatchObject({ codecs: ['pcm', 'mp3'] });
    expect(parseCliArgs([...k, '--codecs', 'none'])).toMatchObject({ codecs: [] });
    expect(() => parseCliArgs([...k, '--codecs', 'MP3'])).toThrow(/--codecs/);
  });
});

it('the targets are the ones documented: Opus 24 kbit/s and MP3 32 kbit/s, mono', () => {
  expect(RENDITION_TARGETS.map((t) => [t.codec, t.bitrate, t.channels ?? 1])).toEqual([
    ['opus', 24_000, 1],
    ['mp3', 32_000, 1],
  ]);
});

describe("the transcoder's thread", () => {
  /**
   * Timer rounds the test's event loop completes while `job` runs: libav.js decodes an MP3 in one
   * stretch of wasm calls, so on the calling thread this stays at a round or two for the whole job.
   */
  async function roundsDuring<T>(job: Promise<T>): Promise<{ result: T; rounds: number }> {
    let rounds = 0;
    let done = false;
    const tick = () => {
      rounds++;
      if (!done) setTimeout(tick, 1);
    };
    setTimeout(tick, 1);
    const result = await job.finally(() => {
      done = true;
    });
    return { result, rounds };
  }

  it('a long job leaves the controller free: its event loop keeps turning while a 30 s MP3 is decoded and encoded', async () => {
    writeFileSync(join(dir, 'long.mp3'), await vendorMp3(transcoder, dir, 330, 30_000));
    const { result, rounds } = await roundsDuring(
      transcoder.transcode({ path: join(dir, 'long.mp3'), mime: 'audio/mpeg', codec: 'MPEG 1 Layer 3' }),
    );
    expect(result.map((o) => o.target.codec)).toEqual(['opus', 'mp3']);
    // 30 s at 24 kHz, give or take the encoder's padding.
    for (const o of result) expect(Math.abs(o.samples - 720_000)).toBeLessThan(24_000);
    // The job takes hundreds of ms; the loop turned all along (on the calling thread: 1 or 2).
    expect(rounds).toBeGreaterThan(20);
  });

  it('stops a job that does not finish in time, with an error saying so', async () => {
    const t = createTranscoder({ log, jobTimeoutMs: 1 });
    writeFileSync(join(dir, 'short.wav'), stereoWav(440, 500));
    const input = { path: join(dir, 'short.wav'), mime: 'audio/wav', codec: 'PCM' };
    // No thread starts, loads libav.js and answers within 1 ms.
    await expect(t.transcode(input)).rejects.toThrow(/did not finish within 0.001 s; it was stopped/);
    await t.close();
  });

  it('is closed for good: a job after close() is refused, not run', async () => {
    const t = createTranscoder({ log });
    writeFileSync(join(dir, 'short.wav'), stereoWav(440, 500));
    const input = { path: join(dir, 'short.wav'), mime: 'audio/wav', codec: 'PCM' };
    expect((await t.transcode(input)).length).toBe(2);
    await t.close();
    await expect(t.transcode(input)).rejects.toThrow(/closed/);
  });
});
