/**
 * The horns keep their schedule when the rest is down (issue 8), on real parts at real time: a
 * real Mosquitto stopped across an airing, and the controller killed (SIGKILL) in the middle of a
 * program and restarted on the same data. The receivers air from the schedules they hold, report
 * when they can, and the as-run log ends with every item once: nothing missed, nothing doubled.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Api } from '../bench/api.js';
import { type ControllerProcess, startControllerProcess } from '../bench/procs.js';
import { SimReceiver } from '../firmware-sim/index.js';
import { optionsFromBundle } from '../firmware-sim/provisioning.js';
import type { ProvisioningBundle } from '../src/contract/provisioning.js';
import { mosquittoAvailable, startMosquitto } from './helpers/mosquitto.js';
import { wav } from './helpers/sim-harness.js';
import { waitFor } from './helpers/wait.js';

const IDS = ['rx-1', 'rx-2', 'rx-3'];
const TZ = 'Asia/Ho_Chi_Minh';

interface AiringDetail {
  receivers: { receiverId: string; state: string; outcome: string | null; concluded: boolean }[];
}

/** Zone, receivers, three 2-second files and a program of them whose airing starts in `leadMs`. */
async function setUp(cp: ControllerProcess, leadMs: number) {
  const api = new Api(cp.httpUrl);
  await api.login(cp.adminPassword);
  await api.json('POST', '/api/zones', { id: 'thon-1', name: 'Thôn 1' });
  const bundles = new Map<string, ProvisioningBundle>();
  for (const id of IDS) {
    const r = await api.json<{ provisioning: ProvisioningBundle }>('POST', '/api/receivers', {
      id,
      zoneId: 'thon-1',
    });
    bundles.set(id, r.provisioning);
  }
  const files = [];
  for (const hz of [400, 500, 600]) files.push(await api.uploadAudio(wav(hz, 2000), `tin-${hz}.wav`));
  // A one-off program some minutes ahead, then its airing moved to the exact instant wanted.
  const later = new Date(Date.now() + 10 * 60_000);
  const local = new Intl.DateTimeFormat('sv-SE', { timeZone: TZ, dateStyle: 'short', timeStyle: 'short' })
    .format(later)
    .split(' ');
  await api.json('POST', '/api/programs', {
    id: 'tin-sang',
    title: 'Bản tin sáng',
    target: { zones: ['thon-1'] },
    recurrence: { kind: 'once', at: local[1], from: local[0] },
    items: files.map((f) => ({ kind: 'audio', audio: f.id })),
  });
  const program = await api.json<{ next: { id: string }[] }>('GET', '/api/programs/tin-sang');
  const airingId = program.next[0]!.id;
  const at = Date.now() + leadMs;
  await api.json('POST', `/api/airings/${airingId}/shift`, { at: new Date(at).toISOString() });
  return { api, bundles, airingId, at };
}

async function startReceivers(bundles: Map<string, ProvisioningBundle>, airingId: string) {
  const rxs = IDS.map(
    (id) =>
      new SimReceiver({ ...optionsFromBundle(bundles.get(id)!), reconnectMinMs: 100, reconnectMaxMs: 500 }),
  );
  await Promise.all(rxs.map((r) => r.start()));
  // Each holds the airing and its audio before anything is taken down.
  await Promise.all(
    rxs.map((r) => r.waitForAiring((x) => x.airingId === airingId && x.state === 'ready', 15_000)),
  );
  return rxs;
}

/** Each receiver played items 0, 1, 2 once each and ended the airing aired. */
function expectPlayedOnce(rxs: SimReceiver[], airingId: string) {
  for (const rx of rxs) {
    const mine = rx.airings.filter((r) => r.airingId === airingId);
    expect(mine.filter((r) => r.state === 'started').map((r) => r.item)).toEqual([0, 1, 2]);
    expect(mine.filter((r) => r.state === 'finished').map((r) => r.item)).toEqual([0, 1, 2]);
    expect(mine.filter((r) => r.state === 'ended').map((r) => r.outcome)).toEqual(['aired']);
  }
}

