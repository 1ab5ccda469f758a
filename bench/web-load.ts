/**
 * The phone app's first load on a slow link (issue 10, "Performance"): Debian's Chromium as a
 * 360×640 phone, Chromium's own network emulation (CDP `Network.emulateNetworkConditions`: 1.6
 * Mbit/s down, 750 kbit/s up, 150 ms round trip), against a controller (a child process, its
 * embedded broker) with 14 villages of simulated receivers.
 *
 * - **cold**: a phone that never opened the app (a new browser profile: no HTTP cache, no service
 *   worker), already logged in (the session cookie is set beforehand; typing a password is not
 *   what is timed);
 * - **warm**: the app opened again on that phone, its shell from the service worker.
 *
 * Each is timed in the page, from the start of navigation (`performance.now()`) to the moment Today
 * follows the live stream and shows a state for every receiver. Bytes: what went over the wire for
 * the page until then (as served), and the same with the app's files gzip-compressed (what a
 * server compressing them would send).
 *
 *     npx tsx bench/web-load.ts [villages] [receivers per village] [rounds]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { type Fleet, fetchTrustedKeys, startFleet } from '../firmware-sim/index.js';
import { optionsFromBundle } from '../firmware-sim/provisioning.js';
import type { ProvisioningBundle } from '../src/contract/provisioning.js';
import { hasChromium, launchBrowser, phone } from '../test/helpers/browser.js';
import { Api } from './api.js';
import { killAll, REPO_ROOT, startControllerProcess } from './procs.js';

/** Chromium's "slow 4G" of the issue: 1.6 Mbit/s down, 150 ms round trip. */
export const SLOW_4G = {
  offline: false,
  latency: 150,
  downloadThroughput: 1_600_000 / 8,
  uploadThroughput: 750_000 / 8,
};
const TARGET = { coldMs: 2000, warmMs: 500 };

export interface WebLoadRun {
  /** navigation start → Today live with every receiver's state */
  ms: number;
  requests: number;
  /** bytes received for the page until then, as served (headers included) */
  transferBytes: number;
}

export interface WebLoadResult {
  villages: number;
  receivers: number;
  cold: WebLoadRun[];
  warm: WebLoadRun[];
  coldMedianMs: number;
  warmMedianMs: number;
  /** the first load's bytes with the app's files gzip-compressed (API answers as served) */
  firstLoadGzipBytes: number;
  /** the app's JavaScript and CSS of the first load, gzip */
  appGzipBytes: number;
  /** whether the server sent the app's files compressed */
  servedCompressed: boolean;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2 : Number.NaN;
};

/** Counts what the page receives, from Chromium's own network events. */
async function followNetwork(page: Page): Promise<{
  cdp: CDPSession;
  done: () => { url: string; bytes: number; encoding: string }[];
}> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', SLOW_4G);
  const urls = new Map<string, { url: string; encoding: string }>();
  const finished: { url: string; bytes: number; encoding: string }[] = [];
  const began = new Map<string, number>();
  let t0 = 0;
  cdp.on('Network.requestWillBeSent', (e) => {
    if (!t0) t0 = e.timestamp;
    began.set(e.requestId, e.timestamp);
  });
  cdp.on('Network.loadingFinished', (e) => {
    if (process.env.WEB_LOAD_WATERFALL)
      console.error(
        `  ${urls.get(e.requestId)?.url.replace(/^https?:\/\/[^/]+/, '')} ${Math.round(((began.get(e.requestId) ?? t0) - t0) * 1000)}→${Math.round((e.timestamp - t0) * 1000)} ms`,
      );
  });
  cdp.on('Network.responseReceived', (e) => {
    if (process.env.WEB_LOAD_WATERFALL && e.response.url.includes('/events'))
      console.error(
        `  ${e.response.url.replace(/^https?:\/\/[^/]+/, '')} ${Math.round(((began.get(e.requestId) ?? t0) - t0) * 1000)}→headers ${Math.round((e.timestamp - t0) * 1000)} ms`,
      );
    const h = e.response.headers as Record<string, string>;
    const encoding = Object.entries(h).find(([k]) => k.toLowerCase() === 'content-encoding')?.[1] ?? '';
    urls.set(e.requestId, { url: e.response.url, encoding });
  });
  cdp.on('Network.loadingFinished', (e) => {
    const r = urls.get(e.requestId);
    if (r) finished.push({ ...r, bytes: e.encodedDataLength });
  });
  return { cdp, done: () => [...finished] };
}

