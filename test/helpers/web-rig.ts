/**
 * The set-up of a phone-app browser test: a real controller, its villages and receivers (registered
 * through the API; those switched on run as simulated receivers), Debian's Chromium as an officer's
 * phone, logged in as the admin unless told otherwise, and one stop() for all of it.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Fleet } from '../../firmware-sim/index.js';
import { launchBrowser, logIn, phone } from './browser.js';
import { ADMIN_PASSWORD, startTestController, type TestController } from './controller.js';
import { waitFor } from './wait.js';

export interface WebRigOptions {
  /** the controller's environment (TZ, CONFIRM_WINDOW_S…) */
  env?: Record<string, string>;
  /** a controller with no account, waiting for its first-run set-up (nobody logs in) */
  firstRun?: boolean;
  /** villages made through the API in this order: a name (the id made from it), or both */
  villages?: (string | { id: string; name: string })[];
  /**
   * receivers registered through the API, `village` an index into `villages`; all but the `off`
   * ones (registered, never switched on) run as simulated receivers, adopted and online
   */
  receivers?: { id: string; village: number; name?: string; off?: boolean }[];
  /** the simulated receivers' playback time scale (default 1) */
  timeFactor?: number;
  /** who the page logs in as (default the admin); false: nobody yet (see WebRig.logIn) */
  login?: { username: string; password: string } | false;
  /** the page's default timeout for actions and waits, ms (default Playwright's) */
  timeoutMs?: number;
}

export interface WebRig {
  tc: TestController;
  /** the villages' ids, in the order of `villages` */
  zoneIds: string[];
  /** the simulated receivers (none when no receiver is switched on) */
  fleet: Fleet;
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Logs the page in through the form (default: the admin). */
  logIn(username?: string, password?: string): Promise<void>;
  /** Stops whatever was started: browser, receivers, controller. */
  stop(): Promise<void>;
}

/** Starts a rig; if any part fails to start, what did start is stopped again. */
export async function startWebRig(opts: WebRigOptions = {}): Promise<WebRig> {
  const started: { stop(): Promise<void> }[] = [];
  const stop = async () => {
    for (const part of started.splice(0).reverse()) await part.stop();
  };
  try {
    const tc = await startTestController(opts.env, opts.firstRun ? { firstRun: true } : {});
    started.push(tc);
    const zoneIds: string[] = [];
    for (const v of opts.villages ?? []) {
      const made = await tc.api<{ id: string }>(
        'POST',
        '/api/zones',
        typeof v === 'string' ? { name: v } : v,
      );
      if (made.status !== 201) throw new Error(`village ${JSON.stringify(v)}: ${made.status}`);
      zoneIds.push(made.body.id);
    }
    for (const r of opts.receivers ?? []) {
      const zoneId = zoneIds[r.village];
      if (zoneId === undefined) throw new Error(`receiver ${r.id}: no village ${r.village}`);
      await tc.register(r.id, zoneId, r.name);
    }
    const on = (opts.receivers ?? []).filter((r) => !r.off).map((r) => r.id);
    const fleet = await tc.startFleet(on, { timeFactor: opts.timeFactor ?? 1 });
    started.push(fleet);
    for (const id of on) await waitFor(`${id} online`, () => tc.isOnline(id));
    const browser = await launchBrowser();
    started.push({ stop: () => browser.close() });
    const context = await phone(browser);
    const page = await context.newPage();
    if (opts.timeoutMs !== undefined) page.setDefaultTimeout(opts.timeoutMs);
    const rig: WebRig = {
      tc,
      zoneIds,
      fleet,
      browser,
      context,
      page,
      logIn: (username = 'admin', password = ADMIN_PASSWORD) => logIn(page, tc.url, username, password),
      stop,
    };
    const login = opts.firstRun ? false : (opts.login ?? { username: 'admin', password: ADMIN_PASSWORD });
    if (login) await rig.logIn(login.username, login.password);
    return rig;
  } catch (err) {
    await stop();
    throw err;
  }
}
