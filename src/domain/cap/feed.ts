/**
 * Polling a CAP feed (CAP_FEED_URL): an Atom or RSS 2.0 index whose entries link to CAP
 * documents, as warning centres publish them (OASIS "CAP Feeds" practice: an Atom `<link>` of
 * type application/cap+xml, or the entry's or item's link). Each new document is fetched and
 * handled exactly like a POST /api/cap by the feed's own alert-source account; what was already
 * received is a duplicate there, so a restart re-reads the feed without airing anything twice.
 */
import { XMLParser } from 'fast-xml-parser';
import type { Logger } from 'pino';
import { randomSecret } from '../../auth/passwords.js';
import type { Principal } from '../../auth/roles.js';
import type { UserStore } from '../../auth/users.js';
import type { CapService } from './service.js';

const MAX_FEED_BYTES = 2 * 1024 * 1024;
/** Entries read per poll: a feed that suddenly lists thousands is read a slice at a time. */
const MAX_ENTRIES = 100;
/** Links remembered as done (not fetched again); older ones are forgotten first. */
const MAX_SEEN = 5000;

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

interface AtomLink {
  '@_href'?: string;
  '@_type'?: string;
  '@_rel'?: string;
}

/**
 * The CAP documents an Atom or RSS feed links to, as absolute URLs, in feed order. A DOCTYPE is
 * refused, as for alerts.
 */
export function capLinks(feedXml: string, base: string): string[] {
  if (/<!DOCTYPE|<!ENTITY/i.test(feedXml)) throw new Error('the feed contains a DOCTYPE; refused');
  const parsed = new XMLParser({
    ignoreAttributes: false,
    removeNSPrefix: true,
    parseTagValue: false,
    processEntities: true,
    htmlEntities: false,
  }).parse(feedXml) as {
    feed?: { entry?: unknown };
    rss?: { channel?: { item?: unknown } };
  };
  const links: string[] = [];
  if (parsed.feed) {
    for (const entry of asArray(parsed.feed.entry as Record<string, unknown>[] | undefined)) {
      const all = asArray(entry.link as AtomLink | AtomLink[] | undefined);
      const cap =
        all.find((l) => /cap\+xml/i.test(l['@_type'] ?? '')) ??
        all.find((l) => !l['@_rel'] || l['@_rel'] === 'alternate') ??
        all[0];
      if (cap?.['@_href']) links.push(cap['@_href']);
    }
  } else if (parsed.rss?.channel) {
    for (const item of asArray(parsed.rss.channel.item as Record<string, unknown>[] | undefined)) {
      const link = typeof item.link === 'string' ? item.link : undefined;
      const enclosure = asArray(item.enclosure as AtomLink | AtomLink[] | undefined).find((e) =>
        /xml/i.test(e['@_type'] ?? ''),
      ) as { '@_url'?: string } | undefined;
      const href = enclosure?.['@_url'] ?? link;
      if (href) links.push(href.trim());
    }
  } else {
    throw new Error('not an Atom or RSS feed');
  }
  const out: string[] = [];
  for (const l of links) {
    try {
      const u = new URL(l, base);
      if (u.protocol === 'http:' || u.protocol === 'https:') out.push(u.href);
    } catch {
      // a link that is no URL is skipped
    }
  }
  return out;
}

async function fetchText(url: string, maxBytes: number, timeoutMs: number): Promise<string> {
  const res = await fetch(url, {
    signal: AbortSignal.timeout(timeoutMs),
    headers: { accept: 'application/cap+xml, application/atom+xml, application/rss+xml, application/xml' },
    redirect: 'follow',
  });
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    throw new Error(`HTTP ${res.status}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export interface CapFeed {
  /** Reads the feed once; resolves when every new entry was handled. */
  poll(): Promise<{ links: number; handled: number; failed: number }>;
  start(): void;
  /** Stops polling; resolves when a poll under way has finished. */
  stop(): Promise<void>;
}

export function createCapFeed(deps: {
  url: string;
  intervalS: number;
  cap: CapService;
  /** the feed's alert-source account */
  principal: Principal;
  maxAlertBytes: number;
  log: Logger;
  timeoutMs?: number;
}): CapFeed {
  const { log } = deps;
  const timeoutMs = deps.timeoutMs ?? 15_000;
  const seen = new Set<string>();
  let running: Promise<{ links: number; handled: number; failed: number }> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;

  async function pollNow() {
    const feed = await fetchText(deps.url, MAX_FEED_BYTES, timeoutMs);
    const links = capLinks(feed, deps.url).slice(0, MAX_ENTRIES);
    let handled = 0;
    let failed = 0;
    for (const link of links) {
      if (stopped) break;
      if (seen.has(link)) continue;
      try {
        const xml = await fetchText(link, deps.maxAlertBytes, timeoutMs);
        const r = await deps.cap.receive(xml, deps.principal);
        handled++;
        log.info({ link, outcome: r.outcome, duplicate: r.duplicate }, 'cap feed: entry handled');
        seen.add(link);
      } catch (err) {
        // An alert that could not be aired is tried again at the next poll; one that can never
        // be read (4xx) is not fetched again.
        failed++;
        const status = (err as { statusCode?: number }).statusCode;
        if (status !== undefined && status < 500) seen.add(link);
        log.warn({ link, err: (err as Error).message, status }, 'cap feed: entry not handled');
      }
      if (seen.size > MAX_SEEN) seen.delete(seen.values().next().value as string);
    }
    return { links: links.length, handled, failed };
  }

  function poll() {
    // One poll at a time: a slow feed does not pile up.
    running ??= pollNow().finally(() => {
      running = null;
    });
    return running;
  }

  const tick = () => {
    poll().catch((err: unknown) =>
      log.warn({ url: deps.url, err: (err as Error).message }, 'cap feed: poll failed'),
    );
  };

  return {
    poll,
    start() {
      if (timer || stopped) return;
      tick();
      timer = setInterval(tick, deps.intervalS * 1000);
      timer.unref();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = null;
      await running?.catch(() => {});
    },
  };
}

/**
 * The feed's alert-source account (role 'alerter' only), made with an unusable random password
 * if missing. An existing account of that name with other roles is refused: the feed must not
 * act with an officer's rights.
 */
export async function feedAccount(users: UserStore, username: string): Promise<Principal> {
  let user = users.list().find((u) => u.username === username);
  user ??= await users.create({ username, password: randomSecret(32), roles: ['alerter'] });
  if (user.roles.length !== 1 || user.roles[0] !== 'alerter') {
    throw new Error(
      `CAP_FEED_USER "${username}" is an officer's account (${user.roles.join(', ')}); name an account with the role alerter only, or a new name`,
    );
  }
  if (user.disabled) throw new Error(`CAP_FEED_USER "${username}" is disabled`);
  return {
    id: user.id,
    username,
    roles: ['alerter'],
    zones: user.zones,
    via: 'api_token',
    credentialId: 'cap-feed',
  };
}
