import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decideRange, ifRangeAllows, noneMatch } from '../src/domain/audio/http-range.js';
import { createAudioLibrary } from '../src/domain/audio/library.js';
import { audioSignature } from '../src/domain/audio/signed-url.js';
import { AppError } from '../src/errors.js';
import { AUDIO_FIXTURES, audioFilesOnDisk, createTestLibrary } from './helpers/audio-app.js';

const fixture = (name: string) => join(AUDIO_FIXTURES, name);
const sha256 = (buf: Buffer) => createHash('sha256').update(buf).digest('hex');

/** The AppError `p` rejects with (fails the test when it resolves). */
async function appError(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

describe('audio library', () => {
  let t: ReturnType<typeof createTestLibrary>;
  beforeEach(() => {
    t = createTestLibrary();
  });
  afterEach(() => t.close());

  const ingestFixture = (name: string, extra: { name?: string; userId?: string } = {}) =>
    t.lib.ingest({ stream: createReadStream(fixture(name)), filename: name, ...extra });

  it('stores a file by its sha256 with the probed metadata, and lists, gets and requires it', async () => {
    const bytes = readFileSync(fixture('tone.wav'));
    const { audio, created } = await ingestFixture('tone.wav', { name: ' Thông báo  ', userId: 'u1' });
    expect(created).toBe(true);
    expect(audio).toMatchObject({
      sha256: sha256(bytes),
      name: 'Thông báo',
      mime: 'audio/wav',
      codec: 'PCM',
      sampleRate: 8000,
      channels: 1,
      size: bytes.length,
      createdBy: 'u1',
    });
    const path = t.lib.filePath(audio);
    expect(path).toBe(join(t.dataDir, 'audio', audio.sha256.slice(0, 2), audio.sha256));
    expect(readFileSync(path).equals(bytes)).toBe(true);
    expect(audioFilesOnDisk(t.dataDir)).toEqual([join(audio.sha256.slice(0, 2), audio.sha256)]);
    expect(t.lib.get(audio.id)).toEqual(audio);
    expect(t.lib.require(audio.id)).toEqual(audio);
    expect(t.lib.list()).toEqual([audio]);
    const row = t.db.prepare('SELECT duration_ms, deleted_at FROM audio WHERE id = ?').get(audio.id);
    expect(row).toEqual({ duration_ms: 1500, deleted_at: null });
  });

  it('defaults the display name to the file name without directories', async () => {
    const { audio } = await t.lib.ingest({
      stream: createReadStream(fixture('tone.ogg')),
      filename: 'C:\\recordings\\bản tin sáng.ogg',
    });
    expect(audio.name).toBe('bản tin sáng.ogg');
    expect(t.lib.rename(audio.id, 'Bản tin').name).toBe('Bản tin');
  });

  it('lists newest first and hides deleted audio', async () => {
    const a = (await ingestFixture('tone.mp3')).audio;
    const b = (await ingestFixture('tone.ogg')).audio;
    expect(t.lib.list().map((x) => x.id)).toEqual([b.id, a.id]);
    t.lib.delete(a.id);
    expect(t.lib.list().map((x) => x.id)).toEqual([b.id]);
    expect(t.lib.get(a.id)).toBeNull();
    expect(() => t.lib.require(a.id)).toThrow(`Audio "${a.id}" does not exist`);
    expect(() => t.lib.delete(a.id)).toThrow(AppError);
  });

  it('restores a deleted audio, same id, when its bytes are uploaded again', async () => {
    const first = (await ingestFixture('tone.mp3', { name: 'old' })).audio;
    t.lib.delete(first.id);
    expect(existsSync(t.lib.filePath(first))).toBe(false);
    expect(t.db.prepare('SELECT deleted_at FROM audio WHERE id = ?').get(first.id)).toEqual({
      deleted_at: expect.any(String),
    });
    const again = await ingestFixture('tone.mp3', { name: 'new' });
    expect(again.created).toBe(true);
    expect(again.audio).toMatchObject({ id: first.id, name: 'new', sha256: first.sha256 });
    expect(existsSync(t.lib.filePath(again.audio))).toBe(true);
    expect(t.db.prepare('SELECT count(*) AS n FROM audio').get()).toEqual({ n: 1 });
  });

  it('puts back a lost file when its bytes are uploaded again', async () => {
    const { audio } = await ingestFixture('tone.webm');
    rmSync(t.lib.filePath(audio));
    const again = await ingestFixture('tone.webm');
    expect(again).toEqual({ audio, created: false });
    expect(readFileSync(t.lib.filePath(audio)).equals(readFileSync(fixture('tone.webm')))).toBe(true);
  });

  it('refuses an empty upload, leaving nothing behind', async () => {
    const empty = await appError(t.lib.ingest({ stream: Readable.from([]), filename: 'x.mp3' }));
    expect([empty.statusCode, empty.code]).toEqual([400, 'empty_file']);
    expect(audioFilesOnDisk(t.dataDir)).toEqual([]);
    expect(t.db.prepare('SELECT count(*) AS n FROM audio').get()).toEqual({ n: 0 });
  });

  it('remuxes a WebM without a duration (a live recording) into Ogg/Opus and keeps the original', async () => {
    const bytes = readFileSync(fixture('live-no-duration.webm'));
    const { audio, created } = await ingestFixture('live-no-duration.webm');
    expect(created).toBe(true);
    expect(audio).toMatchObject({
      mime: 'audio/ogg',
      codec: 'Opus',
      source: 'recording',
      original: { sha256: sha256(bytes), mime: 'audio/webm; codecs="opus"' },
    });
    expect(audio.durationMs).toBeGreaterThan(1400);
    expect(audio.durationMs).toBeLessThan(1600);
    expect(sha256(readFileSync(t.lib.filePath(audio)))).toBe(audio.sha256);
    expect(readFileSync(t.lib.originalPath(audio)!).equals(bytes)).toBe(true);
    expect(audioFilesOnDisk(t.dataDir).sort()).toEqual(
      [audio.sha256, sha256(bytes)].map((h) => join(h.slice(0, 2), h)).sort(),
    );
    // The same recording again is the same audio (its remux differs: Ogg serial numbers).
    const again = await ingestFixture('live-no-duration.webm');
    expect(again).toEqual({ audio, created: false });
    t.lib.delete(audio.id);
    expect(audioFilesOnDisk(t.dataDir)).toEqual([]);
  });

  /** tone.wav (8 kHz, 8-bit mono PCM, 12 000 data bytes) with the 32-bit field at `offset` set to `value`. */
  const patchedWav = (offset: number, value: number) => {
    const wav = Buffer.from(readFileSync(fixture('tone.wav')));
    wav.writeUInt32LE(value, offset);
    return wav;
  };
  const ingestBytes = (bytes: Buffer, filename = 'x.wav') =>
    t.lib.ingest({ stream: Readable.from([bytes]), filename });

  it('refuses a duration the file size cannot hold, either way, and stores nothing', async () => {
    // Sample rate 1 Hz: music-metadata reads 12 000 s from 12 KB (8 bit/s); 2^32−1 Hz: 2.8 µs (34 Gbit/s).
    const long = await appError(ingestBytes(patchedWav(24, 1)));
    expect([long.statusCode, long.code]).toEqual([400, 'implausible_audio']);
    expect(long.message).toMatch(/claims to last 3 h 20 min, which its 12044 bytes cannot hold/);
    const short = await appError(ingestBytes(patchedWav(24, 0xffffffff)));
    expect([short.statusCode, short.code]).toEqual([400, 'implausible_audio']);
    expect(audioFilesOnDisk(t.dataDir)).toEqual([]);
    expect(t.db.prepare('SELECT count(*) AS n FROM audio').get()).toEqual({ n: 0 });
  });

  it('recomputes an absurd reported bitrate from the size and duration', async () => {
    // Byte rate 1 B/s or 2^32−1 B/s in the header: the duration (from the samples) stays 1.5 s.
    for (const byteRate of [1, 0xffffffff]) {
      const { audio } = await ingestBytes(patchedWav(28, byteRate));
      expect(audio.durationMs).toBe(1500);
      expect(audio.bitrate).toBe(Math.round((12044 * 8) / 1.5));
      t.lib.delete(audio.id);
    }
  });

  it('refuses audio longer than the configured maximum (AUDIO_MAX_DURATION_S)', async () => {
    const lib = createAudioLibrary({
      db: t.db,
      dataDir: t.dataDir,
      urlSecret: t.urlSecret,
      publicUrl: 'http://x',
      log: pino({ level: 'silent' }),
      maxDurationMs: 1000,
    });
    const err = await appError(
      lib.ingest({ stream: createReadStream(fixture('tone.ogg')), filename: 'a.ogg' }),
    );
    expect([err.statusCode, err.code]).toEqual([400, 'audio_too_long']);
    expect(err.message).toMatch(/lasts 1\.5 s; the longest accepted is 1 s \(AUDIO_MAX_DURATION_S\)/);
    expect(audioFilesOnDisk(t.dataDir)).toEqual([]);
  });

  it('refuses content that is not accepted audio, whatever its name (415, details say what it is)', async () => {
    const text = await appError(ingestFixture('not-audio.mp3'));
    expect([text.statusCode, text.code, text.details]).toEqual([
      415,
      'unsupported_media',
      { detected: null },
    ]);
    const png = Buffer.from(
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
      'base64',
    );
    const image = await appError(t.lib.ingest({ stream: Readable.from([png]), filename: 'tone.wav' }));
    expect(image.statusCode).toBe(415);
    expect(image.message).toContain('image/png');
    expect(image.details).toEqual({ detected: { ext: 'png', mime: 'image/png' } });
    expect(audioFilesOnDisk(t.dataDir)).toEqual([]);
  });

  it('removes the temp file when the upload stream fails midway', async () => {
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1024, 1));
        this.destroy(new Error('connection reset'));
      },
    });
    const err = await appError(t.lib.ingest({ stream: failing, filename: 'x.mp3' }));
    expect([err.statusCode, err.code]).toEqual([400, 'upload_failed']);
    expect(audioFilesOnDisk(t.dataDir)).toEqual([]);
  });

  it('sweeps upload temp files older than an hour when created', () => {
    const stale = join(t.dataDir, 'audio', '.tmp', 'stale.part');
    const fresh = join(t.dataDir, 'audio', '.tmp', 'fresh.part');
    writeFileSync(stale, 'x');
    writeFileSync(fresh, 'x');
    const old = new Date(Date.now() - 2 * 3600_000);
    utimesSync(stale, old, old);
    createAudioLibrary({
      db: t.db,
      dataDir: t.dataDir,
      urlSecret: t.urlSecret,
      publicUrl: 'http://x',
      log: pino({ level: 'silent' }),
    });
    expect(audioFilesOnDisk(t.dataDir)).toEqual([join('.tmp', 'fresh.part')]);
  });

  it('reads a publicUrl given as a function at each signing', () => {
    let base = 'http://127.0.0.1:1/';
    const lib = createAudioLibrary({
      db: t.db,
      dataDir: t.dataDir,
      urlSecret: t.urlSecret,
      publicUrl: () => base,
      log: pino({ level: 'silent' }),
    });
    const at = new Date(Date.now() + 60_000);
    expect(lib.signedUrl('x', at)).toMatch(/^http:\/\/127\.0\.0\.1:1\/api\/audio\/x\/content\?exp=\d+&sig=/);
    base = 'https://loa.example.vn';
    expect(lib.signedUrl('x', at)).toMatch(/^https:\/\/loa\.example\.vn\/api\/audio\/x\/content\?/);
  });

  it('signs URLs that verify until they expire, for that id only', () => {
    const expiresAt = new Date(Date.now() + 600_000);
    const url = new URL(t.lib.signedUrl('abc', expiresAt));
    expect(`${url.origin}${url.pathname}`).toBe('http://controller.example:8080/api/audio/abc/content');
    const exp = url.searchParams.get('exp')!;
    const sig = url.searchParams.get('sig')!;
    expect(exp).toBe(String(Math.floor(expiresAt.getTime() / 1000)));
    expect(sig).toBe(audioSignature(t.urlSecret, 'abc', Number(exp)));
    expect(t.lib.verifySignedUrl('abc', exp, sig)).toBe(true);
    expect(t.lib.verifySignedUrl('abd', exp, sig)).toBe(false);
    expect(t.lib.verifySignedUrl('abc', String(Number(exp) + 1), sig)).toBe(false);
    expect(t.lib.verifySignedUrl('abc', exp, `${sig.slice(0, -1)}${sig.endsWith('A') ? 'B' : 'A'}`)).toBe(
      false,
    );
    expect(t.lib.verifySignedUrl('abc', exp, undefined)).toBe(false);
    expect(t.lib.verifySignedUrl('abc', undefined, sig)).toBe(false);
    expect(t.lib.verifySignedUrl('abc', '1e12', sig)).toBe(false);
    const past = Math.floor(Date.now() / 1000) - 1;
    expect(t.lib.verifySignedUrl('abc', String(past), audioSignature(t.urlSecret, 'abc', past))).toBe(false);
  });
});

