import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AudioRecord } from '../src/domain/audio/library.js';
import { AUDIO_FIXTURES, type AudioTestApp, audioFilesOnDisk, startAudioApp } from './helpers/audio-app.js';

const LIMIT = 32 * 1024;
const fixture = (name: string) => readFileSync(join(AUDIO_FIXTURES, name));
const sha256 = (buf: Buffer) => createHash('sha256').update(buf).digest('hex');

let t: AudioTestApp;
beforeAll(async () => {
  t = await startAudioApp({ uploadMaxBytes: LIMIT });
});
afterAll(() => t.close());
beforeEach(() => {
  // Each test starts with an empty library (rows and files).
  t.db.exec('DELETE FROM bulletins');
  for (const a of t.lib.list()) t.lib.delete(a.id);
  t.db.exec('DELETE FROM audio');
});

const auth = () => ({ authorization: `Bearer ${t.token}` });
const rowCount = () => (t.db.prepare('SELECT count(*) AS n FROM audio').get() as { n: number }).n;
const storedFiles = () => audioFilesOnDisk(t.dataDir);

async function upload(
  bytes: Buffer,
  filename: string,
  opts: { name?: string; nameAfter?: boolean; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const form = new FormData();
  if (opts.name !== undefined && !opts.nameAfter) form.append('name', opts.name);
  form.append('file', new Blob([bytes], { type: 'application/octet-stream' }), filename);
  if (opts.name !== undefined && opts.nameAfter) form.append('name', opts.name);
  const res = await fetch(`${t.baseUrl}/api/audio`, {
    method: 'POST',
    body: form,
    headers: opts.headers ?? auth(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function uploaded(name: string): Promise<AudioRecord> {
  const { status, body } = await upload(fixture(name), name);
  expect(status).toBe(201);
  return body.audio as AudioRecord;
}

const content = (id: string, headers: Record<string, string> = {}, method = 'GET') =>
  fetch(`${t.baseUrl}/api/audio/${id}/content`, { method, headers: { ...auth(), ...headers } });

describe('POST /api/audio', () => {
  it.each([
    ['tone.mp3', 'audio/mpeg', /Layer 3/, 1],
    ['tone.ogg', 'audio/ogg', /^Opus$/, 1],
    ['tone.wav', 'audio/wav', /^PCM$/, 1],
    ['tone.m4a', 'audio/mp4', /AAC/, null],
    ['tone.webm', 'audio/webm', /^OPUS$/i, 1],
  ])('accepts %s as %s with codec, duration and the file stored', async (file, mime, codec, channels) => {
    const bytes = fixture(file);
    const { status, body } = await upload(bytes, file, { name: `Bản tin ${file}` });
    expect(status).toBe(201);
    expect(body.created).toBe(true);
    const audio = body.audio as AudioRecord;
    expect(audio).toMatchObject({ mime, name: `Bản tin ${file}`, size: bytes.length, sha256: sha256(bytes) });
    expect(audio.codec).toMatch(codec);
    expect(audio.durationMs).toBeGreaterThan(1500 * 0.85);
    expect(audio.durationMs).toBeLessThan(1500 * 1.15);
    expect(audio.bitrate).toBeGreaterThan(0);
    expect(audio.sampleRate).toBeGreaterThan(0);
    if (channels !== null) expect(audio.channels).toBe(channels);
    expect(audio.createdBy).toBe(t.userId);
    const row = t.db
      .prepare('SELECT mime, size, deleted_at, created_by FROM audio WHERE id = ?')
      .get(audio.id);
    expect(row).toEqual({ mime, size: bytes.length, deleted_at: null, created_by: t.userId });
    expect(storedFiles()).toEqual([join(audio.sha256.slice(0, 2), audio.sha256)]);
    expect(readFileSync(t.lib.filePath(audio)).equals(bytes)).toBe(true);
  });

  it('keeps one copy of the same bytes uploaded twice and answers 200 created=false', async () => {
    const first = await upload(fixture('tone.mp3'), 'a.mp3');
    const second = await upload(fixture('tone.mp3'), 'b.mp3', { name: 'another name' });
    expect([first.status, second.status]).toEqual([201, 200]);
    expect(second.body.created).toBe(false);
    expect((second.body.audio as AudioRecord).id).toBe((first.body.audio as AudioRecord).id);
    expect((second.body.audio as AudioRecord).name).toBe('a.mp3');
    expect(rowCount()).toBe(1);
    expect(storedFiles()).toHaveLength(1);
  });

  it('keeps one copy when the same bytes arrive concurrently', async () => {
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) => upload(fixture('tone.m4a'), `${i}.m4a`)),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 201]);
    expect(new Set(results.map((r) => (r.body.audio as AudioRecord).id)).size).toBe(1);
    expect(rowCount()).toBe(1);
    expect(storedFiles()).toHaveLength(1);
  });

  it('takes the name field also when it comes after the file', async () => {
    const { status, body } = await upload(fixture('tone.ogg'), 'tone.ogg', {
      name: 'Loa phường 3',
      nameAfter: true,
    });
    expect(status).toBe(201);
    expect((body.audio as AudioRecord).name).toBe('Loa phường 3');
    const res = await fetch(`${t.baseUrl}/api/audio/${(body.audio as AudioRecord).id}`, { headers: auth() });
    expect(((await res.json()) as AudioRecord).name).toBe('Loa phường 3');
  });

  it('refuses a text file renamed .mp3 with 415 and keeps no row and no file', async () => {
    const { status, body } = await upload(fixture('not-audio.mp3'), 'not-audio.mp3');
    expect(status).toBe(415);
    expect(body).toMatchObject({ error: 'unsupported_media', details: { detected: null } });
    expect(body.message).toMatch(/not recognisable audio/);
    expect(rowCount()).toBe(0);
    expect(storedFiles()).toEqual([]);
  });

  it('refuses a file over the upload limit with 413 and stores nothing', async () => {
    const wav = fixture('tone.wav');
    const big = Buffer.concat(Array.from({ length: Math.ceil((LIMIT * 2) / wav.length) }, () => wav));
    const { status, body } = await upload(big, 'big.wav');
    expect(status).toBe(413);
    expect(body.error).toBe('too_large');
    expect(rowCount()).toBe(0);
    expect(storedFiles()).toEqual([]);
  });

  it('explains a request that is not multipart or has no file', async () => {
    const json = await fetch(`${t.baseUrl}/api/audio`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json' },
      body: '{}',
    });
    expect(json.status).toBe(400);
    expect(await json.json()).toMatchObject({
      error: 'multipart_required',
      message: expect.stringMatching(/"file"/),
    });
    const form = new FormData();
    form.append('name', 'only a name');
    const noFile = await fetch(`${t.baseUrl}/api/audio`, { method: 'POST', headers: auth(), body: form });
    expect(noFile.status).toBe(400);
    expect(await noFile.json()).toMatchObject({ error: 'missing_file' });
  });

  it('needs a token', async () => {
    const { status, body } = await upload(fixture('tone.mp3'), 'tone.mp3', { headers: {} });
    expect(status).toBe(401);
    expect(body.error).toBe('unauthorized');
    expect(rowCount()).toBe(0);
  });
});

