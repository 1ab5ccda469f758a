/**
 * Starts a real controller for a test: temp data directory, HTTP on a free port, and either the
 * embedded broker on port 0 or an external broker URL (a Mosquitto the suite started).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Fleet,
  fetchTrustedKeys,
  type SimReceiverOptions,
  startFleet,
} from '../../firmware-sim/index.js';
import { optionsFromBundle } from '../../firmware-sim/provisioning.js';
import { loadConfig } from '../../src/config.js';
import type { ProvisioningBundle } from '../../src/contract/provisioning.js';
import { type Controller, startController } from '../../src/controller.js';
import { createLogger } from '../../src/log.js';
import type { Clock } from '../../src/time/clock.js';

export const ADMIN_PASSWORD = 'test-admin-password-123';

export interface TestController {
  controller: Controller;
  url: string;
  mqttUrl: string;
  token: string;
  dataDir: string;
  /** JSON request with the admin token; returns status and parsed body */
  api<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    token?: string | null,
  ): Promise<{ status: number; body: T }>;
  /** Uploads audio bytes (multipart) with the admin token; returns the HTTP status and the record. */
  upload(
    bytes: Buffer,
    fileName: string,
    name?: string,
  ): Promise<{ status: number; audio: { id: string; sha256: string } }>;
  /** Whether the controller currently shows receiver `id` online. */
  isOnline(id: string): Promise<boolean>;
  /**
   * Registers receiver `id` into `zoneId` through the API (POST /api/receivers) and keeps the
   * provisioning bundle it answers (the only time its password is shown); throws unless 201.
   */
  register(id: string, zoneId: string, name?: string): Promise<ProvisioningBundle>;
  /** The bundles of the receivers registered (or provisioned with `keep`) through this helper. */
  bundles: Map<string, ProvisioningBundle>;
  /** Keeps a bundle from an API answer (adoption, re-issue) for `sim()`. */
  keep(bundle: ProvisioningBundle): ProvisioningBundle;
  /**
   * Simulator options from receiver `id`'s bundle: id, broker, credentials, topic root and the
   * controller keys. Throws when no bundle was kept for it.
   */
  sim(
    id: string,
  ): Pick<SimReceiverOptions, 'id' | 'brokerUrl' | 'username' | 'password' | 'topicRoot' | 'trustedKeys'>;
  /**
   * Runs simulated receivers with the bundles of `ids` (registered through this helper), and
   * resolves once each has taken its adopted config; stopping the fleet is the caller's.
   */
  startFleet(ids: readonly string[], opts?: { timeFactor?: number }): Promise<Fleet>;
  stop(): Promise<void>;
}

export async function startTestController(
  env: Record<string, string> = {},
  /**
   * `firstRun`: started with no ADMIN_PASSWORD, so no account exists and the controller waits for
   * its first-run set-up (`controller.setupCode`); `token` stays empty.
   */
  opts: { dataDir?: string; keepData?: boolean; clock?: Clock; firstRun?: boolean } = {},
): Promise<TestController> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'loalang-test-'));
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    MQTT_PORT: '0',
    MQTT_HOST: '127.0.0.1',
    LOALANG_DATA_DIR: dataDir,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ADMIN_PASSWORD,
    // no site folder unless a test asks for one
    SCHEDULES_DIR: 'off',
    // no speech renditions unless a test asks (they would change which bytes receivers get)
    RENDITION_MAX_DURATION_S: '0',
    ...env,
    ...(opts.firstRun ? { ADMIN_PASSWORD: '' } : {}),
  });
  const controller = await startController(
    config,
    createLogger(config.LOG_LEVEL, false),
    opts.clock ? { clock: opts.clock } : {},
  );
  const url = controller.httpUrl;

  async function api<T>(method: string, path: string, body?: unknown, token?: string | null) {
    const headers: Record<string, string> = {};
    const auth = token === undefined ? tc.token : token;
    if (auth) headers.authorization = `Bearer ${auth}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(url + path, {
      method,
      headers,
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  }

  async function upload(bytes: Buffer, fileName: string, name?: string) {
    const form = new FormData();
    if (name !== undefined) form.append('name', name);
    form.append('file', new Blob([new Uint8Array(bytes)], { type: 'application/octet-stream' }), fileName);
    const res = await fetch(`${url}/api/audio`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tc.token}` },
      body: form,
    });
    const body = (await res.json()) as { audio: { id: string; sha256: string } };
    return { status: res.status, audio: body.audio };
  }

  const tc: TestController = {
    controller,
    url,
    mqttUrl: controller.mqttUrl,
    token: '',
    dataDir,
    api,
    upload,
    isOnline: async (id) => (await api<{ online: boolean }>('GET', `/api/receivers/${id}`)).body.online,
    bundles: new Map(),
    async register(id, zoneId, name) {
      const res = await api<{ provisioning: ProvisioningBundle }>('POST', '/api/receivers', {
        id,
        zoneId,
        ...(name !== undefined ? { name } : {}),
      });
      if (res.status !== 201) throw new Error(`registering ${id}: ${res.status} ${JSON.stringify(res.body)}`);
      return tc.keep(res.body.provisioning);
    },
    keep(bundle) {
      tc.bundles.set(bundle.receiverId, bundle);
      return bundle;
    },
    sim(id) {
      const bundle = tc.bundles.get(id);
      if (!bundle) throw new Error(`no provisioning bundle kept for receiver ${id}`);
      return optionsFromBundle(bundle);
    },
    async startFleet(ids, o = {}) {
      const fleet = await startFleet({
        count: ids.length,
        brokerUrl: controller.mqttUrl,
        trustedKeys: ids.length > 0 ? await fetchTrustedKeys(`${url}/api/system/signing-key`) : new Map(),
        timeFactor: o.timeFactor ?? 1,
        // the fleet's own numbering gives way to the registered ids (and their credentials)
        configure: (_id, i) => tc.sim(ids[i]!),
      });
      await Promise.all(fleet.receivers.map((r) => r.waitForConfig((c) => c.adopted)));
      return fleet;
    },
    async stop() {
      await controller.stop();
      if (!opts.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  if (opts.firstRun) return tc;
  const login = await api<{ token: string }>(
    'POST',
    '/api/auth/login',
    { username: 'admin', password: ADMIN_PASSWORD },
    null,
  );
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${JSON.stringify(login.body)}`);
  tc.token = login.body.token;
  return tc;
}
