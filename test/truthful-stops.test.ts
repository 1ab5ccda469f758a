/**
 * What the officer sees of a stop is what the horns did (issue 7, item 1), on real parts: the
 * controller as a child process killed with SIGKILL, a real Mosquitto stopped mid-broadcast, and
 * simulated receivers that keep playing while their link is down, as a real box does.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Api } from '../bench/api.js';
import { type ControllerProcess, startControllerProcess } from '../bench/procs.js';
import { SimReceiver } from '../firmware-sim/index.js';
import { optionsFromBundle } from '../firmware-sim/provisioning.js';
import type { ProvisioningBundle } from '../src/contract/provisioning.js';
import type { StopAnswer } from '../src/domain/bulletins/service.js';
import type { StopDetail } from '../src/domain/bulletins/stops.js';
import { mosquittoAvailable, startMosquitto } from './helpers/mosquitto.js';
import { waitFor } from './helpers/wait.js';

const MP3 = readFileSync(new URL('./fixtures/audio/tone.mp3', import.meta.url));

interface Delivery {
  receiverId: string;
  state: string;
  reason: string | null;
  detail: string | null;
}
interface Bulletin {
  id: string;
  status: string;
  summary: { total: number; finished: number };
  deliveries: Delivery[];
}
interface LogLine {
  receiverId: string;
  state: string;
  event: string | null;
  play: number | null;
}

async function setUp(cp: ControllerProcess, ids: string[]) {
  const api = new Api(cp.httpUrl);
  await api.login(cp.adminPassword);
  await api.json('POST', '/api/zones', { id: 'thon-1', name: 'Thôn 1' });
  const bundles = new Map<string, ProvisioningBundle>();
  for (const id of ids) {
    const r = await api.json<{ provisioning: ProvisioningBundle }>('POST', '/api/receivers', {
      id,
      zoneId: 'thon-1',
    });
    bundles.set(id, r.provisioning);
  }
  const audio = await api.uploadAudio(MP3, 'tin.mp3');
  return { api, bundles, audioId: audio.id };
}

/** Starts the receivers and waits until the controller shows every one online. */
async function startAll(api: Api, rxs: SimReceiver[]): Promise<void> {
  await Promise.all(rxs.map((r) => r.start()));
  await waitFor('all online', async () => {
    const list = await api.json<{ items: { online: boolean }[] }>('GET', '/api/receivers');
    return list.items.every((r) => r.online);
  });
}