/** What the waiting function uses of the page (the bench is compiled without the DOM types). */
interface InPage {
  document: { querySelector(sel: string): unknown; querySelectorAll(sel: string): { length: number } };
  performance: { now(): number };
}

/** Navigates to the app and waits until Today is live with `n` receiver states; ms from navigation start. */
async function timeToLive(page: Page, url: string, n: number): Promise<number> {
  await page.goto(url, { waitUntil: 'commit', timeout: 60_000 });
  // A function, not a string: the app's CSP forbids evaluating strings in the page.
  const handle = await page.waitForFunction(
    (count) => {
      const g = globalThis as unknown as InPage;
      return g.document.querySelector('[data-mode="live"]') &&
        g.document.querySelectorAll('[data-receiver][data-state]').length >= count
        ? g.performance.now()
        : 0;
    },
    n,
    { polling: 'raf', timeout: 60_000 },
  );
  return Math.round((await handle.jsonValue()) as number);
}

async function loggedInPhone(
  browser: Awaited<ReturnType<typeof launchBrowser>>,
  baseUrl: string,
  password: string,
): Promise<BrowserContext> {
  const context = await phone(browser);
  const res = await context.request.post(`${baseUrl}/api/auth/login`, {
    data: { username: 'admin', password, session: 'cookie' },
  });
  if (!res.ok()) throw new Error(`cookie login: HTTP ${res.status()}`);
  return context;
}

export async function measureWebLoad(
  opts: {
    villages?: number;
    perVillage?: number;
    rounds?: number;
    build?: boolean;
    log?: (l: string) => void;
  } = {},
): Promise<WebLoadResult> {
  const villages = opts.villages ?? 14;
  const perVillage = opts.perVillage ?? 3;
  const rounds = opts.rounds ?? 3;
  const log = opts.log ?? (() => {});
  if (!hasChromium) throw new Error('/usr/bin/chromium not found (apt-get install -y chromium)');
  const webRoot = join(REPO_ROOT, 'dist', 'web');
  if (opts.build !== false) {
    // The figures are about the app as it is now: build it first.
    const built = spawnSync(
      process.execPath,
      [
        join(REPO_ROOT, 'node_modules', 'vite', 'bin', 'vite.js'),
        'build',
        '--config',
        'src/web/app/vite.config.ts',
      ],
      { cwd: REPO_ROOT, stdio: 'ignore' },
    );
    if (built.status !== 0) throw new Error('vite build failed');
  }
  if (!existsSync(join(webRoot, 'index.html'))) throw new Error('dist/web is not built (npm run build:web)');

  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const ctl = await startControllerProcess({});
    cleanups.push(() => ctl.stop());
    const api = new Api(ctl.httpUrl);
    await api.login(ctl.adminPassword);
    const bundles = new Map<string, ProvisioningBundle>();
    const ids: string[] = [];
    for (let v = 1; v <= villages; v++) {
      const zone = `thon-${v}`;
      await api.json('POST', '/api/zones', { id: zone, name: `Thôn ${v}` });
      for (let k = 1; k <= perVillage; k++) {
        const id = `web-${String(ids.length + 1).padStart(2, '0')}`;
        const rx = await api.json<{ provisioning: ProvisioningBundle }>('POST', '/api/receivers', {
          id,
          zoneId: zone,
          name: `Loa ${k} thôn ${v}`,
        });
        bundles.set(id, rx.provisioning);
        ids.push(id);
      }
    }
    const fleet: Fleet = await startFleet({
      count: ids.length,
      idPrefix: 'web',
      brokerUrl: ctl.mqttUrl,
      trustedKeys: await fetchTrustedKeys(`${ctl.httpUrl}/api/system/signing-key`),
      configure: (id) => optionsFromBundle(bundles.get(id)!),
    });
    cleanups.push(() => fleet.stop());
    log(`${villages} villages, ${ids.length} receivers online`);

    const browser = await launchBrowser();
    cleanups.push(() => browser.close());
    const cold: WebLoadRun[] = [];
    const warm: WebLoadRun[] = [];
    let first: { url: string; bytes: number; encoding: string }[] = [];
    for (let round = 0; round < rounds; round++) {
      const context = await loggedInPhone(browser, ctl.httpUrl, ctl.adminPassword);
      try {
        const page = await context.newPage();
        const net = await followNetwork(page);
        const ms = await timeToLive(page, `${ctl.httpUrl}/`, ids.length);
        const got = net.done();
        if (round === 0) first = got;
        cold.push({ ms, requests: got.length, transferBytes: got.reduce((s, r) => s + r.bytes, 0) });
        // The service worker has the shell once it is active (it precaches while installing).
        await page.evaluate(
          `Promise.race([navigator.serviceWorker.ready, new Promise((_, no) => setTimeout(() => no(new Error('no service worker')), 30000))]).then(() => true)`,
        );
        await page.close();
        const again = await context.newPage();
        const net2 = await followNetwork(again);
        const warmMs = await timeToLive(again, `${ctl.httpUrl}/`, ids.length);
        const got2 = net2.done();
        warm.push({
          ms: warmMs,
          requests: got2.length,
          transferBytes: got2.reduce((s, r) => s + r.bytes, 0),
        });
        log(`round ${round + 1}: cold ${ms} ms, warm ${warmMs} ms`);
      } finally {
        await context.close();
      }
    }

    // The same first load with the app's files gzip-compressed: their bytes from dist/web.
    let appGzipBytes = 0;
    let firstLoadGzipBytes = 0;
    for (const r of first) {
      const path = new URL(r.url).pathname;
      const file = path === '/' ? join(webRoot, 'index.html') : join(webRoot, path);
      if (!path.startsWith('/api/') && existsSync(file)) {
        const gz = gzipSync(readFileSync(file), { level: 9 }).length;
        firstLoadGzipBytes += gz;
        if (/\.(js|css)$/.test(path)) appGzipBytes += gz;
      } else firstLoadGzipBytes += r.bytes;
    }
    return {
      villages,
      receivers: ids.length,
      cold,
      warm,
      coldMedianMs: median(cold.map((r) => r.ms)),
      warmMedianMs: median(warm.map((r) => r.ms)),
      firstLoadGzipBytes,
      appGzipBytes,
      servedCompressed: first.some((r) => /\.(js|css)$/.test(r.url) && r.encoding !== ''),
    };
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }
}

