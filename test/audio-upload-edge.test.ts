/**
 * Issue 7 item 3, "one bad file must not break the audio library": implausible metadata is refused,
 * a stored row never makes reading fail, every malformed multipart upload gets a prompt 4xx and
 * stores nothing, every attempt is audited, and a stalled body is cut after the idle timeout.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as pause } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AudioRecord } from '../src/domain/audio/library.js';
import { AUDIO_FIXTURES, type AudioTestApp, audioFilesOnDisk, startAudioApp } from './helpers/audio-app.js';
import { startTestController, type TestController } from './helpers/controller.js';
import { oggPages, pageCrcOk, withLastGranule } from './helpers/ogg.js';
import { waitFor } from './helpers/wait.js';

const fixture = (name: string) => readFileSync(join(AUDIO_FIXTURES, name));
const MAX_GRANULE = 2n ** 63n - 1n;
/** What an older version stored for the Ogg above: 2^63−1 samples at 48 kHz, in ms. */
const ABSURD_DURATION_MS = '192153584101141150';

interface Part {
  name: string;
  /** set: a file part with this filename parameter (null: Content-Type only, no filename at all) */
  filename?: string | null;
  data: Buffer | string;
}

/** A multipart/form-data body written by hand, for the shapes a FormData never produces. */
function multipart(boundary: string, parts: Part[]): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const isFile = p.filename !== undefined;
    const disposition = `form-data; name="${p.name}"${typeof p.filename === 'string' ? `; filename="${p.filename}"` : ''}`;
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: ${disposition}\r\n` +
          `${isFile ? 'Content-Type: application/octet-stream\r\n' : ''}\r\n`,
      ),
      Buffer.isBuffer(p.data) ? p.data : Buffer.from(p.data),
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

interface AuditLine {
  user_id: string | null;
  subject: string | null;
  detail: Record<string, unknown>;
}

describe('uploads against the audio routes', () => {
  let t: AudioTestApp;
  beforeAll(async () => {
    t = await startAudioApp({ uploadMaxBytes: 32 * 1024 });
  });
  afterAll(() => t.close());
  beforeEach(() => {
    // Each test starts with an empty library (rows and files).
    for (const a of t.lib.list()) t.lib.delete(a.id);
    t.db.exec('DELETE FROM audio');
  });

  const auth = () => ({ authorization: `Bearer ${t.token}` });
  const rowCount = () => (t.db.prepare('SELECT count(*) AS n FROM audio').get() as { n: number }).n;
  const uploadAudits = (): AuditLine[] =>
    (
      t.db
        .prepare(`SELECT user_id, subject, detail FROM audit WHERE action = 'POST /api/audio' ORDER BY id`)
        .all() as { user_id: string | null; subject: string | null; detail: string }[]
    ).map((r) => ({ ...r, detail: JSON.parse(r.detail) as Record<string, unknown> }));
  /** Waits for the audit line of the next upload (written once its answer is sent). */
  const nextAudit = async (before: number): Promise<AuditLine> =>
    waitFor('the audit line of the upload', () => uploadAudits()[before]);

  async function post(body: Buffer, contentType: string, headers: Record<string, string> = auth()) {
    const res = await fetch(`${t.baseUrl}/api/audio`, {
      method: 'POST',
      headers: { ...headers, 'content-type': contentType },
      body: new Uint8Array(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async function uploadForm(bytes: Buffer, filename: string) {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(bytes)]), filename);
    const res = await fetch(`${t.baseUrl}/api/audio`, { method: 'POST', headers: auth(), body: form });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  /** Nothing stored: no row, no file in the audio folder, no temp `.part` left. */
  function expectNothingStored() {
    expect(rowCount()).toBe(0);
    expect(audioFilesOnDisk(t.dataDir)).toEqual([]);
  }

  describe('implausible metadata', () => {
    it('refuses an Ogg whose last granule position is 2^63−1 with 400, stores nothing, audits the reason', async () => {
      const ogg = fixture('tone.ogg');
      const bad = withLastGranule(ogg, MAX_GRANULE);
      // The patched page is a valid Ogg page: parsers read it, so the test goes through the real parser.
      const pages = oggPages(bad);
      expect(pages.length).toBeGreaterThan(1);
      expect(pages.every((p) => pageCrcOk(bad, p))).toBe(true);
      expect(bad.readBigInt64LE(pages.at(-1)!.offset + 6)).toBe(MAX_GRANULE);

      const audits = uploadAudits().length;
      const res = await uploadForm(bad, 'ban-tin-hong.ogg');
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ error: 'implausible_audio', details: { size: bad.length } });
      expect(res.body.message).toMatch(/claims to last .*years.*2712 bytes cannot hold/);
      expectNothingStored();
      const list = await fetch(`${t.baseUrl}/api/audio`, { headers: auth() });
      expect(list.status).toBe(200);
      expect(await list.json()).toEqual({ items: [] });

      expect(await nextAudit(audits)).toEqual({
        user_id: t.userId,
        subject: null,
        detail: expect.objectContaining({
          status: 400,
          error: 'implausible_audio',
          file: 'ban-tin-hong.ogg',
          message: res.body.message,
        }),
      });
    });

    it('lists and gets a row an older version stored with duration_ms 1.9e17, with durationMs null', async () => {
      const ogg = fixture('tone.ogg');
      t.db.exec(
        `INSERT INTO audio (id, sha256, name, mime, container, codec, duration_ms, bitrate, sample_rate, channels,
           size, created_at, created_by)
         VALUES ('old-bad', '${'ab'.repeat(32)}', 'old upload', 'audio/ogg', 'Ogg', 'Opus', ${ABSURD_DURATION_MS},
           0, 48000, 1, ${ogg.length}, '2026-01-01T00:00:00.000Z', NULL)`,
      );
      const list = await fetch(`${t.baseUrl}/api/audio`, { headers: auth() });
      expect(list.status).toBe(200);
      const items = ((await list.json()) as { items: AudioRecord[] }).items;
      expect(items).toEqual([
        expect.objectContaining({ id: 'old-bad', durationMs: null, bitrate: null, sampleRate: 48000 }),
      ]);
      const one = await fetch(`${t.baseUrl}/api/audio/old-bad`, { headers: auth() });
      expect(one.status).toBe(200);
      expect(await one.json()).toMatchObject({ id: 'old-bad', name: 'old upload', durationMs: null });
    });

    it('re-probes the bytes of a deleted row with a bad duration when they are uploaded again', async () => {
      const ogg = fixture('tone.ogg');
      const first = await uploadForm(ogg, 'tone.ogg');
      expect(first.status).toBe(201);
      const id = (first.body.audio as AudioRecord).id;
      t.lib.delete(id);
      // As an older version would have left it.
      t.db.prepare(`UPDATE audio SET duration_ms = ${ABSURD_DURATION_MS}, bitrate = 0 WHERE id = ?`).run(id);
      const again = await uploadForm(ogg, 'tone.ogg');
      expect(again.status).toBe(201);
      expect(again.body.audio).toMatchObject({ id, durationMs: 1500, bitrate: expect.any(Number) });
      expect((again.body.audio as AudioRecord).bitrate).toBeGreaterThan(1000);
      expect(t.db.prepare('SELECT duration_ms FROM audio WHERE id = ?').get(id)).toEqual({
        duration_ms: 1500,
      });
    });
  });

  describe('malformed multipart', () => {
    const B = 'loalang-test-boundary';
    const ogg = () => fixture('tone.ogg');

    it.each([
      ['filename=""', [{ name: 'file', filename: '', data: ogg() }], /no file name/],
      [
        'a file part with no filename at all',
        [{ name: 'file', filename: null, data: ogg() }],
        /no file name/,
      ],
    ])('refuses %s with 400 missing_file and stores nothing', async (_what, parts, message) => {
      const audits = uploadAudits().length;
      const res = await post(multipart(B, parts as Part[]), `multipart/form-data; boundary=${B}`);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ error: 'missing_file', message: expect.stringMatching(message) });
      expectNothingStored();
      expect((await nextAudit(audits)).detail).toMatchObject({ status: 400, error: 'missing_file' });
    });

    it('refuses multipart without a boundary, or with one over 70 characters, with 400', async () => {
      const body = multipart(B, [{ name: 'file', filename: 'a.ogg', data: ogg() }]);
      const none = await post(body, 'multipart/form-data');
      expect(none.status).toBe(400);
      expect(none.body).toMatchObject({
        error: 'bad_multipart',
        message: expect.stringMatching(/no multipart boundary/),
      });
      const empty = await post(body, 'multipart/form-data; boundary=""');
      expect(empty.status).toBe(400);
      expect(empty.body.error).toBe('bad_multipart');
      const long = 'b'.repeat(300);
      const tooLong = await post(
        multipart(long, [{ name: 'file', filename: 'a.ogg', data: ogg() }]),
        `multipart/form-data; boundary=${long}`,
      );
      expect(tooLong.status).toBe(400);
      expect(tooLong.body).toMatchObject({
        error: 'bad_multipart',
        message: expect.stringMatching(/300 characters; at most 70/),
      });
      expectNothingStored();
    });

    it('answers more than 10 fields before the file promptly with 400, leaving no .part', {
      timeout: 5000,
    }, async () => {
      const fields = Array.from({ length: 11 }, (_, i) => ({ name: `f${i}`, data: 'x' }));
      const res = await post(
        multipart(B, [...fields, { name: 'file', filename: 'a.ogg', data: ogg() }]),
        `multipart/form-data; boundary=${B}`,
      );
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({
        error: 'too_many_fields',
        message: expect.stringMatching(/at most 10/),
      });
      expectNothingStored();
      // Many more fields (past the parser's own limit) the same way.
      const many = Array.from({ length: 50 }, (_, i) => ({ name: `f${i}`, data: 'x' }));
      const more = await post(
        multipart(B, [...many, { name: 'file', filename: 'a.ogg', data: ogg() }]),
        `multipart/form-data; boundary=${B}`,
      );
      expect(more.status).toBe(400);
      expect(more.body.error).toBe('too_many_fields');
      expectNothingStored();
    });

    it('refuses two files with 400 and stores neither', async () => {
      const res = await post(
        multipart(B, [
          { name: 'file', filename: 'a.ogg', data: ogg() },
          { name: 'file', filename: 'b.wav', data: fixture('tone.wav') },
        ]),
        `multipart/form-data; boundary=${B}`,
      );
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({
        error: 'bad_multipart',
        message: expect.stringMatching(/exactly one file/),
      });
      expectNothingStored();
    });

    it('refuses a body cut off before its end with 400 and stores nothing', async () => {
      const whole = multipart(B, [{ name: 'file', filename: 'a.ogg', data: ogg() }]);
      const res = await post(whole.subarray(0, whole.length - 200), `multipart/form-data; boundary=${B}`);
      expect(res.status).toBe(400);
      expectNothingStored();
    });
  });

  describe('the audit log of uploads', () => {
    it('records a stored upload with its audio id, and an attempt without a login with its reason', async () => {
      const audits = uploadAudits().length;
      const ok = await uploadForm(fixture('tone.mp3'), 'tone.mp3');
      expect(ok.status).toBe(201);
      expect(await nextAudit(audits)).toEqual({
        user_id: t.userId,
        subject: (ok.body.audio as AudioRecord).id,
        detail: expect.objectContaining({ status: 201, created: true, file: 'tone.mp3' }),
      });
      const anonymous = await post(
        multipart('x', [{ name: 'file', filename: 'a.mp3', data: fixture('tone.mp3') }]),
        'multipart/form-data; boundary=x',
        {},
      );
      expect(anonymous.status).toBe(401);
      expect(await nextAudit(audits + 1)).toEqual({
        user_id: null,
        subject: null,
        detail: expect.objectContaining({ status: 401, error: 'unauthorized' }),
      });
    });
  });
});

describe('the full controller', () => {
  let tc: TestController;
  const IDLE_S = 2;
  beforeAll(async () => {
    tc = await startTestController({ HTTP_IDLE_TIMEOUT_S: String(IDLE_S) });
  });
  afterAll(() => tc.stop());

  const db = () => tc.controller.db;
  const rows = () => (db().prepare('SELECT count(*) AS n FROM audio').get() as { n: number }).n;

  it('lists a stored row with an absurd duration, and bulletins and approvals refuse it with 409', async () => {
    const ogg = fixture('tone.ogg');
    db().exec(
      `INSERT INTO audio (id, sha256, name, mime, container, codec, duration_ms, bitrate, sample_rate, channels,
         size, created_at, created_by)
       VALUES ('old-bad', '${'cd'.repeat(32)}', 'old upload', 'audio/ogg', 'Ogg', 'Opus', ${ABSURD_DURATION_MS},
         0, 48000, 1, ${ogg.length}, '2026-01-01T00:00:00.000Z', NULL)`,
    );
    const list = await tc.api<{ items: AudioRecord[] }>('GET', '/api/audio');
    expect(list.status).toBe(200);
    expect(list.body.items.find((a) => a.id === 'old-bad')).toMatchObject({ durationMs: null });
    expect((await tc.api('GET', '/api/audio/old-bad')).status).toBe(200);

    const bulletin = await tc.api<{ error: string; message: string }>('POST', '/api/bulletins', {
      audioId: 'old-bad',
      target: { all: true },
      priority: 'normal',
    });
    expect(bulletin.status).toBe(409);
    expect(bulletin.body).toMatchObject({
      error: 'audio_unplayable',
      message: expect.stringMatching(/no valid duration/),
    });
    expect(db().prepare(`SELECT count(*) AS n FROM bulletins WHERE audio_id = 'old-bad'`).get()).toEqual({
      n: 0,
    });
  });

  it('cuts a stalled upload after the idle timeout, leaving nothing, while a slow-but-steady one succeeds', {
    timeout: 20_000,
  }, async () => {
    const { port } = new URL(tc.url);
    const ogg = fixture('tone.ogg');
    const B = 'loalang-stall';
    const body = multipart(B, [{ name: 'file', filename: 'slow.ogg', data: ogg }]);
    const head =
      `POST /api/audio HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${tc.token}\r\n` +
      `Content-Type: multipart/form-data; boundary=${B}\r\nContent-Length: ${body.length}\r\n\r\n`;

    // Stalled: the headers and part of the file, then nothing. The server must close the connection.
    const stalled = connect(Number(port), '127.0.0.1');
    const closed = new Promise<number>((resolve) => stalled.on('close', () => resolve(Date.now())));
    stalled.on('error', () => {});
    await new Promise<void>((resolve) => stalled.on('connect', resolve));
    const start = Date.now();
    stalled.write(head);
    stalled.write(body.subarray(0, 1000));
    const closedAt = await closed;
    expect(closedAt - start).toBeGreaterThanOrEqual(IDLE_S * 1000 - 100);
    expect(closedAt - start).toBeLessThan(IDLE_S * 1000 + 5000);
    // The handler sees the body end early, removes its temp file and audits the attempt.
    const aborted = await waitFor('the audit line of the stalled upload', () =>
      db()
        .prepare<[], { detail: string }>(
          `SELECT detail FROM audit WHERE action = 'POST /api/audio' ORDER BY id DESC LIMIT 1`,
        )
        .get(),
    );
    expect(JSON.parse(aborted.detail)).toMatchObject({ status: null, error: 'aborted', file: 'slow.ogg' });
    await waitFor('the temp file to go', () => audioFilesOnDisk(tc.dataDir).length === 0);
    expect(rows()).toBe(1); // the old row of the test above, nothing new

    // Slow but steady: the same body in 10 pieces, 300 ms apart (3 s in all, longer than the idle timeout).
    const steady = connect(Number(port), '127.0.0.1');
    let answer = '';
    steady.on('data', (d) => {
      answer += d.toString('latin1');
    });
    const ended = new Promise<void>((resolve) => steady.on('close', () => resolve()));
    await new Promise<void>((resolve) => steady.on('connect', resolve));
    steady.write(`${head.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')}`);
    const piece = Math.ceil(body.length / 10);
    for (let i = 0; i < body.length; i += piece) {
      await pause(300);
      steady.write(body.subarray(i, i + piece));
    }
    await ended;
    expect(answer).toMatch(/^HTTP\/1\.1 201 /);
    expect(answer).toContain('"name":"slow.ogg"');
    expect(rows()).toBe(2);
  });

  it('sets the whole-request limit from HTTP_REQUEST_TIMEOUT_S', () => {
    expect(tc.controller.app.server.requestTimeout).toBe(3600_000);
    expect(tc.controller.app.server.timeout).toBe(IDLE_S * 1000);
  });
});