describe('range and conditional helpers', () => {
  it('decides single byte ranges, and falls back to the full content for anything else', () => {
    expect(decideRange(undefined, 100)).toEqual({ kind: 'full' });
    expect(decideRange('bytes=0-9', 100)).toEqual({ kind: 'partial', start: 0, end: 9 });
    expect(decideRange('bytes=90-200', 100)).toEqual({ kind: 'partial', start: 90, end: 99 });
    expect(decideRange('bytes=95-', 100)).toEqual({ kind: 'partial', start: 95, end: 99 });
    expect(decideRange('bytes=-10', 100)).toEqual({ kind: 'partial', start: 90, end: 99 });
    expect(decideRange('bytes=-1000', 100)).toEqual({ kind: 'partial', start: 0, end: 99 });
    expect(decideRange('bytes=100-', 100)).toEqual({ kind: 'unsatisfiable' });
    expect(decideRange('bytes=-0', 100)).toEqual({ kind: 'unsatisfiable' });
    for (const h of ['bytes=5-1', 'bytes=0-1,5-9', 'items=0-1', 'bytes=-', 'bytes=a-b', '']) {
      expect(decideRange(h, 100)).toEqual({ kind: 'full' });
    }
  });

  it('matches If-None-Match weakly and If-Range strongly', () => {
    expect(noneMatch('"x", "abc"', '"abc"')).toBe(true);
    expect(noneMatch('W/"abc"', '"abc"')).toBe(true);
    expect(noneMatch('*', '"abc"')).toBe(true);
    expect(noneMatch('"abd"', '"abc"')).toBe(false);
    expect(noneMatch(undefined, '"abc"')).toBe(false);
    expect(ifRangeAllows(undefined, '"abc"')).toBe(true);
    expect(ifRangeAllows('"abc"', '"abc"')).toBe(true);
    expect(ifRangeAllows('W/"abc"', '"abc"')).toBe(false);
    expect(ifRangeAllows('Wed, 21 Oct 2015 07:28:00 GMT', '"abc"')).toBe(false);
  });
});
