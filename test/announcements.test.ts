/**
 * Urgent announcements on real parts: a controller with its embedded broker, simulated receivers
 * in four villages (real MQTT clients downloading real bytes), a loopback HTTP server standing in
 * for the commune's SMS/Zalo gateway behind the "not yet heard" webhook.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, fetchTrustedKeys, fleetIds, startFleet } from '../firmware-sim/index.js';
import { verifyWebhook } from '../src/domain/announcements/webhook.js';
import { ADMIN_PASSWORD, startTestController, type TestController } from './helpers/controller.js';
import { addOfficer } from './helpers/officers.js';
import { waitFor } from './helpers/wait.js';

const FIXTURE = new URL('./fixtures/audio/tone.mp3', import.meta.url);
const SECRET = 'webhook-secret-for-tests-0123456789';
const VILLAGES = ['Thôn Đồng Bùa', 'Thôn Gò Dẫu', 'Thôn Quan Nội', 'Thôn Hạ'];

interface Counts {
  total: number;
  heard: number;
  playing: number;
  not_yet: number;
  failed: number;
}
interface Reach {
  announcement: { id: string; status: string; bulletinId: string | null };
  counts: Counts;
  complete: boolean;
  villages: {
    zoneId: string | null;
    name: string;
    counts: Counts;
    receivers: { id: string; reach: string; online: boolean; state: string }[];
  }[];
}
interface Answer {
  announcement: { id: string; status: string; bulletinId: string | null; approvalId: string | null };
  bulletin?: { id: string; priority: string; repeat: number; volume: number | null };
  approval?: { id: string; reason: string };
  timings: { synthMs: number; renditionMs: number; totalMs: number };
  warnings: string[];
}

interface Hook {
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

describe('urgent announcements', () => {
  let tc: TestController;
  let fleet: Fleet;
  let hookServer: Server;
  const hooks: Hook[] = [];
  let audioId = '';
  const zoneIds: string[] = [];
  // two receivers per village: ann-01 and ann-02 in the first, ann-03 and ann-04 in the second, …
  const rxIds = fleetIds(2 * VILLAGES.length, 'ann');
  const rx = (id: string) => fleet.receivers.find((r) => r.id === id)!;

  beforeAll(async () => {
    hookServer = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString('utf8');
      });
      req.on('end', () => {
        hooks.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hook`;
    tc = await startTestController({
      ANNOUNCE_WEBHOOK_URL: hookUrl,
      ANNOUNCE_WEBHOOK_SECRET: SECRET,
      ANNOUNCE_WEBHOOK_AFTER_S: '1',
    });
    for (const name of VILLAGES) {
      const z = await tc.api<{ id: string }>('POST', '/api/zones', { name });
      expect(z.status).toBe(201);
      zoneIds.push(z.body.id);
    }
    for (const [i, id] of rxIds.entries()) await tc.register(id, zoneIds[Math.floor(i / 2)]!);
    const trustedKeys = await fetchTrustedKeys(`${tc.url}/api/system/signing-key`);
    fleet = await startFleet({
      count: rxIds.length,
      idPrefix: 'ann',
      brokerUrl: tc.mqttUrl,
      trustedKeys,
      timeFactor: 0.05,
      configure: (id) => tc.sim(id),
    });
    await Promise.all(fleet.receivers.map((r) => r.waitForConfig((c) => c.adopted)));
    await waitFor('all receivers online', async () => {
      const res = await tc.api<{ receivers: { online: number } }>('GET', '/api/health');
      return res.body.receivers.online === rxIds.length;
    });
    const up = await tc.upload(readFileSync(FIXTURE), 'ghi-am.mp3', 'Ghi âm khẩn');
    expect(up.status).toBe(201);
    audioId = up.audio.id;
  });

  afterAll(async () => {
    await fleet?.stop();
    await tc?.stop();
    await new Promise((r) => hookServer?.close(r));
  });

  const reachOf = async (id: string) => (await tc.api<Reach>('GET', `/api/announcements/${id}`)).body;
  const waitComplete = (id: string) =>
    waitFor(`announcement ${id} complete`, async () => {
      const r = await reachOf(id);
      return r.complete ? r : null;
    });

  it('announces a recording to two villages at maximum volume: those receivers play it, the reach report says heard', async () => {
    const before = new Map(rxIds.map((id) => [id, rx(id).played.length]));
    const res = await tc.api<Answer>('POST', '/api/announcements', {
      title: 'Vỡ đê thôn Đồng Bùa',
      content: { kind: 'audio', audioId },
      target: { zones: [zoneIds[0], zoneIds[1]] },
      repeat: 1,
      gapSeconds: 0,
      volume: 100,
    });
    expect(res.status).toBe(201);
    expect(res.body.announcement.status).toBe('sent');
    expect(res.body.bulletin).toMatchObject({ priority: 'emergency', repeat: 1, volume: 100 });
    expect(res.body.timings.totalMs).toBeGreaterThanOrEqual(0);
    const id = res.body.announcement.id;

    const report = await waitComplete(id);
    expect(report.counts).toEqual({ total: 4, heard: 4, playing: 0, not_yet: 0, failed: 0 });
    expect(report.villages.map((v) => v.name).sort()).toEqual([VILLAGES[0], VILLAGES[1]].sort());
    for (const v of report.villages) {
      expect(v.counts.heard).toBe(2);
      expect(v.receivers.every((r) => r.reach === 'heard' && r.online)).toBe(true);
    }
    // What the receivers played, not what the controller meant: only the two villages, loudest.
    for (const id of rxIds) {
      const played = rx(id).played.slice(before.get(id));
      const inTarget = rxIds.indexOf(id) < 4;
      expect(played.length, id).toBe(inTarget ? 1 : 0);
      if (inTarget) expect(played[0]).toMatchObject({ priority: 'emergency', volume: 100 });
    }
    // The trigger is in the audit log with the announcement as its subject.
    const audit = await tc.api<{ items: { action: string; subject: string | null }[] }>(
      'GET',
      `/api/audit?action=${encodeURIComponent('POST /api/announcements')}&subject=${id}`,
    );
    expect(audit.body.items.length).toBe(1);
  });

  it('streams the reach report live over SSE until every receiver has an outcome', async () => {
    const res = await tc.api<Answer>('POST', '/api/announcements', {
      content: { kind: 'audio', audioId },
      target: { zones: [zoneIds[2]] },
      priority: 'priority',
      repeat: 1,
    });
    expect(res.status).toBe(201);
    const stream = await fetch(`${tc.url}/api/announcements/${res.body.announcement.id}/reach`, {
      headers: { authorization: `Bearer ${tc.token}`, accept: 'text/event-stream' },
    });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/text\/event-stream/);
    // the stream ends by itself once the report is complete
    const text = await stream.text();
    const blocks = text.split('\n\n').filter((b) => b.startsWith('event: '));
    expect(blocks.at(-1)).toMatch(/^event: end/);
    const events = blocks
      .filter((b) => b.startsWith('event: progress\n'))
      .map((b) => JSON.parse(b.slice(b.indexOf('data: ') + 6)) as Reach);
    expect(events.length).toBeGreaterThan(0);
    const last = events.at(-1)!;
    expect(last.complete).toBe(true);
    expect(last.counts).toMatchObject({ total: 2, heard: 2 });
  });

  it('an emergency to every village needs confirmation: 428 without, 403 with a wrong PIN, sent with the password; each refusal audited', async () => {
    const body = { content: { kind: 'audio', audioId }, target: { all: true }, repeat: 1, gapSeconds: 0 };
    const bare = await tc.api<{ error: string }>('POST', '/api/announcements', body);
    expect(bare.status).toBe(428);
    expect(bare.body.error).toBe('confirmation_required');
    const wrong = await tc.api<{ error: string }>('POST', '/api/announcements', {
      ...body,
      confirm: { pin: 'not-the-password' },
    });
    expect(wrong.status).toBe(403);
    expect(wrong.body.error).toBe('bad_pin');
    const refused = await tc.api<{ items: { action: string; detail: string | null }[] }>(
      'GET',
      `/api/audit?action=${encodeURIComponent('announcement refused')}`,
    );
    expect(refused.body.items.map((e) => JSON.parse(e.detail ?? '{}').code).sort()).toEqual([
      'bad_pin',
      'confirmation_required',
    ]);
    // nothing went out for the refused calls
    expect((await tc.api<{ total: number }>('GET', '/api/announcements')).body.total).toBe(2);

    const sent = await tc.api<Answer>('POST', '/api/announcements', {
      ...body,
      confirm: { pin: ADMIN_PASSWORD },
    });
    expect(sent.status).toBe(201);
    const report = await waitComplete(sent.body.announcement.id);
    expect(report.counts).toMatchObject({ total: 8, heard: 8 });
    expect(report.villages).toHaveLength(4);
  });

  it("an editor's announcement waits for an approver; approved, it airs", async () => {
    const editor = await addOfficer(tc, 'bientap', ['editor']);
    const res = await tc.api<Answer>(
      'POST',
      '/api/announcements',
      { content: { kind: 'audio', audioId }, target: { zones: [zoneIds[3]] }, repeat: 1 },
      editor,
    );
    expect(res.status).toBe(202);
    expect(res.body.announcement.status).toBe('pending');
    const pending = await reachOf(res.body.announcement.id);
    expect(pending.counts.total).toBe(0);
    const approved = await tc.api('POST', `/api/approvals/${res.body.approval!.id}/approve`, {});
    expect(approved.status).toBe(200);
    const report = await waitComplete(res.body.announcement.id);
    expect(report.announcement.status).toBe('sent');
    expect(report.counts).toMatchObject({ total: 2, heard: 2 });
  });

  it('fires a signed webhook listing the receivers that have not heard it; one that reconnects before expiry plays it at once', async () => {
    const offline = rx('ann-08');
    await offline.goOffline();
    await waitFor('ann-08 offline', async () => !(await tc.isOnline('ann-08')));
    const hooksBefore = hooks.length;
    const res = await tc.api<Answer>('POST', '/api/announcements', {
      content: { kind: 'audio', audioId },
      target: { zones: [zoneIds[3]] },
      repeat: 1,
      expiresInSeconds: 600,
      // with what this officer sent before, it has now reached every village: the rule asks again
      confirm: { pin: ADMIN_PASSWORD },
    });
    expect(res.status).toBe(201);
    const id = res.body.announcement.id;
    await waitFor('ann-07 heard', async () => {
      const r = await reachOf(id);
      return r.villages[0]?.receivers.find((x) => x.id === 'ann-07')?.reach === 'heard';
    });
    const hook = await waitFor(
      'webhook',
      () => hooks.slice(hooksBefore).find((h) => h.body.includes(id)),
      15_000,
    );
    expect(hook.headers['x-loalang-event']).toBe('announcement.unreached');
    const signature = String(hook.headers['x-loalang-signature']);
    expect(verifyWebhook(SECRET, hook.body, signature)).toBe(true);
    expect(verifyWebhook('another-secret-0123456789', hook.body, signature)).toBe(false);
    const payload = JSON.parse(hook.body) as {
      announcement: { id: string };
      unreached: { receiverId: string; online: boolean; reach: string }[];
    };
    expect(payload.announcement.id).toBe(id);
    expect(payload.unreached).toEqual([
      expect.objectContaining({ receiverId: 'ann-08', online: false, reach: 'not_yet' }),
    ]);

    const playedBefore = offline.played.length;
    await offline.goOnline();
    const report = await waitComplete(id);
    expect(report.counts).toMatchObject({ total: 2, heard: 2 });
    expect(offline.played.slice(playedBefore).map((p) => p.bulletinId)).toEqual([
      res.body.announcement.bulletinId,
    ]);
    // fired once only
    expect(hooks.slice(hooksBefore).filter((h) => h.body.includes(id))).toHaveLength(1);
  });

  it('cancels a pending announcement (withdrawn) and refuses to cancel twice', async () => {
    const editor = (
      await tc.api<{ token: string }>(
        'POST',
        '/api/auth/login',
        {
          username: 'bientap',
          password: 'officer-password-123',
        },
        null,
      )
    ).body.token;
    const res = await tc.api<Answer>(
      'POST',
      '/api/announcements',
      { content: { kind: 'audio', audioId }, target: { zones: [zoneIds[0]] } },
      editor,
    );
    expect(res.status).toBe(202);
    const cancel = await tc.api<{ status: string }>(
      'POST',
      `/api/announcements/${res.body.announcement.id}/cancel`,
      {},
    );
    expect(cancel).toMatchObject({ status: 200, body: { status: 'withdrawn' } });
    const again = await tc.api<{ error: string }>(
      'POST',
      `/api/announcements/${res.body.announcement.id}/cancel`,
      {},
    );
    expect(again).toMatchObject({ status: 409, body: { error: 'not_active' } });
  });

  it('refuses bad input with a clear 4xx and sends nothing', async () => {
    const total = (await tc.api<{ total: number }>('GET', '/api/announcements')).body.total;
    const cases: [unknown, number, string][] = [
      [
        { content: { kind: 'audio', audioId: 'nope' }, target: { zones: [zoneIds[0]] } },
        400,
        'unknown_audio',
      ],
      [{ content: { kind: 'video' }, target: { zones: [zoneIds[0]] } }, 400, 'validation'],
      [{ content: { kind: 'text', text: '   ' }, target: { zones: [zoneIds[0]] } }, 400, 'validation'],
      [
        { content: { kind: 'audio', audioId }, target: { zones: [zoneIds[0]] }, volume: 101 },
        400,
        'validation',
      ],
      [
        {
          content: { kind: 'audio', audioId },
          target: { zones: [zoneIds[0]] },
          expiresAt: '2030-01-01T00:00:00Z',
          expiresInSeconds: 60,
        },
        400,
        'validation',
      ],
      [{ content: { kind: 'audio', audioId }, target: { zones: ['no-such-zone'] } }, 400, ''],
    ];
    for (const [body, status, code] of cases) {
      const res = await tc.api<{ error: string; message: string }>('POST', '/api/announcements', body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      if (code) expect(res.body.error, JSON.stringify(res.body)).toBe(code);
      expect(res.body.message.length).toBeGreaterThan(5);
    }
    expect((await tc.api<{ total: number }>('GET', '/api/announcements')).body.total).toBe(total);
    expect((await tc.api('GET', '/api/announcements/does-not-exist')).status).toBe(404);
  });
});
