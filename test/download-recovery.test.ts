/**
 * A controller restart during downloads does not fail them for good (issue 7, item 7): receivers
 * retry with backoff until the command expires, and the controller offers a failed download again
 * (under a new command id) a bounded number of times while the bulletin is valid.
 */
import { readFileSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Api } from '../bench/api.js';
import { startControllerProcess } from '../bench/procs.js';
import { SimReceiver } from '../firmware-sim/index.js';
import { optionsFromBundle } from '../firmware-sim/provisioning.js';
import type { ProvisioningBundle } from '../src/contract/provisioning.js';
import { startTestController } from './helpers/controller.js';
import { waitFor } from './helpers/wait.js';

const MP3 = readFileSync(new URL('./fixtures/audio/tone.mp3', import.meta.url));

interface Bulletin {
  id: string;
  summary: { total: number; finished: number };
  deliveries: { receiverId: string; state: string; reason: string | null; attempts: number }[];
}

describe('downloads survive trouble', () => {
  it('a controller crash (SIGKILL, embedded broker and all) while 8 receivers download: every one plays, once', async () => {
    let cp = await startControllerProcess({});
    const dataDir = cp.dataDir;
    const rxs: SimReceiver[] = [];
    try {
      const api = new Api(cp.httpUrl);
      await api.login(cp.adminPassword);
      await api.json('POST', '/api/zones', { id: 'thon-1', name: 'Thôn 1' });
      for (let i = 1; i <= 8; i++) {
        const id = `rx-${i}`;
        const r = await api.json<{ provisioning: ProvisioningBundle }>('POST', '/api/receivers', {
          id,
          zoneId: 'thon-1',
        });
        rxs.push(
          new SimReceiver({
            ...optionsFromBundle(r.provisioning),
            timeFactor: 0.1,
            reconnectMinMs: 100,
            reconnectMaxMs: 500,
            downloadRetryMaxMs: 1000,
            // 3.4 kB at 1 kB/s: every download is under way when the controller dies.
            faults: { downloadRateBytesPerSec: 1000 },
          }),
        );
      }
      await Promise.all(rxs.map((r) => r.start()));
      await waitFor('all online', async () => {
        const list = await api.json<{ items: { online: boolean }[] }>('GET', '/api/receivers');
        return list.items.length === 8 && list.items.every((r) => r.online);
      });
      const audio = await api.uploadAudio(MP3, 'tin.mp3');
      const b = await api.json<Bulletin>('POST', '/api/bulletins', {
        audioId: audio.id,
        target: { all: true },
      });
      await Promise.all(
        rxs.map((r) => r.waitForEvent((e) => e.bulletinId === b.id && e.state === 'downloading', 10_000)),
      );
      await cp.kill();
      cp = await startControllerProcess({ restart: cp });
      await api.login(cp.adminPassword);

      const final = await waitFor(
        'every delivery final',
        async () => {
          const now = await api.json<Bulletin>('GET', `/api/bulletins/${b.id}`);
          return now.summary.finished === now.summary.total ? now : null;
        },
        30_000,
      );
      expect(final.deliveries.map((d) => d.state)).toEqual(Array(8).fill('done'));
      for (const rx of rxs) {
        expect(rx.played.filter((p) => p.bulletinId === b.id)).toHaveLength(1);
        expect(rx.events.some((e) => e.bulletinId === b.id && e.state === 'failed')).toBe(false);
      }
    } finally {
      await Promise.all(rxs.map((r) => r.stop()));
      await cp.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('offers a failed download again under a new id, a bounded number of times', async () => {
    const tc = await startTestController({ REOFFER_DELAY_S: '1' });
    await tc.api('POST', '/api/zones', { id: 'thon-1', name: 'Thôn 1' });
    await tc.register('rx-once', 'thon-1');
    await tc.register('rx-never', 'thon-1');
    // Firmware that gives up after one attempt; the first download is cut, or every one is.
    const once = new SimReceiver({
      ...tc.sim('rx-once'),
      timeFactor: 0.05,
      downloadAttempts: 1,
      faults: { dropMidDownload: 1 },
    });
    const never = new SimReceiver({
      ...tc.sim('rx-never'),
      timeFactor: 0.05,
      downloadAttempts: 1,
      faults: { dropMidDownload: 100 },
    });
    try {
      await Promise.all([once.start(), never.start()]);
      await waitFor(
        'both online',
        async () => (await tc.isOnline('rx-once')) && (await tc.isOnline('rx-never')),
      );
      const audioId = (await tc.upload(MP3, 'tin.mp3')).audio.id;
      const b = await tc.api<Bulletin>('POST', '/api/bulletins', { audioId, target: { zones: ['thon-1'] } });
      const final = await waitFor(
        'both final',
        async () => {
          const now = await tc.api<Bulletin>('GET', `/api/bulletins/${b.body.id}`);
          return now.body.summary.finished === now.body.summary.total ? now.body : null;
        },
        20_000,
      );
      const by = Object.fromEntries(final.deliveries.map((d) => [d.receiverId, d]));
      expect(by['rx-once']!.state).toBe('done');
      expect(by['rx-never']).toMatchObject({ state: 'failed', reason: 'download_failed' });

      // rx-once failed one copy and played the next, which had another command id.
      const failed = once.events.filter((e) => e.bulletinId === b.body.id && e.state === 'failed');
      const finished = once.events.filter((e) => e.bulletinId === b.body.id && e.state === 'finished');
      expect(failed).toHaveLength(1);
      expect(finished).toHaveLength(1);
      expect(finished[0]!.commandId).not.toBe(failed[0]!.commandId);
      expect(once.played.filter((p) => p.bulletinId === b.body.id)).toHaveLength(1);
      // rx-never got the first copy and 3 re-offers, then the controller gave up.
      const tries = new Set(
        never.events
          .filter((e) => e.bulletinId === b.body.id && e.state === 'failed')
          .map((e) => e.commandId),
      );
      expect(tries.size).toBe(4);
    } finally {
      await Promise.all([once.stop(), never.stop()]);
      await tc.stop();
    }
  }, 30_000);
});
