/**
 * `npm run demo`: a controller plus a simulated fleet for Hướng Đạo (14 villages, one smart-radio
 * receiver in each), loaded from the sample schedules folder (schedules/huong-dao/). In scaled
 * time (two minutes a second) the 05:00 program airs on every village from the schedules the
 * receivers hold — a relay of a stand-in radio station, then the morning bulletin — in step, and
 * its as-run log is printed. Then a bulletin plays now on all of them, at real time. Afterwards it
 * keeps running so you can explore the API at /docs (Ctrl+C stops).
 *
 *   npm run demo              # keeps running afterwards
 *   npm run demo -- --once    # exits when both have played (used by the tests)
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Temporal } from 'temporal-polyfill';
import { optionsFromBundle, type ProvisioningBundle, startFleet } from '../firmware-sim/index.js';
import { loadConfig } from '../src/config.js';
import { startController } from '../src/controller.js';
import { createLogger } from '../src/log.js';
import { type Clock, scaledClock, systemClock } from '../src/time/clock.js';
import { chimeWav } from './wav.js';

const { values: args } = parseArgs({
  options: { once: { type: 'boolean', default: false }, port: { type: 'string', default: '0' } },
});

const TZ = 'Asia/Ho_Chi_Minh';
/** schedule time runs this many times faster than real time */
const FACTOR = 120;
const RX = Array.from({ length: 14 }, (_, i) => `rx-thon-${String(i + 1).padStart(2, '0')}`);
const AUDIO: [string, number][] = [
  ['Nhạc hiệu', 4],
  ['Bản tin sáng', 20],
  ['Bản tin chiều', 15],
  ['Thông báo của UBND xã', 10],
  ['Bản tin tuần', 12],
];
const say = (vi: string, en: string) => console.log(`• ${vi}\n  ${en}`);

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'loalang-demo-'));
  const password = `demo-${Math.random().toString(36).slice(2, 12)}`;
  // A stand-in for VOV on this machine (no internet needed): an endless stream of bytes.
  const station = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/mpeg' });
    const timer = setInterval(() => res.write(Buffer.alloc(1024, 0x55)), 20);
    res.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((r) => station.listen(0, '127.0.0.1', r));
  const stationUrl = `http://127.0.0.1:${(station.address() as { port: number }).port}/vov1`;
  const site = join(dataDir, 'schedules');
  cpSync(new URL('../schedules/huong-dao/', import.meta.url), site, { recursive: true });
  const programs = join(site, 'programs.yaml');
  writeFileSync(
    programs,
    readFileSync(programs, 'utf8').replaceAll('https://stream.vov.vn/vov1', stationUrl),
  );
  // Schedule time: the coming 04:58 in Hướng Đạo, standing still until the fleet is ready.
  const now = Temporal.Now.zonedDateTimeISO(TZ);
  let start = now.with({ hour: 4, minute: 58, second: 0, millisecond: 0, microsecond: 0, nanosecond: 0 });
  if (Temporal.ZonedDateTime.compare(start, now) <= 0) start = start.add({ days: 1 });
  const t0 = start.epochMilliseconds;
  // standing still at t0, then scaled, then (for the play-now part) back to real time
  let running: Clock | null = null;
  let factor = FACTOR;
  const clock: Clock = { now: () => running?.now() ?? t0, realMs: (ms) => ms / factor };
  const local = (ms: number) =>
    Temporal.Instant.fromEpochMilliseconds(Math.round(ms)).toZonedDateTimeISO(TZ).toPlainTime().toString({
      smallestUnit: 'millisecond',
    });

  const config = loadConfig({
    PORT: args.port,
    HOST: '127.0.0.1',
    MQTT_PORT: '0',
    MQTT_HOST: '127.0.0.1',
    LOALANG_DATA_DIR: dataDir,
    SCHEDULES_DIR: site,
    TZ,
    LOG_LEVEL: 'warn',
    ADMIN_PASSWORD: password,
  });
  const controller = await startController(config, createLogger('warn', false), { clock });
  const base = controller.httpUrl;
  let fleet: Awaited<ReturnType<typeof startFleet>> | null = null;
  const cleanup = async () => {
    await fleet?.stop();
    await controller.stop();
    station.closeAllConnections();
    station.close();
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

    // The schedules folder declared the 14 villages and their receivers; an admin issues each
    // receiver its provisioning bundle (MQTT credentials, shown once, and the controller key): what
    // an installer puts on the device. Here the simulators get them.
    const bundles = new Map<string, ProvisioningBundle>();
    for (const id of RX) {
      const issued = await api<{ provisioning: ProvisioningBundle }>(
        'POST',
        `/api/receivers/${id}/credentials`,
      );
      bundles.set(id, issued.provisioning);
    }
    say(
      'Đã nạp thư mục lịch phát Hướng Đạo: 14 thôn, 14 cụm loa, giờ yên lặng 21:00–05:00, các chương trình.',
      'Loaded the Hướng Đạo schedules folder: 14 villages, 14 receivers, quiet hours 21:00–05:00, programs.',
    );
    for (const [name, seconds] of AUDIO) {
      const form = new FormData();
      form.append('file', new Blob([chimeWav(seconds)], { type: 'audio/wav' }), `${name}.wav`);
      form.append('name', name);
      const res = await fetch(`${base}/api/audio`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: form,
      });
      if (!res.ok) throw new Error(`upload ${name}: ${res.status}`);
    }
    await controller.schedules.refresh();
    const list = await api<{ items: { id: string; title: string; next: { id: string; local: string }[] }[] }>(
      'GET',
      '/api/programs',
    );
    for (const p of list.items)
      console.log(`  ${p.title} (${p.id}): ${p.next.map((a) => a.local.replace('T', ' ')).join(', ')}`);

    const first = optionsFromBundle(bundles.get(RX[0]!)!);
    fleet = await startFleet({
      count: 14,
      idPrefix: 'rx-thon',
      brokerUrl: controller.mqttUrl,
      trustedKeys: first.trustedKeys,
      // bulletins at real time; the schedule follows the scaled clock
      timeFactor: 1,
      clock,
      configure: (id) => optionsFromBundle(bundles.get(id)!),
    });
    const began = Date.now();
    for (;;) {
      const health = await api<{ receivers: { online: number } }>('GET', '/api/health');
      process.stdout.write(`\r  trực tuyến / online: ${health.receivers.online}/14   `);
      if (health.receivers.online === 14) break;
      if (Date.now() - began > 30_000) throw new Error('receivers did not come online within 30 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log('');
    say('Cả 14 cụm loa đã trực tuyến.', 'All 14 receivers are online.');

    const morning = list.items.find((p) => p.id === 'sang')?.next[0];
    if (!morning) throw new Error('the sample has no morning airing');
    for (;;) {
      if (fleet.receivers.every((rx) => rx.schedule?.airings.some((a) => a.id === morning.id))) break;
      if (Date.now() - began > 30_000) throw new Error('receivers did not get their schedules within 30 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    say(
      `Mỗi cụm loa đã giữ lịch phát của mình. Đồng hồ chạy nhanh ×${FACTOR} từ ${local(t0)}…`,
      `Every receiver holds its own schedule. Clock runs ×${FACTOR} from ${local(t0)} (Hướng Đạo time)…`,
    );
    running = scaledClock(FACTOR, t0);
    await Promise.all(
      fleet.receivers.map((rx) =>
        rx.waitForAiring((r) => r.airingId === morning.id && r.state === 'ended', 120_000),
      ),
    );
    interface Detail {
      receivers: { receiverId: string; outcome: string | null; startedAt: string | null }[];
    }
    let detail: Detail;
    for (;;) {
      detail = await api<Detail>('GET', `/api/airings/${morning.id}`);
      if (detail.receivers.length === 14 && detail.receivers.every((r) => r.outcome)) break;
      if (Date.now() - began > 120_000) throw new Error('as-run log incomplete');
      await new Promise((r) => setTimeout(r, 100));
    }
    const starts = detail.receivers.map((r) => Date.parse(r.startedAt ?? ''));
    console.log('  Nhật ký phát / as-run log (05:00):');
    for (const r of detail.receivers)
      console.log(`    ${r.receiverId}  ${local(Date.parse(r.startedAt ?? ''))}  ${r.outcome}`);
    const aired = detail.receivers.filter((r) => r.outcome === 'aired').length;
    say(
      `Chương trình 05:00 đã phát trên ${aired}/14 thôn (lệch nhau ${((Math.max(...starts) - Math.min(...starts)) / 1000).toFixed(1)} giây theo giờ lịch).`,
      `Program aired: ${aired}/14 villages at 05:00, starts within ${((Math.max(...starts) - Math.min(...starts)) / 1000).toFixed(1)} s of schedule time of each other.`,
    );

    const form = new FormData();
    form.append('file', new Blob([chimeWav(3)], { type: 'audio/wav' }), 'ban-tin-demo.wav');
    form.append('name', 'Bản tin thử nghiệm');
    const up = await fetch(`${base}/api/audio`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: form,
    });
    const { audio } = (await up.json()) as { audio: { id: string; durationMs: number } };
    // Back to real time for a bulletin played now (its expiry is on the real clock).
    factor = 1;
    running = systemClock;
    // Inside quiet hours (21:00–05:00 in the sample) only an emergency plays: the receivers
    // refuse anything else, so at night the demo sends a storm-warning drill instead.
    const hour = Temporal.Now.zonedDateTimeISO(TZ).hour;
    const quiet = hour >= 21 || hour < 5;
    const bulletin = await api<{ id: string }>('POST', '/api/bulletins', {
      title: quiet ? 'Diễn tập cảnh báo bão / storm warning drill' : 'Bản tin thử nghiệm / demo bulletin',
      audioId: audio.id,
      target: { all: true },
      priority: quiet ? 'emergency' : 'priority',
      repeat: 1,
      // A priority or emergency bulletin to every village needs the sender's PIN
      // (CONFIRM_PRIORITIES, EMERGENCY_ALL_CONFIRM); the demo admin has none, so its password.
      confirm: { pin: password },
    });
    say(
      `Phát ngay bản tin (${(audio.durationMs / 1000).toFixed(1)} giây) trên toàn xã…`,
      `Playing a ${(audio.durationMs / 1000).toFixed(1)} s bulletin now on every village…`,
    );

    interface B {
      summary: { total: number; finished: number; byState: Record<string, number> };
      deliveries: { receiverId: string; state: string; reason?: string | null }[];
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
    for (const d of b.deliveries.filter((x) => x.state !== 'done'))
      console.log(`  ${d.receiverId}: ${d.state} ${d.reason ?? ''}`);
    say(`Hoàn tất: ${done}/14 cụm loa đã phát xong.`, `Finished: ${done}/14 receivers played it to the end.`);

    if (args.once) {
      await cleanup();
      process.exit(done === 14 && aired === 14 ? 0 : 1);
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