export function webLoadTable(r: WebLoadResult): string {
  const kb = (b: number) => `${(b / 1000).toFixed(1)} kB`;
  const row = (label: string, runs: WebLoadRun[], med: number, target: number) =>
    `| ${label} | ${med} ms | ${runs.map((x) => x.ms).join(', ')} | ${median(runs.map((x) => x.requests))} | ` +
    `${kb(median(runs.map((x) => x.transferBytes)))} | ≤ ${target} ms ${med <= target ? 'MET' : 'NOT MET'} |`;
  return [
    `### Phone app first load, slow 4G (1.6 Mbit/s, 150 ms RTT), ${r.villages} villages, ${r.receivers} receivers`,
    '',
    '| load | to Today live (median) | runs | requests | bytes as served | target |',
    '| --- | ---: | --- | ---: | ---: | --- |',
    row('cold', r.cold, r.coldMedianMs, TARGET.coldMs),
    row('warm (service worker)', r.warm, r.warmMedianMs, TARGET.warmMs),
    '',
    `First load gzip: ${kb(r.firstLoadGzipBytes)} (the app's JavaScript and CSS: ${kb(r.appGzipBytes)}); ` +
      `the server sent them ${r.servedCompressed ? 'compressed' : 'uncompressed'}.`,
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [villages, perVillage, rounds] = process.argv.slice(2).map(Number);
  process.on('SIGINT', () => {
    killAll();
    process.exit(130);
  });
  measureWebLoad({
    villages: villages || 14,
    perVillage: perVillage || 3,
    rounds: rounds || 3,
    log: (l) => console.error(l),
  }).then(
    (r) => {
      console.log(webLoadTable(r));
      console.log(JSON.stringify(r));
    },
    (err: unknown) => {
      console.error(err);
      killAll();
      process.exit(1);
    },
  );
}
