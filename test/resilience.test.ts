/**
 * What survives a restart: the controller's own (active bulletins reach receivers that come back
 * later), and the broker's (the controller reconnects and subscribes again).
 */

import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fetchTrustedKeys, SimReceiver } from '../firmware-sim/index.js';
import { startTestController, type TestController } from './helpers/controller.js';
import { mosquittoAvailable, startMosquitto } from './helpers/mosquitto.js';
import { waitFor } from './helpers/wait.js';

const MP3 = readFileSync(new URL('./fixtures/audio/tone.mp3', import.meta.url));

const upload = async (tc: TestController) => (await tc.upload(MP3, 'tin.mp3')).audio.id;
const online = (tc: TestController, id: string) => () => tc.isOnline(id);

describe.skipIf(!mosquittoAvailable())('restarts', () => {
  it('keeps an undelivered bulletin across a controller restart and delivers it when the receiver returns', async () => {
    const m = await startMosquitto();
    let tc = await startTestController({ MQTT_URL: m.url }, { keepData: true });
    const dataDir = tc.dataDir;
    await tc.api('POST', '/api/zones', { id: 'thon-1', name: 'Thôn 1' });
    await tc.register('rx-late', 'thon-1');
    // Its credentials (and the controller key) survive the restart with the data directory.
    const rx = new SimReceiver({ ...tc.sim('rx-late'), timeFactor: 0.05 });
    try {
      const audioId = await upload(tc);
      const b = await tc.api<{ id: string }>('POST', '/api/bulletins', {
        audioId,
        target: { zones: ['thon-1'] },
      });
      expect(b.status).toBe(201);

      await tc.stop();
      tc = await startTestController({ MQTT_URL: m.url }, { dataDir, keepData: true });

      await rx.start();
      const played = await rx.waitForEvent(
        (e) => e.bulletinId === b.body.id && e.state === 'finished',
        10_000,
      );
      expect(played.sha256).toBe(createHash('sha256').update(MP3).digest('hex'));
      const done = await waitFor('done after restart', async () => {
        const res = await tc.api<{ status: string; deliveries: { state: string }[] }>(
          'GET',
          `/api/bulletins/${b.body.id}`,
        );
        return res.body.status === 'completed' ? res.body : null;
      });
      expect(done.deliveries.map((d) => d.state)).toEqual(['done']);
    } finally {
      await rx.stop();
      await tc.stop();
      rmSync(dataDir, { recursive: true, force: true });
      await m.stop();
    }
  });

  it('answers while the broker is away, reconnects to it, subscribes again and delivers what was asked meanwhile', async () => {
    let m = await startMosquitto();
    const tc = await startTestController({ MQTT_URL: m.url });
    const trustedKeys = await fetchTrustedKeys(`${tc.url}/api/system/signing-key`);
    await tc.api('POST', '/api/zones', { id: 'thon-1', name: 'Thôn 1' });
    await tc.register('rx-back', 'thon-1');
    const rxBack = new SimReceiver({ ...tc.sim('rx-back'), timeFactor: 0.05, reconnectMaxMs: 1000 });
    let rx: SimReceiver | null = null;
    try {
      const audioId = await upload(tc);
      await rxBack.start();
      await waitFor('rx-back online', online(tc, 'rx-back'));

      await m.stop();
      await waitFor('controller sees the broker gone', async () => {
        const h = await tc.api<{ mqtt: string; status: string }>('GET', '/api/health', undefined, null);
        return h.body.mqtt === 'disconnected' && h.body.status === 'degraded';
      });
      // The officer's request does not hang on the missing broker.
      const started = Date.now();
      const b = await tc.api<{ id: string }>('POST', '/api/bulletins', {
        audioId,
        target: { zones: ['thon-1'] },
      });
      expect(b.status).toBe(201);
      expect(Date.now() - started).toBeLessThan(1500);

      m = await startMosquitto([], { port: m.port });
      await waitFor(
        'controller reconnected',
        async () =>
          (await tc.api<{ mqtt: string }>('GET', '/api/health', undefined, null)).body.mqtt === 'connected',
        20_000,
      );
      // What was asked while the broker was away reaches the receiver once both are back.
      await rxBack.waitForEvent((e) => e.bulletinId === b.body.id && e.state === 'finished', 20_000);
      // The new broker has no memory of the controller's subscriptions: statuses must still arrive.
      rx = new SimReceiver({ id: 'rx-after', brokerUrl: m.url, trustedKeys });
      await rx.start();
      await waitFor('status after broker restart', online(tc, 'rx-after'));
    } finally {
      await rx?.stop();
      await rxBack.stop();
      await tc.stop();
      await m.stop();
    }
  }, 40_000);
});