/** The controller shows every receiver aired, from their reports, each item logged once. */
async function expectAsRun(api: Api, airingId: string) {
  const detail = await waitFor(
    'every receiver aired, as the controller shows it',
    async () => {
      const d = await api.json<AiringDetail>('GET', `/api/airings/${airingId}`);
      return d.receivers.length === IDS.length && d.receivers.every((r) => r.outcome === 'aired') ? d : null;
    },
    30_000,
  );
  expect(detail.receivers.map((r) => [r.receiverId, r.state, r.concluded])).toEqual(
    IDS.map((id) => [id, 'ended', false]),
  );
  const log = await api.json<{ items: { receiverId: string; outcome: string; sha256: string[] }[] }>(
    'GET',
    '/api/asrun?kind=airing&program=tin-sang',
  );
  expect(log.items.map((r) => [r.receiverId, r.outcome, r.sha256.length])).toEqual(
    IDS.map((id) => [id, 'aired', 3]),
  );
}

describe.skipIf(!mosquittoAvailable())('schedules survive what fails around the receivers', () => {
  it('the broker stopped across an airing: it still airs on every receiver, and the reports arrive after', async () => {
    // Persistence on, as docs/mosquitto/loalang.conf has it: the controller's session, and what the
    // receivers report into it, outlive the broker's restart.
    const persist = mkdtempSync(join(tmpdir(), 'loalang-mosq-db-'));
    chmodSync(persist, 0o777);
    const persistence = ['persistence true', `persistence_location ${persist}/`];
    let m = await startMosquitto(persistence);
    const cp = await startControllerProcess({ mqttUrl: m.url, env: { SCHEDULES_DIR: 'off' } });
    let rxs: SimReceiver[] = [];
    try {
      const { api, bundles, airingId, at } = await setUp(cp, 8000);
      rxs = await startReceivers(bundles, airingId);
      const port = m.port;
      await m.stop();
      expect(Date.now()).toBeLessThan(at); // down before the instant
      await Promise.all(
        rxs.map((r) => r.waitForAiring((x) => x.airingId === airingId && x.state === 'ended', 20_000)),
      );
      expect(rxs.every((r) => r.state === 'offline')).toBe(true);
      expectPlayedOnce(rxs, airingId);
      m = await startMosquitto(persistence, { port });
      await waitFor('reports delivered', async () => rxs.every((r) => r.airingsPending === 0), 20_000);
      await expectAsRun(api, airingId);
    } finally {
      await Promise.all(rxs.map((r) => r.stop()));
      await cp.stop();
      await m.stop();
      rmSync(persist, { recursive: true, force: true });
    }
  }, 90_000);

  it('the controller killed in the middle of a program and restarted: nothing missed, nothing doubled', async () => {
    let cp = await startControllerProcess({ env: { SCHEDULES_DIR: 'off' } });
    const dataDir = cp.dataDir;
    let rxs: SimReceiver[] = [];
    try {
      const { bundles, airingId } = await setUp(cp, 5000);
      rxs = await startReceivers(bundles, airingId);
      // The second item is playing when the controller (and its embedded broker) dies.
      await Promise.all(
        rxs.map((r) =>
          r.waitForAiring((x) => x.airingId === airingId && x.state === 'started' && x.item === 1, 15_000),
        ),
      );
      // the newest schedule version each receiver applied before the crash
      const appliedBefore = rxs.map((r) =>
        Math.max(
          0,
          ...r.airings
            .filter((x) => x.kind === 'schedule' && x.state === 'applied')
            .map((x) => x.version ?? 0),
        ),
      );
      await cp.kill();
      await Promise.all(
        rxs.map((r) => r.waitForAiring((x) => x.airingId === airingId && x.state === 'ended', 20_000)),
      );
      cp = await startControllerProcess({ restart: cp, env: { SCHEDULES_DIR: 'off' } });
      const api = new Api(cp.httpUrl);
      await api.login(cp.adminPassword);
      await waitFor('reports delivered', async () => rxs.every((r) => r.airingsPending === 0), 20_000);
      await expectAsRun(api, airingId);
      // The restarted controller republished the schedules; nothing aired again.
      await Promise.all(
        rxs.map((r, i) =>
          r.waitForAiring(
            (x) => x.kind === 'schedule' && x.state === 'applied' && (x.version ?? 0) > appliedBefore[i]!,
            10_000,
          ),
        ),
      );
      expectPlayedOnce(rxs, airingId);
    } finally {
      await Promise.all(rxs.map((r) => r.stop()));
      await cp.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);
});
