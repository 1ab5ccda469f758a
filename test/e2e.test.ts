/**
 * End to end, on real parts: a controller, 14 simulated receivers (real MQTT clients that download
 * real bytes over HTTP), once on the embedded broker and once on a real Mosquitto the suite starts.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, fetchTrustedKeys, SimReceiver, startFleet } from '../firmware-sim/index.js';
import type { ProvisioningBundle } from '../src/contract/provisioning.js';
import type { StopAnswer } from '../src/domain/bulletins/service.js';
import type { StopDetail } from '../src/domain/bulletins/stops.js';
import { startTestController, type TestController } from './helpers/controller.js';
import { type MosquittoHandle, mosquittoAvailable, startMosquitto } from './helpers/mosquitto.js';
import { waitFor } from './helpers/wait.js';

const VILLAGES = [
  'Thôn Đồng Bùa',
  'Thôn Đồng Giếng',
  'Thôn Đồng Tâm',
  'Thôn Gò Dẫu',
  'Thôn Quan Nội',
  'Thôn Thượng',
  'Thôn Hạ',
  'Thôn Trung',
  'Thôn Quang Đạo',
  'Thôn Đông',
  'Thôn Nam',
  'Thôn Tây',
  'Thôn Bắc',
  'Thôn Mới',
];
const FIXTURE = new URL('./fixtures/audio/tone.mp3', import.meta.url);

interface Delivery {
  receiverId: string;
  state: string;
  reason: string | null;
}
interface Bulletin {
  id: string;
  status: string;
  summary: { total: number; finished: number; byState: Record<string, number> };
  deliveries: Delivery[];
}

function suite(
  name: string,
  brokerEnv: () => Promise<{ env: Record<string, string>; stop(): Promise<void> }>,
) {
  describe(name, () => {
    let tc: TestController;
    let fleet: Fleet;
    let stopBroker: () => Promise<void> = async () => {};
    let audioId = '';
    let audioSha = '';
    const zoneIds: string[] = [];
    const rxOf = (zoneIndex: number) => fleet.receivers[zoneIndex]!;

    beforeAll(async () => {
      const broker = await brokerEnv();
      stopBroker = broker.stop;
      tc = await startTestController(broker.env);
      for (const [i, name] of VILLAGES.entries()) {
        const z = await tc.api<{ id: string }>('POST', '/api/zones', { name });
        expect(z.status).toBe(201);
        zoneIds.push(z.body.id);
        // Registration answers the receiver's provisioning bundle (its credentials, shown once).
        await tc.register(`hd-${String(i + 1).padStart(2, '0')}`, z.body.id);
      }
      const trustedKeys = await fetchTrustedKeys(`${tc.url}/api/system/signing-key`);
      fleet = await startFleet({
        count: 14,
        idPrefix: 'hd',
        brokerUrl: tc.mqttUrl,
        trustedKeys,
        timeFactor: 0.05,
        configure: (id) => tc.sim(id),
      });
      await Promise.all(fleet.receivers.map((rx) => rx.waitForConfig((c) => c.adopted)));
      await waitFor('14 receivers online', async () => {
        const res = await tc.api<{ receivers: { online: number } }>('GET', '/api/health');
        return res.body.receivers.online === 14;
      });
      const bytes = readFileSync(FIXTURE);
      audioSha = createHash('sha256').update(bytes).digest('hex');
      const up = await tc.upload(bytes, 'ban-tin.mp3');
      expect(up.status).toBe(201);
      expect(up.audio.sha256).toBe(audioSha);
      audioId = up.audio.id;
    });

    afterAll(async () => {
      await fleet?.stop();
      await tc?.stop();
      await stopBroker();
    });

    const getBulletin = async (id: string) => (await tc.api<Bulletin>('GET', `/api/bulletins/${id}`)).body;
    const waitFinished = (id: string, timeoutMs = 15_000) =>
      waitFor(
        `bulletin ${id} finished`,
        async () => {
          const b = await getBulletin(id);
          return b.summary.finished === b.summary.total ? b : null;
        },
        timeoutMs,
      );

    it('plays a bulletin on 3 villages: exactly their receivers, the uploaded bytes, all done', async () => {
      const played = fleet.receivers.map((rx) => rx.played.length);
      const targets = [zoneIds[0]!, zoneIds[4]!, zoneIds[9]!];
      const res = await tc.api<Bulletin>('POST', '/api/bulletins', {
        title: 'Thông báo lịch tiêm phòng',
        audioId,
        target: { zones: targets },
        priority: 'normal',
        repeat: 2,
        gapSeconds: 1,
      });
      expect(res.status).toBe(201);
      expect(res.body.summary.total).toBe(3);
      const b = await waitFinished(res.body.id);
      expect(b.status).toBe('completed');
      expect(b.deliveries.map((d) => [d.receiverId, d.state])).toEqual([
        ['hd-01', 'done'],
        ['hd-05', 'done'],
        ['hd-10', 'done'],
      ]);
      for (const [i, rx] of fleet.receivers.entries()) {
        const mine = rx.played.slice(played[i]).filter((p) => p.bulletinId === res.body.id);
        if ([0, 4, 9].includes(i)) {
          expect(mine).toHaveLength(1);
          expect(mine[0]!.sha256).toBe(audioSha);
          expect(mine[0]!.plays).toBe(2);
        } else {
          expect(mine).toHaveLength(0);
          expect(rx.events.some((e) => e.bulletinId === res.body.id)).toBe(false);
        }
      }
      // The as-run log holds what the receivers reported, in order, for one of them.
      const log = await tc.api<{ items: { receiverId: string; state: string }[] }>(
        'GET',
        `/api/bulletins/${res.body.id}/log`,
      );
      expect(log.body.items.filter((e) => e.receiverId === 'hd-05').map((e) => e.state)).toEqual([
        'received',
        'downloading',
        'ready',
        'playing',
        'playing',
        'done',
      ]);
    });

    it('streams live progress (Server-Sent Events) until every delivery is final', async () => {
      const res = await tc.api<Bulletin>('POST', '/api/bulletins', {
        audioId,
        target: { zones: [zoneIds[11]!, zoneIds[12]!] },
        repeat: 2,
        gapSeconds: 2,
      });
      const stream = await fetch(`${tc.url}/api/bulletins/${res.body.id}/progress`, {
        headers: { authorization: `Bearer ${tc.token}` },
      });
      expect(stream.headers.get('content-type')).toMatch(/text\/event-stream/);
      const text = await stream.text(); // ends when the server closes the stream after "end"
      const events = text
        .split('\n\n')
        .filter((block) => block.startsWith('event:'))
        .map((block) => {
          const [ev, data] = block.split('\n');
          return { event: ev!.slice('event: '.length), data: JSON.parse(data!.slice('data: '.length)) };
        });
      expect(events.at(-1)!.event).toBe('end');
      const progress = events.filter((e) => e.event === 'progress').map((e) => e.data);
      expect(progress.length).toBeGreaterThan(1);
      expect(progress.at(-1)).toMatchObject({
        status: 'completed',
        summary: { total: 2, finished: 2, played: 2 },
      });
      const unauth = await fetch(`${tc.url}/api/bulletins/${res.body.id}/progress`);
      expect(unauth.status).toBe(401);
    });

    it('delivers to a receiver that was offline when it was sent, once it reconnects', async () => {
      const rx = rxOf(1);
      await rx.goOffline();
      await waitFor('hd-02 offline', async () => !(await tc.isOnline('hd-02')));
      const res = await tc.api<Bulletin>('POST', '/api/bulletins', {
        audioId,
        target: { zones: [zoneIds[1]!] },
      });
      expect(res.status).toBe(201);
      expect((await getBulletin(res.body.id)).deliveries[0]!.state).toBe('queued');
      await rx.goOnline();
      const b = await waitFinished(res.body.id);
      expect(b.deliveries[0]!.state).toBe('done');
      expect(rx.played.at(-1)).toMatchObject({ bulletinId: res.body.id, sha256: audioSha });
    });

    it('expires the delivery of a receiver that stays offline past the expiry, and it never plays', async () => {
      const rx = rxOf(2);
      await rx.goOffline();
      await waitFor('hd-03 offline', async () => !(await tc.isOnline('hd-03')));
      const res = await tc.api<Bulletin>('POST', '/api/bulletins', {
        audioId,
        target: { receivers: ['hd-03'] },
        expiresInSeconds: 2,
      });
      expect(res.status).toBe(201);
      const b = await waitFinished(res.body.id, 10_000);
      expect(b.deliveries[0]).toMatchObject({ state: 'expired', reason: 'expired' });
      await rx.goOnline();
      // A later bulletin to it plays, and the expired one never did.
      const next = await tc.api<Bulletin>('POST', '/api/bulletins', {
        audioId,
        target: { receivers: ['hd-03'] },
      });
      await waitFinished(next.body.id);
      expect(rx.played.some((p) => p.bulletinId === res.body.id)).toBe(false);
      expect(rx.played.at(-1)!.bulletinId).toBe(next.body.id);
    });

    it('lets an emergency preempt a normal bulletin on the receivers it targets only; it resumes there after', async () => {
      const [a, b] = [rxOf(5), rxOf(6)];
      const normal = await tc.api<Bulletin>('POST', '/api/bulletins', {
        audioId,
        target: { zones: [zoneIds[5]!, zoneIds[6]!] },
        priority: 'normal',
        repeat: 6,
        gapSeconds: 4,
      });
      expect(normal.status).toBe(201);
      await Promise.all(
        [a, b].map((rx) => rx.waitForEvent((e) => e.bulletinId === normal.body.id && e.state === 'started')),
      );
      const urgent = await tc.api<Bulletin>('POST', '/api/bulletins', {
        title: 'Cảnh báo bão',
        audioId,
        target: { zones: [zoneIds[5]!] },
        priority: 'emergency',
      });
      expect(urgent.status).toBe(201);
      const u = await waitFinished(urgent.body.id);
      expect(u.deliveries[0]).toMatchObject({ receiverId: 'hd-06', state: 'done' });
      const preempted = await a.waitForEvent(
        (e) => e.bulletinId === normal.body.id && e.state === 'preempted',
      );
      expect(preempted.by).toBeDefined();
      expect(preempted.resumes).toBe(true);
      const n = await waitFinished(normal.body.id, 20_000);
      // interrupted on hd-06, played again from the start of the cut play after the emergency
      expect(Object.fromEntries(n.deliveries.map((d) => [d.receiverId, d.state]))).toEqual({
        'hd-06': 'done',
        'hd-07': 'done',
      });
      expect(a.played.find((p) => p.bulletinId === normal.body.id)).toMatchObject({
        plays: 6,
        interruptions: 1,
      });
      expect(b.played.some((p) => p.bulletinId === normal.body.id && p.plays === 6)).toBe(true);
    });

    it('cancels a bulletin and stops everything in a zone', async () => {
      const rx = rxOf(7);
      const long = await tc.api<Bulletin>('POST', '/api/bulletins', {
        audioId,
        target: { zones: [zoneIds[7]!, zoneIds[8]!] },
        repeat: 20,
        gapSeconds: 10,
      });
      await rx.waitForEvent((e) => e.bulletinId === long.body.id && e.state === 'started');
      // The controller knows what it plays from its events.
      type Rx = { nowPlaying: { bulletinId?: string; priority: string } | null };
      const playingNow = await waitFor('now playing', async () => {
        const r = await tc.api<Rx>('GET', '/api/receivers/hd-08');
        return r.body.nowPlaying?.bulletinId === long.body.id ? r.body.nowPlaying : null;
      });
      expect(playingNow.priority).toBe('normal');
      const stop = await tc.api<StopAnswer>('POST', '/api/stop', { zones: [zoneIds[7]!] });
      expect(stop.status).toBe(200);
      // What the stop covers shows `stopping` until the receiver says so.
      expect(stop.body.stopping).toBe(1);
      expect(stop.body.handedOff).toBe(true);
      await rx.waitForEvent((e) => e.bulletinId === long.body.id && e.state === 'cancelled');
      expect(rx.nowPlaying).toBeNull();
      const confirmed = await waitFor('stop confirmed', async () => {
        const st = await tc.api<StopDetail>('GET', `/api/stops/${stop.body.stop.id}`);
        return st.body.status === 'confirmed' ? st.body : null;
      });
      expect(confirmed.perReceiver).toEqual([
        expect.objectContaining({ receiverId: 'hd-08', state: 'confirmed' }),
      ]);
      await waitFor(
        'silence recorded',
        async () => (await tc.api<Rx>('GET', '/api/receivers/hd-08')).body.nowPlaying === null,
      );
      const cancel = await tc.api<Bulletin>('POST', `/api/bulletins/${long.body.id}/cancel`);
      expect(cancel.status).toBe(200);
      expect(cancel.body.status).toBe('cancelled');
      await rxOf(8).waitForEvent((e) => e.bulletinId === long.body.id && e.state === 'cancelled');
      const byRx = (b: Bulletin) => Object.fromEntries(b.deliveries.map((d) => [d.receiverId, d.state]));
      // hd-08 was stopped already (its receiver said so); hd-09 is stopping until its receiver says so.
      expect(byRx(cancel.body)['hd-08']).toBe('cancelled');
      expect(['stopping', 'cancelled']).toContain(byRx(cancel.body)['hd-09']);
      const after = await waitFinished(long.body.id);
      expect(byRx(after)).toEqual({ 'hd-08': 'cancelled', 'hd-09': 'cancelled' });
    });

    it('sends a stop again to a receiver that was away when it was issued', async () => {
      const rx = rxOf(3);
      const long = await tc.api<Bulletin>('POST', '/api/bulletins', {
        audioId,
        target: { zones: [zoneIds[3]!] },
        repeat: 20,
        gapSeconds: 10,
      });
      await rx.waitForEvent((e) => e.bulletinId === long.body.id && e.state === 'started');
      await rx.goOffline();
      await waitFor('hd-04 offline', async () => !(await tc.isOnline('hd-04')));
      const stop = await tc.api<StopAnswer>('POST', '/api/stop', { zones: [zoneIds[3]!] });
      expect(stop.body.stopping).toBe(1);
      // Away, it did not hear the stop: a box that lost its link keeps playing, and the officer
      // sees that the stop has not reached it.
      expect(rx.nowPlaying?.bulletinId).toBe(long.body.id);
      const waiting = await tc.api<StopDetail>('GET', `/api/stops/${stop.body.stop.id}`);
      expect(waiting.body.perReceiver).toEqual([
        expect.objectContaining({ receiverId: 'hd-04', state: 'pending' }),
      ]);
      const meanwhile = await tc.api<Bulletin>('GET', `/api/bulletins/${long.body.id}`);
      expect(meanwhile.body.deliveries.map((d) => d.state)).toEqual(['stopping']);
      // The officer watches the stop reach it: the stream ends once every receiver confirmed.
      const res = await fetch(`${tc.url}/api/stops/${stop.body.stop.id}/progress`, {
        headers: { authorization: `Bearer ${tc.token}` },
      });
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let text = '';
      // The first snapshot is written at once, before the receiver is back.
      while (!text.includes('\n\n')) text += decoder.decode((await reader.read()).value);
      await rx.goOnline();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value);
      }
      const blocks = text.split('\n\n').filter((b) => b.startsWith('event:'));
      expect(blocks.at(-1)).toMatch(/^event: end/);
      const progress = blocks
        .filter((b) => b.startsWith('event: progress'))
        .map((b) => JSON.parse(b.split('data: ')[1]!));
      expect(progress[0]).toMatchObject({
        status: 'sent',
        receivers: { total: 1, pending: 1, confirmed: 0 },
      });
      expect(progress.at(-1)).toMatchObject({ status: 'confirmed', receivers: { total: 1, confirmed: 1 } });
      const cancelled = await rx.waitForEvent(
        (e) => e.bulletinId === long.body.id && e.state === 'cancelled',
      );
      expect(cancelled.by).toBe(stop.body.stop.id);
      expect(rx.nowPlaying).toBeNull();
      const done = await waitFinished(long.body.id);
      expect(done.deliveries.map((d) => d.state)).toEqual(['cancelled']);
    });

    it('shows an unknown receiver as pending; it gets nothing until adopted, then plays', async () => {
      // No credentials: it gets in only through discovery (MQTT_DISCOVERY on the embedded broker).
      const stranger = new SimReceiver({
        id: 'rx-stranger',
        brokerUrl: tc.mqttUrl,
        trustedKeys: await fetchTrustedKeys(`${tc.url}/api/system/signing-key`),
        timeFactor: 0.05,
        reconnectMinMs: 50,
        refusedRetryMs: 100,
      });
      try {
        await stranger.start();
        await stranger.waitForConfig((c) => !c.adopted);
        const pending = await tc.api<{ items: { id: string; online: boolean }[] }>(
          'GET',
          '/api/receivers?adoption=pending',
        );
        expect(pending.body.items.map((r) => r.id)).toContain('rx-stranger');
        const toAll = await tc.api<Bulletin>('POST', '/api/bulletins', { audioId, target: { all: true } });
        expect(toAll.body.summary.total).toBe(14);
        const direct = await tc.api<{ error: string }>('POST', '/api/bulletins', {
          audioId,
          target: { receivers: ['rx-stranger'] },
        });
        expect(direct.body.error).toBe('receiver_pending');
        await waitFinished(toAll.body.id);
        expect(stranger.events).toEqual([]);

        const adopted = await tc.api<{ provisioning: ProvisioningBundle }>(
          'PATCH',
          '/api/receivers/rx-stranger',
          {
            zoneId: zoneIds[13]!,
            name: 'Cụm loa mới',
          },
        );
        expect(adopted.status).toBe(200);
        // The installer puts the bundle adoption answered on the device.
        const { username, password } = adopted.body.provisioning.mqtt;
        stranger.setCredentials(username, password);
        await stranger.waitForConfig((c) => c.adopted && c.zones.includes(zoneIds[13]!));
        const toZone = await tc.api<Bulletin>('POST', '/api/bulletins', {
          audioId,
          target: { zones: [zoneIds[13]!] },
        });
        const b = await waitFinished(toZone.body.id);
        expect(b.deliveries.map((d) => [d.receiverId, d.state])).toEqual([
          ['hd-14', 'done'],
          ['rx-stranger', 'done'],
        ]);
        expect(stranger.played.map((p) => p.bulletinId)).toEqual([toZone.body.id]);
        // Removing the receiver keeps the broadcast history.
        expect((await tc.api('DELETE', '/api/receivers/rx-stranger')).status).toBe(204);
        const after = await tc.api<Bulletin>('GET', `/api/bulletins/${toZone.body.id}`);
        expect(after.body.deliveries.map((d) => [d.receiverId, d.state])).toEqual([
          ['hd-14', 'done'],
          ['rx-stranger', 'done'],
        ]);
      } finally {
        await stranger.stop();
        await tc.api('DELETE', '/api/receivers/rx-stranger');
      }
    });

    it('refuses bad bulletins with a clear 400 and changes nothing', async () => {
      const count = (t: string) =>
        (tc.controller.db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
      const before = [count('bulletins'), count('deliveries')];
      const cases: [unknown, string][] = [
        [{ audioId, target: {} }, 'empty_target'],
        [{ audioId, target: { zones: [] } }, 'empty_target'],
        [{ audioId, target: { zones: ['no-such-village'] } }, 'unknown_zone'],
        [{ audioId, target: { receivers: ['ghost'] } }, 'unknown_receiver'],
        [{ audioId: 'no-such-audio', target: { all: true } }, 'unknown_audio'],
        [{ audioId, target: { all: true }, priority: 'urgent' }, 'validation'],
        [{ audioId, target: { all: true }, repeat: 'twice' }, 'validation'],
      ];
      for (const [body, code] of cases) {
        const res = await tc.api<{ error: string; message: string }>('POST', '/api/bulletins', body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error).toBe(code);
        expect(res.body.message.length).toBeGreaterThan(10);
      }
      await tc.api('POST', '/api/zones', { id: 'empty-village', name: 'Thôn trống' });
      const empty = await tc.api<{ error: string }>('POST', '/api/bulletins', {
        audioId,
        target: { zones: ['empty-village'] },
      });
      expect(empty.body.error).toBe('no_receivers');
      expect([count('bulletins'), count('deliveries')]).toEqual(before);
    });
  });
}

suite('end to end on the embedded broker', async () => ({
  env: { MQTT_DISCOVERY: 'true' },
  stop: async () => {},
}));

describe.skipIf(!mosquittoAvailable())('with Mosquitto', () => {
  suite('end to end on a real Mosquitto', async () => {
    const m: MosquittoHandle = await startMosquitto();
    return { env: { MQTT_URL: m.url }, stop: () => m.stop() };
  });
});
