/**
 * Runs the conformance cases against one receiver: starts a controller of its own (temp data
 * directory, HTTP and the broker on free loopback ports — the embedded broker, or a Mosquitto it
 * starts with the files loalang generates), puts its link proxy between the receiver and the
 * broker, registers the receiver and hands over its provisioning bundle (to a launcher that starts
 * the receiver, or to the operator, who loads it onto the box), waits until it is online, runs each
 * case with a deadline and returns the report.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { loadConfig } from '../config.js';
import { topics } from '../contract/mqtt.js';
import type { ProvisioningBundle } from '../contract/provisioning.js';
import { type Controller, startController } from '../controller.js';
import { mosquittoHash } from '../domain/fleet/credentials.js';
import { createLogger } from '../log.js';
import { redact } from '../mqtt/client.js';
import { generateMosquittoFiles, writeFileAtomic } from '../mqtt/mosquitto-files.js';
import { type MosquittoHandle, startMosquitto } from '../mqtt/mosquitto-process.js';
import { ALL_CASES } from './cases/index.js';
import { type CaseContext, type Clip, createCaseContext, type ReceiverUnderTest } from './context.js';
import { createObserver } from './observer.js';
import { startLinkProxy } from './proxy.js';
import {
  CaseFailed,
  type CaseResult,
  CaseSkipped,
  type ConformanceCase,
  type ConformanceReport,
} from './types.js';

export const KIT_VERSION = '1';
export const PROTOCOL = 'loalang receiver protocol (MQTT), version 1 — docs/protocol.md';

/** A receiver the kit starts itself (a simulator, a vendor's bridge to a box on the bench). */
export interface ReceiverLauncher {
  /** starts the receiver with this bundle (also saved at `bundlePath`, mode 0600) */
  start(bundle: ProvisioningBundle, bundlePath: string): Promise<RunningReceiver>;
}

export interface RunningReceiver {
  /** stops it as a power cut would (no goodbye) or gracefully: the launcher's choice */
  stop(): Promise<void>;
}

/**
 * A broker the kit does not start (a vendor's bench broker, a site's Mosquitto, an EMQX): its URL,
 * and the controller settings that go with it — `MQTT_USERNAME`/`MQTT_PASSWORD`, `MQTT_CLIENT_ID`,
 * `MQTT_TOPIC_ROOT` (default `loalang-conformance`, so a shared broker's fleet never hears the
 * kit), `MOSQUITTO_*` when the kit's controller is to write that Mosquitto's files (README,
 * "Configuration"). The broker must let in the receiver with the credentials the bundle names.
 */
export interface ExternalBroker {
  url: string;
  env?: Readonly<Record<string, string | undefined>>;
}

/** The settings of an external broker the kit passes on to its controller. */
export const EXTERNAL_BROKER_ENV = /^(MQTT_(USERNAME|PASSWORD|CLIENT_ID|TOPIC_ROOT)|MOSQUITTO_\w+)$/;
export const KIT_TOPIC_ROOT = 'loalang-conformance';

export interface KitOptions {
  receiverId: string;
  /** the broker between controller and receiver (default the embedded one) */
  broker?: 'embedded' | 'mosquitto' | ExternalBroker;
  launcher?: ReceiverLauncher;
  /** case ids to run (default every case) */
  only?: readonly string[];
  /** the cases to choose from (default ALL_CASES) */
  cases?: readonly ConformanceCase[];
  /** how long to wait for the receiver's first `online` (default 30 s launched, 10 min otherwise) */
  onlineTimeoutMs?: number;
  /** told the bundle once the receiver is registered (print it for the operator) */
  onBundle?: (bundle: ProvisioningBundle, path: string) => void;
  /** told each result as it comes */
  onResult?: (r: CaseResult) => void;
  /** controller log level (default silent) */
  logLevel?: string;
}

const ZONE = 'kit-zone';

