/**
 * `npm run demo`: a controller plus a simulated fleet for a 14-village commune (Hướng Đạo has 14
 * villages, one smart-radio receiver in each). Shows the receivers come online and a bulletin play
 * on every village, then keeps running so you can explore the API at /docs (Ctrl+C stops).
 *
 *   npm run demo              # keeps running after the bulletin
 *   npm run demo -- --once    # exits when the bulletin has played (used by the tests)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { optionsFromBundle, type ProvisioningBundle, startFleet } from '../firmware-sim/index.js';
import { loadConfig } from '../src/config.js';
import { startController } from '../src/controller.js';
import { createLogger } from '../src/log.js';
import { chimeWav } from './wav.js';

const { values: args } = parseArgs({
  options: { once: { type: 'boolean', default: false }, port: { type: 'string', default: '0' } },
});

const VILLAGES = Array.from({ length: 14 }, (_, i) => `Thôn ${i + 1}`);
const say = (vi: string, en: string) => console.log(`• ${vi}\n  ${en}`);

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'loalang-demo-'));
  const password = `demo-${Math.random().toString(36).slice(2, 12)}`;
  const config = loadConfig({
    PORT: args.port,
    HOST: '127.0.0.1',
    MQTT_PORT: '0',
    MQTT_HOST: '127.0.0.1',
    LOALANG_DATA_DIR: dataDir,
    SCHEDULES_DIR: 'off',
    LOG_LEVEL: 'warn',
    ADMIN_PASSWORD: password,
  });
  const controller = await startController(config, createLogger('warn', false));
  const base = controller.httpUrl;
  let fleet: Awaited<ReturnType<typeof startFleet>> | null = null;
  const cleanup = async () => {
    await fleet?.stop();
    await controller.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    say(
      `Bộ điều khiển đang chạy: ${base}/docs (tài khoản admin / ${password})`,
      `Controller running: ${base}/docs (login admin / ${password}); MQTT ${controller.mqttUrl}`,
    );
    const login = await fetch(`${base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password }),
    });
    const { token } = (await login.json()) as { token: string };
    const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const res = await fetch(base + path, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    };

    // Registering a receiver answers its provisioning bundle (MQTT credentials, shown once, and
    // the controller key): what an installer puts on the device. Here the simulators get them.
    const bundles = new Map<string, ProvisioningBundle>();
    for (const [i, name] of VILLAGES.entries()) {
      const zone = await api<{ id: string }>('POST', '/api/zones', { name });
      const rx = await api<{ id: string; provisioning: ProvisioningBundle }>('POST', '/api/receivers', {
        id: `hd-${String(i + 1).padStart(2, '0')}`,
        name: `Cụm loa ${name}`,
        zoneId: zone.id,
      });
      bundles.set(rx.id, rx.provisioning);
    }
    say(
      'Đã đăng ký 14 thôn, mỗi thôn một cụm loa (mỗi cụm loa có mật khẩu MQTT riêng).',
      'Registered 14 villages, one receiver each (each with its own MQTT credentials).',
    );

    const first = optionsFromBundle(bundles.get('hd-01')!);
    fleet = await startFleet({
      count: 14,
      idPrefix: 'hd',
      brokerUrl: controller.mqttUrl,
      trustedKeys: first.trustedKeys,
      timeFactor: 1,
      configure: (id) => optionsFromBundle(bundles.get(id)!),
    });
    const t0 = Date.now();
    for (;;) {
      const health = await api<{ receivers: { online: number } }>('GET', '/api/health');
      process.stdout.write(`\r  trực tuyến / online: ${health.receivers.online}/14   `);
      if (health.receivers.online === 14) break;
      if (Date.now() - t0 > 30_000) throw new Error('receivers did not come online within 30 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log('');
    say('Cả 14 cụm loa đã trực tuyến.', 'All 14 receivers are online.');

    const form = new FormData();
    form.append('file', new Blob([chimeWav(3)], { type: 'audio/wav' }), 'ban-tin-demo.wav');
    form.append('name', 'Bản tin thử nghiệm');
    const up = await fetch(`${base}/api/audio`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: form,
    });
    const { audio } = (await up.json()) as { audio: { id: string; durationMs: number } };
    const bulletin = await api<{ id: string }>('POST', '/api/bulletins', {
      title: 'Bản tin thử nghiệm / demo bulletin',
      audioId: audio.id,
      target: { all: true },
      priority: 'priority',
      repeat: 1,
      // A priority bulletin to every village needs the sender's PIN (CONFIRM_PRIORITIES); the demo
      // admin has none, so its password.
      confirm: { pin: password },
    });
    say(
      `Phát ngay bản tin (${(audio.durationMs / 1000).toFixed(1)} giây) trên toàn xã…`,
      `Playing a ${(audio.durationMs / 1000).toFixed(1)} s bulletin now on every village…`,
    );

    interface B {
      summary: { total: number; finished: number; byState: Record<string, number> };
      deliveries: { receiverId: string; state: string }[];
    }
    let last = '';
    const deadline = Date.now() + 60_000;
    let b: B;
    for (;;) {
      b = await api<B>('GET', `/api/bulletins/${bulletin.id}`);
      const line = Object.entries(b.summary.byState)
        .filter(([, n]) => n > 0)
        .map(([s, n]) => `${s} ${n}`)
        .join(' · ');
      if (line !== last) console.log(`  ${line}`);
      last = line;
      if (b.summary.finished === b.summary.total) break;
      if (Date.now() > deadline) throw new Error('bulletin did not finish within 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const done = b.deliveries.filter((d) => d.state === 'done').length;
    say(`Hoàn tất: ${done}/14 cụm loa đã phát xong.`, `Finished: ${done}/14 receivers played it to the end.`);

    if (args.once) {
      await cleanup();
      process.exit(done === 14 ? 0 : 1);
    }
    say('Đang chạy tiếp; Ctrl+C để dừng.', `Still running for you to explore ${base}/docs; Ctrl+C stops.`);
    const stop = () => void cleanup().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  } catch (err) {
    console.error(err);
    await cleanup();
    process.exit(1);
  }
}

void main();