describe('GET and DELETE /api/audio', () => {
  it('lists, gets, and deletes (204, then 404 everywhere), removing the file', async () => {
    const a = await uploaded('tone.mp3');
    const b = await uploaded('tone.wav');
    const list = await fetch(`${t.baseUrl}/api/audio`, { headers: auth() });
    expect(((await list.json()) as { items: AudioRecord[] }).items.map((x) => x.id)).toEqual([b.id, a.id]);
    // One audio comes with its speech renditions (none in this app, which makes none).
    expect(await (await fetch(`${t.baseUrl}/api/audio/${a.id}`, { headers: auth() })).json()).toEqual({
      ...a,
      renditions: [],
      renditionsPending: false,
    });
    expect((await fetch(`${t.baseUrl}/api/audio`)).status).toBe(401);

    const del = await fetch(`${t.baseUrl}/api/audio/${a.id}`, { method: 'DELETE', headers: auth() });
    expect(del.status).toBe(204);
    expect(existsSync(t.lib.filePath(a))).toBe(false);
    expect(t.db.prepare('SELECT deleted_at FROM audio WHERE id = ?').get(a.id)).toEqual({
      deleted_at: expect.any(String),
    });
    const gone = await fetch(`${t.baseUrl}/api/audio/${a.id}`, { headers: auth() });
    expect(gone.status).toBe(404);
    expect(await gone.json()).toEqual({ error: 'not_found', message: `Audio "${a.id}" does not exist` });
    expect(
      (await fetch(`${t.baseUrl}/api/audio/${a.id}`, { method: 'DELETE', headers: auth() })).status,
    ).toBe(404);
    expect((await content(a.id)).status).toBe(404);
    expect(storedFiles()).toEqual([join(b.sha256.slice(0, 2), b.sha256)]);
  });

  it('refuses to delete audio an active bulletin uses (409), allows it once the bulletin is done', async () => {
    const a = await uploaded('tone.ogg');
    t.db
      .prepare(
        `INSERT INTO bulletins (id, command_id, seq, title, audio_id, priority, repeat, gap_ms, target, status,
           created_at, expires_at) VALUES ('b1', 'c1', 1, 'Thông báo', ?, 'normal', 1, 0, '{}', 'active', ?, ?)`,
      )
      .run(a.id, new Date().toISOString(), new Date(Date.now() + 3600_000).toISOString());
    const del = await fetch(`${t.baseUrl}/api/audio/${a.id}`, { method: 'DELETE', headers: auth() });
    expect(del.status).toBe(409);
    expect(await del.json()).toMatchObject({
      error: 'audio_in_use',
      message: expect.stringMatching(/1 active bulletin/),
    });
    expect(t.db.prepare('SELECT deleted_at FROM audio WHERE id = ?').get(a.id)).toEqual({ deleted_at: null });
    expect(existsSync(t.lib.filePath(a))).toBe(true);

    t.db.prepare(`UPDATE bulletins SET status = 'completed' WHERE id = 'b1'`).run();
    expect(
      (await fetch(`${t.baseUrl}/api/audio/${a.id}`, { method: 'DELETE', headers: auth() })).status,
    ).toBe(204);
    expect(existsSync(t.lib.filePath(a))).toBe(false);
  });
});

