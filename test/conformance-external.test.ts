/**
 * The conformance kit on a broker it did not start (`--broker mqtt://…`): a bench broker that lets
 * anyone in, started here as a vendor would run one. The kit's controller uses its own topic root,
 * so a fleet sharing that broker never hears the kit's commands (all-stops included); the cases
 * that cut the link and restart the receiver work through the kit's proxy as with its own broker.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KIT_TOPIC_ROOT, runConformance } from '../src/conformance/kit.js';
import { simLauncher } from '../src/conformance/launchers.js';
import { type MosquittoHandle, startMosquitto } from '../src/mqtt/mosquitto-process.js';
import { mosquittoAvailable } from './helpers/mosquitto.js';

const ONLY = [
  'connect.status',
  'wire.connect',
  'verify.unsigned',
  'play.basic',
  'play.all_topic',
  'stop.all',
  'link.reconnect',
  'link.stop_during_cut',
  'reboot.session',
  'wire.subscriptions',
  'wire.publishes',
];

describe.skipIf(!mosquittoAvailable())('conformance kit on an external broker', () => {
  let broker: MosquittoHandle;
  let watcher: mqtt.MqttClient;
  const heard: string[] = [];
  beforeAll(async () => {
    broker = await startMosquitto();
    watcher = await mqtt.connectAsync(broker.url, { clientId: 'bench-watcher', reconnectPeriod: 0 });
    watcher.on('message', (topic) => heard.push(topic));
    await watcher.subscribeAsync('#', { qos: 0 });
  });
  afterAll(async () => {
    await watcher?.endAsync();
    await broker?.stop();
  });

  it('firmware-sim passes, and everything the run said stays under the kit’s topic root', async () => {
    const report = await runConformance({
      receiverId: 'cf-sim-ext',
      broker: { url: broker.url, env: {} },
      launcher: simLauncher(),
      only: ONLY,
    });
    expect(report.broker).toBe(`external (${broker.url})`);
    expect(
      report.results
        .filter((c) => c.outcome !== 'pass')
        .map((c) => `${c.id}: ${c.outcome} ${c.reason ?? ''}`),
    ).toEqual([]);
    expect(report.results.map((r) => r.id).sort()).toEqual([...ONLY].sort());
    // The watcher heard the run (the receiver's status, the kit's commands), all of it under the
    // kit's root: the all-topic cases reached no other fleet.
    expect(heard).toContain(`${KIT_TOPIC_ROOT}/rx/cf-sim-ext/status`);
    expect(heard).toContain(`${KIT_TOPIC_ROOT}/all/cmd`);
    expect(heard.filter((t) => !t.startsWith(`${KIT_TOPIC_ROOT}/`) && !t.startsWith('$'))).toEqual([]);
  }, 180_000);
});