export async function runConformance(opts: KitOptions): Promise<ConformanceReport> {
  const startedAt = new Date();
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'loalang-conformance-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  try {
    let brokerTarget = { host: '127.0.0.1', port: 0 };
    const link = await startLinkProxy({ target: () => brokerTarget });
    cleanups.push(() => link.close());

    const adminPassword = randomBytes(18).toString('base64url');
    const env: Record<string, string> = {
      PORT: '0',
      HOST: '127.0.0.1',
      MQTT_PORT: '0',
      MQTT_HOST: '127.0.0.1',
      LOALANG_DATA_DIR: dataDir,
      LOG_LEVEL: opts.logLevel ?? 'silent',
      ADMIN_PASSWORD: adminPassword,
      SCHEDULES_DIR: 'off',
      // Renditions on, as deployed (renditions.ts checks them): the kit's own plays name the
      // original's URL, so its clips still reach the receiver unchanged.
      // The receiver reaches the broker through the link proxy only.
      PUBLIC_MQTT_URL: link.url,
    };
    let mosquitto: MosquittoHandle | null = null;
    const external = typeof opts.broker === 'object' ? opts.broker : null;
    if (opts.broker === 'mosquitto') {
      const started = await startKitMosquitto(env);
      mosquitto = started.handle;
      cleanups.push(() => rmSync(started.dir, { recursive: true, force: true }));
      cleanups.push(() => started.handle.stop());
    } else if (external) {
      env.MQTT_URL = external.url;
      env.MQTT_TOPIC_ROOT = KIT_TOPIC_ROOT;
      for (const [k, v] of Object.entries(external.env ?? {}))
        if (v !== undefined && EXTERNAL_BROKER_ENV.test(k)) env[k] = v;
    }
    const brokerless = mosquitto === null && external === null;

    const config = loadConfig(env);
    const controller: Controller = await startController(config, createLogger(config.LOG_LEVEL, false)).catch(
      (err: unknown) => {
        const why = err instanceof Error ? err.message : String(err);
        throw new Error(
          external ? `the kit's controller could not use the broker ${redact(external.url)}: ${why}` : why,
        );
      },
    );
    cleanups.push(() => controller.stop());
    const brokerUrl = new URL(controller.mqttUrl);
    brokerTarget = {
      host: brokerUrl.hostname.replace(/^\[|\]$/g, ''),
      port: Number(brokerUrl.port || 1883),
    };

    let token = '';
    const api = async <T>(method: string, path: string, body?: unknown) => {
      const res = await fetch(controller.httpUrl + path, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
    };
    const login = await api<{ token: string }>('POST', '/api/auth/login', {
      username: 'admin',
      password: adminPassword,
    });
    if (login.status !== 200) throw new Error(`the kit could not log in to its controller (${login.status})`);
    token = login.body.token;
    if (!brokerless)
      await waitUntil(`the controller connected to the broker ${controller.mqttUrl}`, 15_000, async () => {
        const h = await api<{ mqtt: string }>('GET', '/api/health');
        return h.body.mqtt === 'connected';
      });

    const z = await api('POST', '/api/zones', { id: ZONE, name: 'Conformance' });
    if (z.status !== 201) throw new Error(`creating the kit's zone: ${z.status} ${JSON.stringify(z.body)}`);
    const reg = await api<{ provisioning: ProvisioningBundle }>('POST', '/api/receivers', {
      id: opts.receiverId,
      zoneId: ZONE,
      name: 'Receiver under test',
    });
    if (reg.status !== 201)
      throw new Error(`registering ${opts.receiverId}: ${reg.status} ${JSON.stringify(reg.body)}`);
    const bundle = reg.body.provisioning;
    const bundlePath = join(dataDir, `${opts.receiverId}.bundle.json`);
    const saveBundle = (b: ProvisioningBundle) =>
      writeFileSync(bundlePath, `${JSON.stringify(b, null, 2)}\n`, { mode: 0o600 });
    // Mosquitto reloads the files loalang rewrote: the receiver can log in once it did.
    const brokerTakes = (b: ProvisioningBundle, what: string) =>
      brokerless ? Promise.resolve() : waitUntil(what, 15_000, () => canLogIn(controller.mqttUrl, b));
    saveBundle(bundle);
    opts.onBundle?.(bundle, bundlePath);
    await brokerTakes(bundle, 'the broker taking the receiver’s credentials');

    const t = controller.wire.topics;
    const rx: ReceiverUnderTest = {
      id: opts.receiverId,
      zoneId: ZONE,
      topics: {
        cmd: t.receiverCommand(opts.receiverId),
        config: t.receiverConfig(opts.receiverId),
        status: t.receiverStatus(opts.receiverId),
        event: t.receiverEvent(opts.receiverId),
        schedule: t.receiverSchedule(opts.receiverId),
        airing: t.receiverAiring(opts.receiverId),
        time: t.receiverTime(opts.receiverId),
        clock: t.receiverClock(opts.receiverId),
        zoneCmd: t.zoneCommand(ZONE),
        allCmd: t.allCommand(),
      },
    };
    const seen = createObserver(controller.wire, opts.receiverId);
    cleanups.push(() => seen.close());

    let running: RunningReceiver | null = null;
    const launcher = opts.launcher;
    if (launcher) {
      running = await launcher.start(bundle, bundlePath);
      cleanups.push(() => running?.stop());
    }
    const first = await seen
      .waitFor('the receiver online', (m) => m.leaf === 'status' && m.json?.state === 'online', {
        timeoutMs: opts.onlineTimeoutMs ?? (launcher ? 30_000 : 600_000),
      })
      .catch(() => {
        throw new Error(
          `receiver ${opts.receiverId} did not come online through ${link.url} (load the bundle at ${bundlePath})`,
        );
      });
    // The bundle the receiver holds: a case that re-issues its credentials hands it a new one.
    let held = bundle;
    const restart = launcher
      ? async (whileOff?: () => Promise<void>, next?: ProvisioningBundle) => {
          await running?.stop();
          await whileOff?.();
          if (next) {
            held = next;
            saveBundle(next);
            await brokerTakes(next, 'the broker taking the receiver’s new credentials');
          }
          running = await launcher.start(held, bundlePath);
        }
      : null;

    const all = opts.cases ?? ALL_CASES;
    const unknown = (opts.only ?? []).filter(
      (id) => !all.some((c) => c.id === id || c.id.startsWith(`${id}.`)),
    );
    if (unknown.length) throw new Error(`no such case: ${unknown.join(', ')}`);
    const chosen = opts.only?.length
      ? all.filter((c) => opts.only!.some((id) => c.id === id || c.id.startsWith(`${id}.`)))
      : all;
    const clips = new Map<number, Clip>();
    const results: CaseResult[] = [];
    for (const c of chosen) {
      const ctx = createCaseContext({ rx, controller, api, seen, link, restart, clips });
      const began = Date.now();
      let outcome: CaseResult['outcome'] = 'pass';
      let reason: string | undefined;
      const missing = (c.needs ?? []).filter((n) => n === 'restart' && !restart);
      try {
        if (missing.length)
          ctx.skip('the kit did not start the receiver (no --launch), so it cannot restart it');
        await withDeadline(c.run(ctx), c.timeoutMs ?? 20_000, c.id);
      } catch (err) {
        outcome = err instanceof CaseSkipped ? 'skip' : 'fail';
        reason = err instanceof Error ? err.message : String(err);
        if (!(err instanceof CaseFailed) && !(err instanceof CaseSkipped) && err instanceof Error)
          reason = `${err.name}: ${err.message}`;
      }
      const result: CaseResult = {
        id: c.id,
        section: c.section,
        level: c.level,
        title: c.title,
        outcome,
        ...(reason !== undefined ? { reason } : {}),
        durationMs: Date.now() - began,
        evidence: ctx.evidence(),
      };
      results.push(result);
      opts.onResult?.(result);
      await settle(ctx);
    }

    const count = (level: 'MUST' | 'SHOULD') => {
      const of = results.filter((r) => r.level === level);
      return {
        pass: of.filter((r) => r.outcome === 'pass').length,
        fail: of.filter((r) => r.outcome === 'fail').length,
        skip: of.filter((r) => r.outcome === 'skip').length,
      };
    };
    const must = count('MUST');
    const lastOnline = [...seen.all()]
      .reverse()
      .find((m) => m.leaf === 'status' && m.json?.state === 'online');
    const status = (lastOnline ?? first).json ?? {};
    return {
      kit: { version: KIT_VERSION, protocol: PROTOCOL },
      receiver: {
        id: opts.receiverId,
        firmware: typeof status.firmware === 'string' ? status.firmware : null,
        codecs: Array.isArray(status.codecs) ? (status.codecs as string[]) : null,
      },
      broker: mosquitto
        ? `Mosquitto (started by the kit, ${mosquitto.url})`
        : external
          ? `external (${redact(external.url)})`
          : 'embedded (aedes)',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      results,
      summary: { must, should: count('SHOULD'), conformant: must.fail === 0 && must.skip === 0 },
    };
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // stopping what was started: keep going
      }
    }
  }
}

