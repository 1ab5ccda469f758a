/**
 * Idempotency-Key on POST /api/announcements against a real controller and its SQLite: a retry
 * after a lost answer gets the first answer and airs nothing twice; another body with the same key
 * is refused; no key works as before. The key store itself on a real (in-memory) database, and
 * "still running" through a real Fastify whose handler the test holds open.
 */
import Fastify from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { installErrorHandler } from '../src/http/errors.js';
import {
  createIdempotencyStore,
  IDEMPOTENCY_TTL_MS,
  idempotencyHeaders,
  installIdempotency,
  parseIdempotencyKey,
} from '../src/http/idempotency.js';
import { openDatabase } from '../src/storage/db.js';
import { startTestController, type TestController } from './helpers/controller.js';
import { addOfficer } from './helpers/officers.js';
import { wav } from './helpers/sim-harness.js';

interface Answer {
  announcement: { id: string; status: string; bulletinId: string | null };
  bulletin?: { id: string };
  error?: string;
  message?: string;
}

describe('Idempotency-Key on POST /api/announcements', () => {
  let tc: TestController;
  let audioId = '';
  let officer = '';
  const zoneIds: string[] = [];
  const PIN = '135790';

  beforeAll(async () => {
    tc = await startTestController();
    for (const [i, name] of ['Thôn Đông', 'Thôn Tây'].entries()) {
      const z = await tc.api<{ id: string }>('POST', '/api/zones', { name });
      zoneIds.push(z.body.id);
      await tc.register(`idem-0${i + 1}`, z.body.id);
    }
    audioId = (await tc.upload(wav(440, 1500), 'tin.wav', 'Tin khẩn')).audio.id;
    officer = await addOfficer(tc, 'canbo-idem', ['operator'], { pin: PIN });
  });
  afterAll(async () => {
    await tc?.stop();
  });

  /** POST /api/announcements as `token`, with extra headers; the status, body and headers. */
  async function announce(body: unknown, headers: Record<string, string> = {}, token = tc.token) {
    const res = await fetch(`${tc.url}/api/announcements`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Answer };
  }
  const oneVillage = (zone = zoneIds[0]!) => ({
    title: 'Mất điện chiều nay',
    content: { kind: 'audio', audioId },
    target: { zones: [zone] },
    priority: 'priority',
  });
  const totals = async () => {
    const a = await tc.api<{ total: number }>('GET', '/api/announcements');
    const b = await tc.api<{ total: number }>('GET', '/api/bulletins');
    const audit = await tc.api<{ items: { action: string }[] }>(
      'GET',
      '/api/audit?action=POST%20%2Fapi%2Fannouncements&limit=500',
    );
    return {
      announcements: a.body.total,
      bulletins: b.body.total,
      auditLines: audit.body.items.filter((e) => e.action === 'POST /api/announcements').length,
    };
  };

  it('the same key twice: one announcement, one bulletin, one audit line; the retry gets the same answer, marked replayed', async () => {
    const before = await totals();
    const key = { 'idempotency-key': '"7c0e2c1a-0f7e-4d8e-9a43-2f4a1b7e9d10"' };
    const first = await announce(oneVillage(), key);
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await announce(oneVillage(), key);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    // the bare spelling is the same key
    const bare = await announce(oneVillage(), { 'idempotency-key': '7c0e2c1a-0f7e-4d8e-9a43-2f4a1b7e9d10' });
    expect(bare.status).toBe(201);
    expect(bare.body.announcement.id).toBe(first.body.announcement.id);
    const after = await totals();
    expect(after).toEqual({
      announcements: before.announcements + 1,
      bulletins: before.bulletins + 1,
      auditLines: before.auditLines + 1,
    });
    const listed = await tc.api<{ items: { id: string }[] }>('GET', '/api/announcements');
    expect(listed.body.items.filter((a) => a.id === first.body.announcement.id)).toHaveLength(1);
  });

  it('the same key with another body is refused with 422 and makes nothing', async () => {
    const key = { 'idempotency-key': 'khoa-ban-nhap-2' };
    expect((await announce(oneVillage(zoneIds[0]), key)).status).toBe(201);
    const before = await totals();
    const other = await announce(oneVillage(zoneIds[1]), key);
    expect(other.status).toBe(422);
    expect(other.body.error).toBe('idempotency_key_reused');
    expect(other.body.message).toMatch(/already used for a different request; send a new key/);
    expect(await totals()).toEqual(before);
  });

  it('keys are per officer: another officer’s same key is a new request', async () => {
    const key = { 'idempotency-key': 'shared-key' };
    const mine = await announce(oneVillage(), key);
    const theirs = await announce(oneVillage(), key, officer);
    expect([mine.status, theirs.status]).toEqual([201, 201]);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
    expect(theirs.body.announcement.id).not.toBe(mine.body.announcement.id);
  });

  it('without a key it works as before: two requests, two announcements', async () => {
    const before = await totals();
    const a = await announce(oneVillage());
    const b = await announce(oneVillage());
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(b.body.announcement.id).not.toBe(a.body.announcement.id);
    expect((await totals()).announcements).toBe(before.announcements + 2);
  });

  it('a refused answer keeps nothing: after the 428 the same key goes with the PIN, and a retry without it gets that answer', async () => {
    const everyVillage = { ...oneVillage(), target: { all: true }, priority: 'emergency', repeat: 1 };
    const key = { 'idempotency-key': 'moi-thon-1' };
    const before = await totals();
    const asked = await announce(everyVillage, key, officer);
    expect(asked.status).toBe(428);
    expect(asked.body.error).toBe('confirmation_required');
    const sent = await announce({ ...everyVillage, confirm: { pin: PIN } }, key, officer);
    expect(sent.status).toBe(201);
    expect(sent.headers.get('idempotent-replayed')).toBeNull();
    // the phone lost that answer and sends the draft again, without the PIN this time
    const retry = await announce(everyVillage, key, officer);
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.body.announcement.id).toBe(sent.body.announcement.id);
    expect((await totals()).bulletins).toBe(before.bulletins + 1);
  });

  it('refuses a key that is not 1–255 printable ASCII characters with a 400 that says so', async () => {
    for (const bad of ['x'.repeat(256), 'khoá', '""']) {
      const r = await announce(oneVillage(), { 'idempotency-key': bad });
      expect(r.status, bad).toBe(400);
      expect(r.body.message, bad).toMatch(/Idempotency-Key must be 1 to 255 printable ASCII characters/);
    }
  });

  it('documents the header and its answers in OpenAPI', async () => {
    const doc = await tc.api<{
      paths: Record<string, { post?: { parameters?: { in: string; name: string; description?: string }[] } }>;
    }>('GET', '/docs/json');
    const post = doc.body.paths['/api/announcements']!.post!;
    const header = post.parameters?.find((p) => p.in === 'header' && p.name === 'idempotency-key');
    expect(header?.description).toMatch(/Idempotent-Replayed: true/);
    expect(Object.keys((post as { responses: object }).responses)).toEqual(
      expect.arrayContaining(['409', '422']),
    );
  });
});

