/**
 * The live receiver stream behind GET /api/receivers/events (Server-Sent Events): `snapshot` with
 * every receiver (and village) the officer may see, then a `receiver` event per receiver whose visible state
 * changed (online/offline, what it plays with the bulletin's title, volume, signal, name, zone) and
 * `removed` when it left the officer's view (deleted, or moved out of their zones).
 *
 * One hub for all the streams: it listens to the fleet's `changed` events, gathers the ids, and at
 * most every `throttleMs` reads each changed receiver once and fans it out, so a thousand receivers
 * reconnecting after a power cut cost a few reads, not one write per phone per status. A receiver
 * whose view did not change (a heartbeat status) sends nothing.
 */
import { constants, createGzip } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LiveReceiver, LiveRemoved, LiveSnapshot } from '../contract/live.js';
import type { BulletinService } from '../domain/bulletins/service.js';
import type { Fleet } from '../domain/fleet/fleet.js';
import type { Receiver } from '../domain/fleet/repo.js';

interface Client {
  zones: readonly string[] | null;
  /** ids this client was told about, so that it hears when one leaves its view */
  seen: Set<string>;
  write(text: string): void;
  end(): void;
}

export interface ReceiverEventHub {
  /** Streams to the request (hijacks the reply). `alive` says whether its session still holds. */
  stream(
    request: FastifyRequest,
    reply: FastifyReply,
    opts: { zones: readonly string[] | null; alive: () => boolean },
  ): void;
  /** Ends every stream and stops listening (before the server closes). */
  close(): void;
  /** How many streams are open. */
  size(): number;
}

const MAX_TITLES = 500;