/** After a case: the link up again, and nothing left playing or queued (an all-stop, confirmed). */
async function settle(ctx: CaseContext) {
  if (ctx.link.state() !== 'up') {
    ctx.link.restore();
    await ctx.online({ timeoutMs: 20_000 }).catch(() => undefined);
  }
  const stop = ctx.stop();
  const from = ctx.seen.mark();
  await ctx.send(ctx.rx.topics.cmd, stop).catch(() => undefined);
  await ctx.seen.waitForEvent(stop.id, 'received', { from, timeoutMs: 5000 }).catch(() => undefined);
}

function withDeadline<T>(p: Promise<T>, ms: number, id: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new CaseFailed(`case ${id} did not finish within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function waitUntil(what: string, ms: number, probe: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (
      await Promise.resolve()
        .then(probe)
        .catch(() => false)
    )
      return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---- Mosquitto, as a deployment runs it (docs/mosquitto/README.md): password and ACL files that
// the controller rewrites, and a reload signal through the pid file.

const CTRL = 'loalang-controller';

async function startKitMosquitto(
  env: Record<string, string>,
): Promise<{ handle: MosquittoHandle; dir: string }> {
  // Mosquitto drops root for its own user: its files go where that user can read them (password
  // hashes and topic rules of a throw-away run, no secret).
  const dir = mkdtempSync(join(tmpdir(), 'loalang-conformance-mosquitto-'));
  chmodSync(dir, 0o755);
  const passwd = join(dir, 'mosquitto.passwd');
  const acl = join(dir, 'mosquitto.acl');
  const pid = join(dir, 'mosquitto.pid');
  const ctrlPassword = randomBytes(18).toString('base64url');
  const first = generateMosquittoFiles({
    topics: topics(),
    controller: { username: CTRL, passwordHash: mosquittoHash(ctrlPassword) },
    credentials: [],
    receivers: [],
  });
  writeFileAtomic(passwd, first.passwd, 0o644);
  writeFileAtomic(acl, first.acl, 0o644);
  const m = await startMosquitto([
    'allow_anonymous false',
    `password_file ${passwd}`,
    `acl_file ${acl}`,
    'use_username_as_clientid true',
  ]);
  writeFileSync(pid, `${m.pid}\n`);
  Object.assign(env, {
    MQTT_URL: m.url,
    MQTT_USERNAME: CTRL,
    MQTT_PASSWORD: ctrlPassword,
    MOSQUITTO_PASSWORD_FILE: passwd,
    MOSQUITTO_ACL_FILE: acl,
    MOSQUITTO_PID_FILE: pid,
    MOSQUITTO_FILE_MODE: '0644',
  });
  return { handle: m, dir };
}

/** Whether the broker takes the bundle's login now (Mosquitto reloads its files a moment later). */
async function canLogIn(url: string, bundle: ProvisioningBundle): Promise<boolean> {
  try {
    const c = await mqtt.connectAsync(url, {
      clientId: bundle.mqtt.clientId,
      username: bundle.mqtt.username,
      password: bundle.mqtt.password,
      reconnectPeriod: 0,
      connectTimeout: 2000,
    });
    await c.endAsync();
    return true;
  } catch {
    return false;
  }
}