describe('the idempotency key store', () => {
  const withUsers = () => {
    const db = openDatabase(':memory:');
    for (const id of ['u1', 'u2'])
      db.prepare(
        `INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, 'x', '2025-01-01T00:00:00Z')`,
      ).run(id, id);
    return db;
  };

  it('claims, refuses while running, keeps a 2xx answer, frees after a refusal, and forgets after 24 h', () => {
    let now = Date.parse('2025-06-01T08:00:00Z');
    const db = withUsers();
    const store = createIdempotencyStore(db, { now: () => now });
    expect(store.begin('u1', 'k', 'fp1')).toEqual({ kind: 'new' });
    expect(store.begin('u1', 'k', 'fp1')).toEqual({ kind: 'in_flight' });
    expect(store.begin('u1', 'k', 'fp2')).toEqual({ kind: 'mismatch' });
    expect(store.begin('u2', 'k', 'fp1')).toEqual({ kind: 'new' });
    store.finish('u2', 'k', 'fp1', 503, '{"error":"tts_unavailable"}');
    expect(store.begin('u2', 'k', 'fp1')).toEqual({ kind: 'new' });
    store.finish('u1', 'k', 'fp1', 201, '{"ok":1}');
    expect(store.begin('u1', 'k', 'fp1')).toEqual({ kind: 'replay', status: 201, body: '{"ok":1}' });
    expect(store.begin('u1', 'k', 'fp2')).toEqual({ kind: 'mismatch' });
    now += IDEMPOTENCY_TTL_MS - 1000;
    expect(store.begin('u1', 'k', 'fp1').kind).toBe('replay');
    now += 1000;
    expect(store.begin('u1', 'k', 'fp2')).toEqual({ kind: 'new' });
    // the expired row is pruned, not only ignored
    expect(db.prepare('SELECT count(*) AS n FROM idempotency_keys').get()).toEqual({ n: 0 });
    db.close();
  });

  it('reads the key as a Structured Field String or bare', () => {
    expect(parseIdempotencyKey('"a\\"b\\\\c"')).toBe('a"b\\c');
    expect(parseIdempotencyKey('abc-123')).toBe('abc-123');
    expect(() => parseIdempotencyKey('""')).toThrow(/printable ASCII/);
  });

  it('answers 409 to a retry while the first request is still running, then the first answer', async () => {
    const db = withUsers();
    const app = Fastify().withTypeProvider<ZodTypeProvider>();
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    installErrorHandler(app);
    // the officer as the auth hook would have set it
    app.addHook('onRequest', async (request) => {
      request.user = { id: 'u1' } as NonNullable<typeof request.user>;
    });
    installIdempotency(app, createIdempotencyStore(db));
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let entered!: () => void;
    const inHandler = new Promise<void>((r) => {
      entered = r;
    });
    let made = 0;
    app.post(
      '/things',
      {
        config: { idempotent: {} },
        schema: { headers: idempotencyHeaders, body: z.object({ n: z.number() }) },
      },
      async (_request, reply) => {
        entered();
        await held;
        made += 1;
        return reply.code(201).send({ made });
      },
    );
    await app.ready();
    const send = (n: number) =>
      app.inject({ method: 'POST', url: '/things', headers: { 'idempotency-key': 'k1' }, payload: { n } });
    const first = send(1);
    await inHandler;
    const during = await send(1);
    expect(during.statusCode).toBe(409);
    expect(during.json()).toMatchObject({ error: 'idempotency_key_in_use' });
    expect((await send(2)).statusCode).toBe(422);
    release();
    expect((await first).json()).toEqual({ made: 1 });
    const after = await send(1);
    expect(after.statusCode).toBe(201);
    expect(after.headers['idempotent-replayed']).toBe('true');
    expect(after.json()).toEqual({ made: 1 });
    expect(made).toBe(1);
    await app.close();
    db.close();
  });
});