export function createReceiverEventHub(deps: {
  fleet: Fleet;
  bulletins: Pick<BulletinService, 'get'>;
  log: { warn(obj: object, msg: string): void };
  /** at most one batch of events per this many ms (default 300) */
  throttleMs?: number;
  /** a comment this often keeps proxies from closing the stream, and re-checks the session */
  heartbeatMs?: number;
}): ReceiverEventHub {
  const { fleet, log } = deps;
  const throttleMs = deps.throttleMs ?? 300;
  const heartbeatMs = deps.heartbeatMs ?? 15_000;
  const clients = new Set<Client>();
  const dirty = new Set<string>();
  /** the last view sent of each receiver (JSON), so an unchanged one is not sent again */
  const last = new Map<string, string>();
  const titles = new Map<string, string | null>();
  let timer: NodeJS.Timeout | null = null;
  let listening = false;

  function titleOf(bulletinId: string): string | null {
    if (titles.has(bulletinId)) return titles.get(bulletinId) ?? null;
    let title: string | null = null;
    try {
      title = deps.bulletins.get(bulletinId, false).title ?? null;
    } catch {
      title = null;
    }
    if (titles.size >= MAX_TITLES) titles.clear();
    titles.set(bulletinId, title);
    return title;
  }

  function view(r: Receiver): LiveReceiver {
    const np = r.nowPlaying;
    return {
      id: r.id,
      name: r.name,
      zoneId: r.zoneId,
      adoption: r.adoption,
      online: r.online,
      lastSeen: r.lastSeen,
      volume: r.volume,
      signal: r.signal,
      nowPlaying: np
        ? {
            bulletinId: np.bulletinId ?? null,
            title: np.bulletinId ? titleOf(np.bulletinId) : null,
            priority: np.priority,
            play: np.play,
            startedAt: np.startedAt,
          }
        : null,
    };
  }

  const visible = (c: Client, r: { zoneId: string | null }) =>
    c.zones === null || (r.zoneId !== null && c.zones.includes(r.zoneId));
  const event = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
  const removed = (id: string) => event('removed', { id } satisfies LiveRemoved);

  function onChanged(id: string): void {
    // Nobody watching: nothing to read; the next snapshot starts from the fleet as it is then.
    if (clients.size === 0) {
      last.delete(id);
      return;
    }
    dirty.add(id);
    if (!timer) timer = setTimeout(sendChanges, throttleMs);
  }

  function sendChanges(): void {
    timer = null;
    if (dirty.size === 0) return;
    const ids = [...dirty];
    dirty.clear();
    // Many changes at once (a village's power comes back): one read of the whole fleet.
    const byId = new Map<string, Receiver>();
    try {
      if (ids.length > 20) for (const r of fleet.listReceivers()) byId.set(r.id, r);
      else
        for (const id of ids) {
          try {
            byId.set(id, fleet.getReceiver(id));
          } catch {
            // removed: told below
          }
        }
    } catch (err) {
      log.warn({ err }, 'receiver events: reading the fleet failed');
      return;
    }
    for (const id of ids) {
      const r = byId.get(id);
      if (!r) {
        last.delete(id);
        for (const c of clients) if (c.seen.delete(id)) c.write(removed(id));
        continue;
      }
      const v = view(r);
      const json = JSON.stringify(v);
      if (last.get(id) === json) continue;
      last.set(id, json);
      const text = `event: receiver\ndata: ${json}\n\n`;
      for (const c of clients) {
        if (visible(c, r)) {
          c.seen.add(id);
          c.write(text);
        } else if (c.seen.delete(id)) c.write(removed(id));
      }
    }
  }

  function listen(): void {
    if (listening) return;
    listening = true;
    fleet.on('changed', onChanged);
  }

  return {
    stream(request, reply, opts) {
      listen();
      const receivers = fleet.listReceivers().map(view);
      for (const v of receivers) if (!last.has(v.id)) last.set(v.id, JSON.stringify(v));
      const mine = receivers.filter(
        (r) => opts.zones === null || (r.zoneId && opts.zones.includes(r.zoneId)),
      );
      reply.hijack();
      const res = reply.raw;
      // Compressed when the browser takes it (every one does): a snapshot of a province's receivers
      // is JSON that gzip shrinks ~15 times, which on a 3G phone is seconds. Each event is flushed
      // whole (a sync flush), so nothing waits in the compressor; a small window keeps each open
      // stream's compressor to ~30 KB of memory.
      const gzip = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))
        ? createGzip({ windowBits: 12, memLevel: 5, flush: constants.Z_SYNC_FLUSH })
        : null;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-store, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        vary: 'accept-encoding',
        ...(gzip ? { 'content-encoding': 'gzip' } : {}),
      });
      if (gzip) {
        gzip.pipe(res);
        gzip.on('error', (err) => {
          log.warn({ err }, 'receiver events: compressing the stream failed');
          client.end();
        });
      }
      const out = gzip ?? res;
      let open = true;
      const client: Client = {
        zones: opts.zones,
        seen: new Set(mine.map((r) => r.id)),
        write: (text) => {
          if (open) out.write(text);
        },
        end: () => {
          if (!open) return;
          open = false;
          clearInterval(heartbeat);
          clients.delete(client);
          out.end();
        },
      };
      const heartbeat = setInterval(() => {
        // A session ended (logout, revoked, expired) ends its stream too.
        if (!opts.alive()) client.end();
        else client.write(': keep-alive\n\n');
      }, heartbeatMs);
      clients.add(client);
      request.raw.on('close', client.end);
      // The browser reconnects after 3 s when the stream drops; it gets a fresh snapshot then.
      // The villages come with it, so that Today needs no other request to draw them.
      const zones = fleet
        .listZones()
        .filter((z) => opts.zones === null || opts.zones.includes(z.id))
        .map((z) => ({ id: z.id, name: z.name }));
      out.write(
        `retry: 3000\n${event('snapshot', { at: new Date().toISOString(), zones, receivers: mine } satisfies LiveSnapshot)}`,
      );
    },
    close() {
      if (timer) clearTimeout(timer);
      timer = null;
      if (listening) fleet.off('changed', onChanged);
      listening = false;
      for (const c of [...clients]) c.end();
    },
    size: () => clients.size,
  };
}
