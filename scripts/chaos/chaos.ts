/**
 * The fault test (issue 7, item 8): N simulated receivers, a stream of bulletins, cancels and
 * stops, while the controller is killed (SIGKILL) and restarted, the broker is stopped and
 * restarted, and receivers' links drop, at points a seeded random generator picks. Then everything
 * is brought back, left to settle, and judged (check.ts) from the receivers' own histories and the
 * controller's records. Bounded in operations and in time; every process it starts is stopped.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Api } from '../../bench/api.js';
import { type ControllerProcess, startControllerProcess } from '../../bench/procs.js';
import { prng as rng } from '../../bench/random.js';
import { SimReceiver } from '../../firmware-sim/index.js';
import { optionsFromBundle } from '../../firmware-sim/provisioning.js';
import type { ProvisioningBundle } from '../../src/contract/provisioning.js';
import { type MosquittoHandle, startMosquitto } from '../../test/helpers/mosquitto.js';
import { type ControllerBulletin, type ControllerStop, judge, type Verdict } from './check.js';

export type BrokerKind = 'embedded' | 'mosquitto';

export interface ChaosOptions {
  receivers: number;
  operations: number;
  seed: number;
  broker: BrokerKind;
  /** the whole run, settling included, never takes longer than this */
  maxSeconds: number;
  log?: (line: string) => void;
}

export interface ChaosResult extends Verdict {
  broker: BrokerKind;
  seed: number;
  receiversRun: number;
  operations: number;
  ops: Record<string, number>;
  seconds: number;
}