/** POST answering 200 or 202: status and body. */
async function post<T>(api: Api, path: string, body: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(api.baseUrl + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

const byRx = (b: Bulletin) => Object.fromEntries(b.deliveries.map((d) => [d.receiverId, d.state]));

describe.skipIf(!mosquittoAvailable())('stops are facts, and deliveries follow what receivers report', () => {
  it.each(['stop', 'cancel'] as const)(
    'a %s survives a controller crash (SIGKILL) and reaches the receiver that was away; its plays meanwhile are in the as-run log',
    async (how) => {
      const m = await startMosquitto();
      let cp = await startControllerProcess({ mqttUrl: m.url });
      const dataDir = cp.dataDir;
      const rxs: SimReceiver[] = [];
      try {
        const { api, bundles, audioId } = await setUp(cp, ['rx-1', 'rx-2']);
        for (const id of ['rx-1', 'rx-2'])
          rxs.push(new SimReceiver({ ...optionsFromBundle(bundles.get(id)!), reconnectMaxMs: 500 }));
        const [rx1, rx2] = rxs as [SimReceiver, SimReceiver];
        await startAll(api, rxs);
        // 6 plays of 1.5 s with 1 s between: about 14 s of sound.
        const b = await api.json<Bulletin>('POST', '/api/bulletins', {
          audioId,
          target: { all: true },
          repeat: 6,
          gapSeconds: 1,
        });
        await Promise.all(
          rxs.map((r) => r.waitForEvent((e) => e.bulletinId === b.id && e.state === 'started', 10_000)),
        );

        // rx-2's link is cut; it goes on playing by itself.
        await rx2.goOffline();
        await waitFor(
          'rx-2 offline',
          async () => !(await api.json<{ online: boolean }>('GET', '/api/receivers/rx-2')).online,
        );
        const stop =
          how === 'stop'
            ? await post<StopAnswer>(api, '/api/stop', { all: true })
            : await post<{ stop: StopAnswer }>(api, `/api/bulletins/${b.id}/cancel`, {}).then((r) => ({
                status: r.status,
                body: r.body.stop,
              }));
        expect(stop.status).toBe(200);
        expect(stop.body.stopping).toBe(2);
        await rx1.waitForEvent((e) => e.bulletinId === b.id && e.state === 'cancelled');
        const half = await waitFor('rx-1 cancelled, rx-2 still stopping', async () => {
          const now = await api.json<Bulletin>('GET', `/api/bulletins/${b.id}`);
          return byRx(now)['rx-1'] === 'cancelled' ? now : null;
        });
        // Not "cancelled": nobody has told the controller that rx-2 stopped.
        expect(byRx(half)['rx-2']).toBe('stopping');
        const st = await api.json<StopDetail>('GET', `/api/stops/${stop.body.stop.id}`);
        expect(st.status).toBe('sent');
        expect(Object.fromEntries(st.perReceiver!.map((r) => [r.receiverId, r.state]))).toEqual({
          'rx-1': 'confirmed',
          'rx-2': 'pending',
        });

        // The controller crashes and comes back; the stop is still a fact.
        await cp.kill();
        cp = await startControllerProcess({ mqttUrl: m.url, restart: cp });
        await api.login(cp.adminPassword);
        // Away through the crash, it played on: a third play at least.
        await rx2.waitForEvent((e) => e.bulletinId === b.id && e.state === 'started' && e.play === 3, 10_000);
        await rx2.goOnline();
        const cancelled = await rx2.waitForEvent(
          (e) => e.bulletinId === b.id && e.state === 'cancelled',
          10_000,
        );
        expect(cancelled.by).toBe(stop.body.stop.id);
        // It never played the bulletin to its end.
        expect(rx2.played.some((p) => p.bulletinId === b.id)).toBe(false);

        const final = await waitFor('bulletin settled', async () => {
          const now = await api.json<Bulletin>('GET', `/api/bulletins/${b.id}`);
          return now.summary.finished === now.summary.total ? now : null;
        });
        expect(byRx(final)).toEqual({ 'rx-1': 'cancelled', 'rx-2': 'cancelled' });
        const confirmed = await waitFor('stop confirmed by both', async () => {
          const s = await api.json<StopDetail>('GET', `/api/stops/${stop.body.stop.id}`);
          return s.status === 'confirmed' ? s : null;
        });
        expect(confirmed.receivers.confirmed).toBe(2);

        // Every play rx-2 reported, including those while it was away, is in the as-run log.
        const reported = rx2.events
          .filter((e) => e.bulletinId === b.id && e.state === 'started')
          .map((e) => e.play);
        const log = await api.json<{ items: LogLine[] }>('GET', `/api/bulletins/${b.id}/log`);
        const logged = log.items
          .filter((l) => l.receiverId === 'rx-2' && l.event === 'started')
          .map((l) => l.play);
        expect(logged).toEqual(reported);
        // …among them the plays it made while the controller was down (3 at least).
        expect(logged).toEqual(expect.arrayContaining([1, 2, 3]));

        // The stop is in the audit log, by its id.
        const audit = await api.json<{ items: { action: string; subject: string | null }[] }>(
          'GET',
          how === 'stop'
            ? '/api/audit?action=POST%20/api/stop'
            : '/api/audit?action=POST%20/api/bulletins/:id/cancel',
        );
        expect(audit.items.map((a) => a.subject)).toContain(how === 'stop' ? stop.body.stop.id : b.id);
      } finally {
        await Promise.all(rxs.map((r) => r.stop()));
        await cp.stop();
        rmSync(dataDir, { recursive: true, force: true });
        await m.stop();
      }
    },
    60_000,
  );

  it('with the broker unreachable, a stop is accepted but not delivered, and a delivery that played meanwhile says so', async () => {
    // Persistence on, as Debian's packaged mosquitto.conf has it (docs/mosquitto/loalang.conf): the
    // controller's session, and what receivers report meanwhile, outlive the broker's restart.
    const persist = mkdtempSync(join(tmpdir(), 'loalang-mosq-db-'));
    chmodSync(persist, 0o777);
    const persistence = ['persistence true', `persistence_location ${persist}/`];
    let m = await startMosquitto(persistence);
    const cp = await startControllerProcess({ mqttUrl: m.url });
    const rxs: SimReceiver[] = [];
    try {
      const { api, bundles, audioId } = await setUp(cp, ['rx-a', 'rx-b']);
      for (const id of ['rx-a', 'rx-b'])
        rxs.push(
          new SimReceiver({
            ...optionsFromBundle(bundles.get(id)!),
            reconnectMinMs: 100,
            reconnectMaxMs: 500,
          }),
        );
      await startAll(api, rxs);
      const b = await api.json<Bulletin>('POST', '/api/bulletins', {
        audioId,
        target: { zones: ['thon-1'] },
        repeat: 2,
        gapSeconds: 0.5,
      });
      await Promise.all(
        rxs.map((r) => r.waitForEvent((e) => e.bulletinId === b.id && e.state === 'started', 10_000)),
      );

      await m.stop();
      const stop = await post<StopAnswer>(api, '/api/stop', { zones: ['thon-1'] });
      // Recorded, and said to be not yet delivered.
      expect(stop.status).toBe(202);
      expect(stop.body.handedOff).toBe(false);
      expect(stop.body.stop.status).toBe('accepted');
      const during = await api.json<Bulletin>('GET', `/api/bulletins/${b.id}`);
      expect(byRx(during)).toEqual({ 'rx-a': 'stopping', 'rx-b': 'stopping' });

      // With no broker, the receivers play to the end (3.5 s).
      await Promise.all(
        rxs.map((r) => r.waitForEvent((e) => e.bulletinId === b.id && e.state === 'finished', 10_000)),
      );
      m = await startMosquitto(persistence, { port: m.port });

      // Their reports arrive once the broker is back: they played, and the officer sees it.
      const final = await waitFor(
        'deliveries settled',
        async () => {
          const now = await api.json<Bulletin>('GET', `/api/bulletins/${b.id}`);
          return now.summary.finished === now.summary.total ? now : null;
        },
        20_000,
      );
      expect(byRx(final)).toEqual({ 'rx-a': 'done', 'rx-b': 'done' });
      expect(final.deliveries.every((d) => d.detail === 'played to the end before the stop reached it')).toBe(
        true,
      );
      const log = await api.json<{ items: LogLine[] }>('GET', `/api/bulletins/${b.id}/log`);
      expect(
        log.items
          .filter((l) => l.event === 'finished')
          .map((l) => l.receiverId)
          .sort(),
      ).toEqual(['rx-a', 'rx-b']);
      // The stop reached them afterwards; each receiver confirmed it.
      const reached = await waitFor(
        'stop confirmed',
        async () => {
          const s = await api.json<StopDetail>('GET', `/api/stops/${stop.body.stop.id}`);
          return s.status === 'confirmed' ? s : null;
        },
        20_000,
      );
      expect(reached.handedOffAt).not.toBeNull();
    } finally {
      await Promise.all(rxs.map((r) => r.stop()));
      await cp.stop();
      await m.stop();
      rmSync(persist, { recursive: true, force: true });
    }
  }, 60_000);
});