describe('GET /api/audio/:id/content', () => {
  let audio: AudioRecord;
  let bytes: Buffer;
  beforeEach(async () => {
    audio = await uploaded('tone.wav');
    bytes = fixture('tone.wav');
  });

  it('serves the file with a token: type, length, ranges, strong ETag, cache policy', async () => {
    const res = await content(audio.id);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
    expect(res.headers.get('content-type')).toBe('audio/wav');
    expect(res.headers.get('content-length')).toBe(String(bytes.length));
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('etag')).toBe(`"${sha256(bytes)}"`);
    expect(res.headers.get('cache-control')).toMatch(/^private, max-age=\d+$/);
  });

  it('needs a token or a signed URL', async () => {
    const res = await fetch(`${t.baseUrl}/api/audio/${audio.id}/content`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({
      error: 'unauthorized',
      message: expect.stringMatching(/signed/),
    });
    const bad = await fetch(`${t.baseUrl}/api/audio/${audio.id}/content`, {
      headers: { authorization: 'Bearer nope' },
    });
    expect(bad.status).toBe(401);
  });

  it('serves a valid signed URL to a receiver (HTTP Basic), refuses expired, tampered or foreign ones', async () => {
    const signedPath = (id: string, at: Date) => {
      const u = new URL(t.lib.signedUrl(id, at));
      return `${t.baseUrl}${u.pathname}${u.search}`;
    };
    const asReceiver = { headers: { authorization: t.deviceAuth } };
    const ok = await fetch(signedPath(audio.id, new Date(Date.now() + 60_000)), asReceiver);
    expect(ok.status).toBe(200);
    expect(Buffer.from(await ok.arrayBuffer()).equals(bytes)).toBe(true);
    // The URL alone, leaked, is worth nothing; nor with a wrong password.
    const leaked = await fetch(signedPath(audio.id, new Date(Date.now() + 60_000)));
    expect(leaked.status).toBe(401);
    expect(leaked.headers.get('www-authenticate')).toMatch(/^Basic/);
    const wrong = `Basic ${Buffer.from(`${t.device.username}:nope`).toString('base64')}`;
    expect(
      (
        await fetch(signedPath(audio.id, new Date(Date.now() + 60_000)), {
          headers: { authorization: wrong },
        })
      ).status,
    ).toBe(401);

    const expired = await fetch(signedPath(audio.id, new Date(Date.now() - 1000)), asReceiver);
    expect(expired.status).toBe(403);
    expect(await expired.json()).toMatchObject({ error: 'bad_signature' });
    const valid = new URL(signedPath(audio.id, new Date(Date.now() + 60_000)));
    valid.searchParams.set('exp', String(Number(valid.searchParams.get('exp')) + 3600));
    expect((await fetch(valid, asReceiver)).status).toBe(403);
    const other = await uploaded('tone.mp3');
    const foreign = new URL(signedPath(other.id, new Date(Date.now() + 60_000)));
    expect(
      (await fetch(`${t.baseUrl}/api/audio/${audio.id}/content${foreign.search}`, asReceiver)).status,
    ).toBe(403);
    expect((await fetch(`${t.baseUrl}/api/audio/${audio.id}/content?sig=abc`, asReceiver)).status).toBe(403);
  });

  it('answers byte ranges with 206 and the exact slice', async () => {
    const res = await content(audio.id, { range: 'bytes=100-1099' });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 100-1099/${bytes.length}`);
    expect(res.headers.get('content-length')).toBe('1000');
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes.subarray(100, 1100))).toBe(true);

    const suffix = await content(audio.id, { range: 'bytes=-500' });
    expect(suffix.status).toBe(206);
    expect(suffix.headers.get('content-range')).toBe(
      `bytes ${bytes.length - 500}-${bytes.length - 1}/${bytes.length}`,
    );
    expect(Buffer.from(await suffix.arrayBuffer()).equals(bytes.subarray(bytes.length - 500))).toBe(true);

    const open = await content(audio.id, { range: 'bytes=12000-' });
    expect(open.status).toBe(206);
    expect(Buffer.from(await open.arrayBuffer()).equals(bytes.subarray(12000))).toBe(true);

    const multi = await content(audio.id, { range: 'bytes=0-1,5-9' });
    expect(multi.status).toBe(200);
    expect(Buffer.from(await multi.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('answers an unsatisfiable range with 416 and the size', async () => {
    const res = await content(audio.id, { range: `bytes=${bytes.length}-` });
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe(`bytes */${bytes.length}`);
    expect(await res.json()).toMatchObject({ error: 'range_not_satisfiable' });
  });

  it('answers If-None-Match with 304, and ignores a Range whose If-Range does not match', async () => {
    const etag = `"${audio.sha256}"`;
    const res = await content(audio.id, { 'if-none-match': etag });
    expect(res.status).toBe(304);
    expect(res.headers.get('etag')).toBe(etag);
    expect((await res.arrayBuffer()).byteLength).toBe(0);
    expect((await content(audio.id, { 'if-none-match': '"other"' })).status).toBe(200);

    const stale = await content(audio.id, { range: 'bytes=0-9', 'if-range': '"other"' });
    expect(stale.status).toBe(200);
    expect((await stale.arrayBuffer()).byteLength).toBe(bytes.length);
    const fresh = await content(audio.id, { range: 'bytes=0-9', 'if-range': etag });
    expect(fresh.status).toBe(206);
    await fresh.arrayBuffer();
  });

  it('answers HEAD with the headers and no body', async () => {
    const res = await content(audio.id, {}, 'HEAD');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(bytes.length));
    expect(res.headers.get('content-type')).toBe('audio/wav');
    expect(res.headers.get('etag')).toBe(`"${audio.sha256}"`);
    expect((await res.arrayBuffer()).byteLength).toBe(0);
    const ranged = await content(audio.id, { range: 'bytes=0-9' }, 'HEAD');
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-length')).toBe('10');
  });
});