const MP3 = readFileSync(new URL('../../test/fixtures/audio/tone.mp3', import.meta.url));
const ZONES = ['thon-1', 'thon-2', 'thon-3', 'thon-4'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runChaos(opts: ChaosOptions): Promise<ChaosResult> {
  const began = Date.now();
  const deadline = began + opts.maxSeconds * 1000;
  const random = rng(opts.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const log = opts.log ?? (() => {});
  const ops: Record<string, number> = {};
  const count = (op: string) => {
    ops[op] = (ops[op] ?? 0) + 1;
  };

  // Mosquitto with persistence, as a deployment has it (docs/mosquitto/loalang.conf): the
  // controller's session and the receivers' reports queued for it outlive a broker restart.
  let persist: string | null = null;
  let broker: MosquittoHandle | null = null;
  let persistence: string[] = [];
  if (opts.broker === 'mosquitto') {
    persist = mkdtempSync(join(tmpdir(), 'loalang-chaos-mosq-'));
    chmodSync(persist, 0o777);
    persistence = ['persistence true', `persistence_location ${persist}/`];
    broker = await startMosquitto(persistence);
  }
  const mqttUrl = broker?.url;
  const controllerOpts = {
    mqttUrl,
    env: { REOFFER_DELAY_S: '2', ...(process.env.CHAOS_LOG ? { LOG_LEVEL: 'debug' } : {}) },
    logFile: process.env.CHAOS_LOG,
  };
  let cp: ControllerProcess = await startControllerProcess(controllerOpts);
  const first = cp;
  const api = new Api(cp.httpUrl);
  const receivers: SimReceiver[] = [];
  const zoneOf = new Map<string, string>();
  const accepted = new Map<string, number>();
  let up = true;
  try {
    await api.login(cp.adminPassword);
    for (const z of ZONES) await api.json('POST', '/api/zones', { id: z, name: z });
    for (let i = 1; i <= opts.receivers; i++) {
      const id = `rx-${String(i).padStart(3, '0')}`;
      const zone = ZONES[i % ZONES.length]!;
      zoneOf.set(id, zone);
      const r = await api.json<{ provisioning: ProvisioningBundle }>('POST', '/api/receivers', {
        id,
        zoneId: zone,
      });
      receivers.push(
        new SimReceiver({
          ...optionsFromBundle(r.provisioning),
          timeFactor: 0.3,
          reconnectMinMs: 100,
          reconnectMaxMs: 1000,
          downloadRetryMaxMs: 1000,
          historySize: 100_000,
          heartbeatMs: 5000,
        }),
      );
    }
    await Promise.all(receivers.map((r) => r.start()));
    const audio = await api.uploadAudio(MP3, 'tin.mp3');
    const known = new Set(receivers.map((r) => r.id));
    const down = new Set<SimReceiver>();

    const restartController = async (signal: 'SIGKILL' | 'SIGTERM') => {
      up = false;
      if (signal === 'SIGKILL') await cp.kill();
      else await cp.stop({ keepData: true });
      cp = await startControllerProcess({ ...controllerOpts, restart: first });
      await api.login(cp.adminPassword);
      up = true;
    };

    for (let n = 0; n < opts.operations && Date.now() < deadline - 60_000; n++) {
      const roll = random();
      try {
        if (roll < 0.4) {
          const kind = pick(['all', 'zone', 'zone', 'receivers'] as const);
          const target =
            kind === 'all'
              ? { all: true }
              : kind === 'zone'
                ? { zones: [pick(ZONES)] }
                : { receivers: [...new Set([pick([...known]), pick([...known])])] };
          const targeted =
            kind === 'all'
              ? known.size
              : kind === 'zone'
                ? [...zoneOf.values()].filter((z) => z === target.zones![0]).length
                : target.receivers!.length;
          const priority = random() < 0.1 ? 'emergency' : random() < 0.3 ? 'priority' : 'normal';
          const b = await api.json<{ id: string }>(
            'POST',
            '/api/bulletins',
            {
              audioId: audio.id,
              target,
              priority,
              repeat: 1 + Math.floor(random() * 3),
              gapSeconds: Math.round(random() * 10) / 10,
              expiresInSeconds: 90,
              // The second step an emergency (or priority) to every village asks for; ignored otherwise.
              ...(priority !== 'normal' ? { confirm: { pin: cp.adminPassword } } : {}),
            },
            10_000,
          );
          accepted.set(b.id, targeted);
          count(`bulletin:${kind}`);
        } else if (roll < 0.5) {
          const ids = [...accepted.keys()];
          if (ids.length) {
            await api
              .json('POST', `/api/bulletins/${pick(ids)}/cancel`, undefined, 10_000)
              .catch((err: Error) => {
                if (!/HTTP 409/.test(err.message)) throw err; // already over: fine
              });
            count('cancel');
          } else count('cancel:nothing-yet');
        } else if (roll < 0.58) {
          await api.json(
            'POST',
            '/api/stop',
            random() < 0.3 ? { all: true } : { zones: [pick(ZONES)] },
            10_000,
          );
          count('stop');
        } else if (roll < 0.66) {
          log(`op ${n}: controller SIGKILL`);
          await restartController('SIGKILL');
          count('controller:kill');
        } else if (roll < 0.72) {
          if (broker) {
            log(`op ${n}: broker restart`);
            const port = broker.port;
            await broker.stop();
            await sleep(200 + random() * 1500);
            broker = await startMosquitto(persistence, { port });
          } else {
            log(`op ${n}: controller (and its embedded broker) restart`);
            await restartController('SIGTERM');
          }
          count('broker:restart');
        } else if (roll < 0.84) {
          const r = pick(receivers);
          if (down.has(r)) {
            down.delete(r);
            await r.goOnline();
            count('receiver:back');
          } else {
            down.add(r);
            await r.goOffline();
            count('receiver:drop');
          }
        } else {
          await sleep(random() * 800);
          count('pause');
        }
      } catch (err) {
        // An API call while the broker or controller is coming back: counted, never fatal.
        count('op:error');
        log(`op ${n}: ${(err as Error).message.slice(0, 160)}`);
      }
      await sleep(random() * 150);
    }

    // Everything comes back, then settles.
    if (!up) await restartController('SIGTERM');
    for (const r of down) await r.goOnline();
    const db = () => new Database(join(first.dataDir, 'loalang.db'), { readonly: true, fileMustExist: true });
    let settled = false;
    while (Date.now() < deadline) {
      const conn = db();
      try {
        const open = conn
          .prepare<[], { n: number }>(
            `SELECT count(*) AS n FROM deliveries WHERE state NOT IN ('done','failed','expired','preempted','cancelled')`,
          )
          .get()!.n;
        const idle = receivers.every((r) => r.nowPlaying === null && r.queued.length === 0);
        if (open === 0 && idle) {
          settled = true;
          break;
        }
      } finally {
        conn.close();
      }
      await sleep(500);
    }
    log(settled ? 'settled' : 'did not settle in time');
    // Give stop confirmations in flight a moment to be written (they need no further action).
    await sleep(1500);

    const conn = db();
    if (process.env.CHAOS_KEEP_DB) {
      // for a post-mortem: the controller's database as judged
      conn.exec(`VACUUM INTO '${process.env.CHAOS_KEEP_DB.replace(/'/g, "''")}'`);
      log(`database copied to ${process.env.CHAOS_KEEP_DB}`);
    }
    let bulletins: ControllerBulletin[];
    let stops: ControllerStop[];
    try {
      const rows = conn.prepare<[], { id: string; seq: number }>('SELECT id, seq FROM bulletins').all();
      const dels = conn.prepare<[string], { receiverId: string; state: string }>(
        'SELECT receiver_id AS receiverId, state FROM deliveries WHERE bulletin_id = ?',
      );
      bulletins = rows.map((b) => ({ ...b, deliveries: dels.all(b.id) }));
      const srows = conn
        .prepare<[], { id: string; seq: number; bulletinId: string | null }>(
          'SELECT id, seq, bulletin_id AS bulletinId FROM stops',
        )
        .all();
      const sr = conn.prepare<[string], { receiverId: string; state: string }>(
        'SELECT receiver_id AS receiverId, state FROM stop_receivers WHERE stop_id = ?',
      );
      stops = srows.map((s) => ({ ...s, perReceiver: sr.all(s.id) }));
    } finally {
      conn.close();
    }
    const verdict = judge({
      accepted,
      bulletins,
      stops,
      receivers: receivers.map((r) => ({ id: r.id, events: r.events, played: r.played })),
    });
    return {
      broker: opts.broker,
      seed: opts.seed,
      receiversRun: opts.receivers,
      operations: Object.values(ops).reduce((a, b) => a + b, 0),
      ops,
      seconds: Math.round((Date.now() - began) / 100) / 10,
      ...verdict,
    };
  } catch (err) {
    // What the controller said last: a failure here is otherwise hard to explain after the fact.
    const exited = cp.exitState();
    throw new Error(`${(err as Error).message}\ncontroller (${exited}) said last:\n${cp.tail()}`, {
      cause: err,
    });
  } finally {
    await Promise.all(receivers.map((r) => r.stop().catch(() => undefined)));
    await cp.stop({ keepData: true }).catch(() => undefined);
    rmSync(first.dataDir, { recursive: true, force: true });
    await broker?.stop().catch(() => undefined);
    if (persist) rmSync(persist, { recursive: true, force: true });
  }
}
