/**
 * §2, §4, §5, §7.4 and §8 across the link: the last will and the session of each connection, the
 * reconnection, the start-up order (subscribed and configured before "online"), the zone
 * subscriptions after a move, events and stops that cross a cut. The kit cuts the link with its
 * proxy: `close` (the TCP connection ends, as when the 4G modem resets) or `blackhole` (nothing
 * crosses and nobody is told, until `restore()` closes the dead connections).
 */
import { randomUUID } from 'node:crypto';
import type { ProvisioningBundle } from '../../contract/provisioning.js';
import type { CaseContext } from '../context.js';
import type { Seen } from '../observer.js';
import type { CutMode } from '../proxy.js';
import { type ConformanceCase, check } from '../types.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

const isOnline = (m: Seen) => m.leaf === 'status' && m.json?.state === 'online';
const isOffline = (m: Seen) => m.leaf === 'status' && m.json?.state === 'offline';

/** The current session, failing the case when the receiver never said online. */
function currentSession(ctx: CaseContext): number {
  const s = ctx.session();
  check(s !== null, 'no online status with a session seen');
  return s;
}

interface Cycle {
  mode: CutMode;
  /** the session of the online status before the cut */
  before: number;
  will: Seen;
  online: Seen;
  /** ms from the link coming back to the receiver's online status */
  backMs: number;
}

/**
 * Cuts the link, waits for the broker to publish the receiver's last will, restores the link and
 * waits for the receiver's next online status (whatever its session: the cases check it).
 * A black hole is held until restore(), which closes the dead connections: then the broker, and
 * the receiver, see the connection end.
 */
async function cycle(ctx: CaseContext, mode: CutMode, onlineTimeoutMs = 15_000): Promise<Cycle> {
  const before = currentSession(ctx);
  const from = ctx.seen.mark();
  ctx.link.cut(mode);
  ctx.note(`link cut (${mode}) while the receiver was online with session ${before}`);
  if (mode === 'blackhole') {
    // Nothing crosses now; restoring closes the held connections, as a dead link ends.
    ctx.link.restore();
    ctx.note('link restored: the relay closed the connections held in the black hole');
  }
  const will = await ctx.seen.waitFor('"offline" status (the last will)', isOffline, {
    from,
    timeoutMs: 10_000,
  });
  ctx.saw(`offline status (last will): ${will.text.slice(0, 200)}`);
  if (mode === 'close') {
    ctx.link.restore();
    ctx.note('link restored');
  }
  const back = Date.now();
  const online = await ctx.seen.waitFor('"online" status after the link came back', isOnline, {
    from: will.n + 1,
    timeoutMs: onlineTimeoutMs,
  });
  const backMs = Date.now() - back;
  ctx.saw(`online again after ${backMs} ms, session ${String(online.json?.session)}`);
  return { mode, before, will, online, backMs };
}

/**
 * Whether the receiver hears each topic now: a harmless stop (for a bulletin it never had) on
 * each, then a barrier on its own topic. Commands are handled in arrival order, so once the
 * barrier is confirmed, a stop it heard has been confirmed too. Null when the barrier itself
 * went unanswered (the receiver is not connected).
 */
export async function hears(ctx: CaseContext, list: string[]): Promise<Map<string, boolean> | null> {
  const from = ctx.seen.mark();
  const probes = list.map((topic) => ({ topic, stop: ctx.stop({ bulletinId: randomUUID() }) }));
  for (const p of probes) await ctx.send(p.topic, p.stop);
  const barrier = ctx.stop({ bulletinId: randomUUID() });
  await ctx.send(ctx.rx.topics.cmd, barrier);
  const ok = await ctx.seen
    .waitForEvent(barrier.id, 'received', { from, timeoutMs: 4000 })
    .then(() => true)
    .catch(() => false);
  if (!ok) return null;
  const confirmed = new Set(
    ctx.seen
      .events(from)
      .filter((e) => e.state === 'received')
      .map((e) => e.commandId),
  );
  return new Map(probes.map((p) => [p.topic, confirmed.has(p.stop.id)]));
}

/** Waits (bounded) until the receiver hears `topic`: after a move it reconnects or resubscribes. */
export async function untilHeard(ctx: CaseContext, topic: string, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    const h = await hears(ctx, [topic]);
    if (h?.get(topic)) return true;
    await sleep(300);
  }
  return false;
}

/** A long bulletin to this receiver through the controller, a cut, the officer's all-stop, back. */
async function stopAcrossCut(ctx: CaseContext, mode: CutMode): Promise<void> {
  const clip = await ctx.clip(12_000);
  const from = ctx.seen.mark();
  const sent = await ctx.api<{ id: string }>('POST', '/api/bulletins', {
    title: 'conformance: a long bulletin',
    audioId: clip.audioId,
    target: { receivers: [ctx.rx.id] },
    priority: 'normal',
    repeat: 1,
    gapSeconds: 0,
    expiresInSeconds: 600,
  });
  if (sent.status !== 201) throw new Error(`the kit could not send its bulletin: ${sent.status}`);
  const bulletinId = sent.body.id;
  ctx.sent(`POST /api/bulletins: ${clip.durationMs} ms to ${ctx.rx.id}, bulletin ${bulletinId}`);
  const started = await ctx.seen.waitFor(
    `"started" for bulletin ${bulletinId}`,
    (m) => m.leaf === 'event' && m.json?.bulletinId === bulletinId && m.json.state === 'started',
    { from, timeoutMs: 15_000 },
  );
  const commandId = String(started.json?.commandId);
  ctx.saw(`started play ${String(started.json?.play)} of command ${commandId}`);
  const before = currentSession(ctx);
  const cutAt = ctx.seen.mark();
  ctx.link.cut(mode);
  ctx.note(`link cut (${mode})`);
  if (mode === 'close')
    await ctx.seen.waitFor('"offline" status (the last will)', isOffline, { from: cutAt, timeoutMs: 10_000 });
  const stop = await ctx.api<{ stop: { id: string } }>('POST', '/api/stop', { all: true });
  if (stop.status !== 200 && stop.status !== 202)
    throw new Error(`the kit could not send the all-stop: ${stop.status}`);
  const stopId = stop.body.stop.id;
  ctx.sent(`POST /api/stop {all: true} while the link is cut: stop ${stopId} (${stop.status})`);
  ctx.link.restore();
  ctx.note('link restored; the controller resends the unconfirmed stop when the receiver is online');
  const online = await ctx.online({ after: before, timeoutMs: 15_000 });
  ctx.saw(`online, session ${String(online.session)}`);
  const cancelled = await ctx.seen.waitFor(
    `"cancelled" of command ${commandId} by stop ${stopId}`,
    (m) => m.leaf === 'event' && m.json?.commandId === commandId && m.json.state === 'cancelled',
    { from, timeoutMs: 15_000 },
  );
  ctx.saw(`cancelled by ${String(cancelled.json?.by)}`);
  check(
    cancelled.json?.by === stopId,
    `cancelled by ${String(cancelled.json?.by)}, not by the stop ${stopId}`,
  );
  const confirmed = await ctx.seen.waitFor(
    `confirmation of stop ${stopId} (received, or rejected/replayed)`,
    (m) =>
      m.leaf === 'event' &&
      m.json?.commandId === stopId &&
      (m.json.state === 'received' || (m.json.state === 'rejected' && m.json.reason === 'replayed')),
    { from, timeoutMs: 10_000 },
  );
  ctx.saw(`stop confirmed: ${String(confirmed.json?.state)}`);
  check(confirmed.n > cancelled.n, 'the stop was confirmed before the cancelled of the item it stopped');
}

export const linkCases: ConformanceCase[] = [
  {
    id: 'link.will',
    failsWith: 'will-wrong-session',
    section: '§2 (Last will); §5',
    level: 'MUST',
    title:
      "a cut link (closed, or a black hole) brings the receiver's offline will, with its connection's session",
    needs: ['link'],
    timeoutMs: 40_000,
    run: async (ctx) => {
      for (const mode of ['close', 'blackhole'] as const) {
        const c = await cycle(ctx, mode);
        check(
          c.will.json?.session === c.before,
          `after the ${mode} cut the will carries session ${String(c.will.json?.session)}, but that connection said online with ${c.before}`,
        );
        check(
          c.will.json?.v === 1 && typeof c.will.json.ts === 'string',
          'the will is not a v 1 status with ts',
        );
      }
    },
  },
  {
    id: 'link.session',
    failsWith: 'session-not-increasing',
    section: '§5 (session); §2 start-up step 1',
    level: 'MUST',
    title: 'every reconnection says online with a session strictly greater than the connection before',
    needs: ['link'],
    timeoutMs: 40_000,
    run: async (ctx) => {
      for (const mode of ['close', 'blackhole'] as const) {
        const c = await cycle(ctx, mode);
        const s = c.online.json?.session;
        check(
          typeof s === 'number' && s > c.before,
          `after the ${mode} cut it came back with session ${String(s)}, not above ${c.before}: the controller would take its will for the new connection`,
        );
      }
    },
  },
  {
    id: 'link.reconnect',
    failsWith: 'slow-reconnect',
    section: '§2 (Reconnect)',
    level: 'MUST',
    title:
      'after a short cut (link closed, back as soon as its will is out) it is online again within 5 s of the link coming back',
    needs: ['link'],
    timeoutMs: 30_000,
    run: async (ctx) => {
      const c = await cycle(ctx, 'close', 5000);
      ctx.note(
        `back ${c.backMs} ms after the link returned (its first retry is due about 1 s after the loss)`,
      );
    },
  },
  {
    id: 'link.subscribed_first',
    failsWith: 'online-before-subscribe',
    section: '§2 start-up order; §5',
    level: 'MUST',
    title: 'commands sent the instant it says online (own, zone, all topics) are heard: it subscribed first',
    needs: ['link'],
    timeoutMs: 40_000,
    run: async (ctx) => {
      const before = currentSession(ctx);
      const from = ctx.seen.mark();
      ctx.link.cut('close');
      ctx.note('link cut (close)');
      await ctx.seen.waitFor('"offline" status (the last will)', isOffline, { from, timeoutMs: 10_000 });
      ctx.link.restore();
      ctx.note('link restored');
      await ctx.online({ after: before, timeoutMs: 15_000 });
      // At once, no await between seeing "online" and publishing.
      const t = ctx.rx.topics;
      const probes = [t.cmd, t.zoneCmd, t.allCmd].map((topic) => ({
        topic,
        stop: ctx.stop({ bulletinId: randomUUID() }),
      }));
      await Promise.all(probes.map((p) => ctx.send(p.topic, p.stop)));
      const heard = await Promise.all(
        probes.map((p) =>
          ctx.seen
            .waitForEvent(p.stop.id, 'received', { from, timeoutMs: 5000 })
            .then(() => true)
            .catch(() => false),
        ),
      );
      const lost = probes.filter((_, i) => !heard[i]).map((p) => p.topic);
      for (const p of probes) if (!lost.includes(p.topic)) ctx.saw(`received the stop sent on ${p.topic}`);
      check(
        lost.length === 0,
        `commands published the moment it said online were lost (no report within 5 s) on ${lost.join(', ')}: it announced itself before its subscriptions were acknowledged`,
      );
    },
  },
  {
    id: 'link.config_first',
    failsWith: 'online-before-config',
    section: '§2 start-up order step 2; §6',
    level: 'SHOULD',
    title:
      'a config changed while it was away is applied before it says online: its online status has the new volume',
    needs: ['link'],
    timeoutMs: 40_000,
    run: async (ctx) => {
      const had = [...ctx.seen.all()].reverse().find(isOnline)?.json?.volume;
      if (typeof had !== 'number')
        ctx.skip('its online status carries no volume (optional, §5): the config it applied cannot be seen');
      const volume = had === 37 ? 38 : 37;
      const before = currentSession(ctx);
      const from = ctx.seen.mark();
      ctx.link.cut('close');
      ctx.note('link cut (close)');
      await ctx.seen.waitFor('"offline" status (the last will)', isOffline, { from, timeoutMs: 10_000 });
      const r = await ctx.api('PATCH', `/api/receivers/${ctx.rx.id}`, { volume });
      if (r.status !== 200) throw new Error(`the kit could not set the volume: ${r.status}`);
      ctx.sent(
        `PATCH /api/receivers/${ctx.rx.id} {volume: ${volume}} while it is away (a new retained config)`,
      );
      ctx.link.restore();
      ctx.note('link restored');
      const online = await ctx.online({ after: before, timeoutMs: 15_000 });
      ctx.saw(`first online status: volume ${String(online.volume)}`);
      check(
        online.volume === volume,
        `its first online status says volume ${String(online.volume)}, not the ${volume} of the retained config: it announced itself before applying its config`,
      );
    },
  },
  {
    id: 'link.zone_move',
    failsWith: 'keep-old-zone',
    section: '§4; §6 (adopted, zones); §12.4 (moving)',
    level: 'MUST',
    title:
      'it hears its own, its zone and all/cmd; moved to another zone, it hears the new zone and not the old',
    timeoutMs: 60_000,
    run: async (ctx) => {
      const t = ctx.rx.topics;
      const first = await hears(ctx, [t.cmd, t.zoneCmd, t.allCmd]);
      check(first, 'it did not confirm the barrier on its own topic');
      for (const [topic, ok] of first) {
        if (ok) ctx.saw(`hears ${topic}`);
        check(ok, `it does not hear ${topic}`);
      }
      const zone2 = 'kit-zone-moved';
      const z = await ctx.api('POST', '/api/zones', { id: zone2, name: 'Conformance (moved)' });
      if (z.status !== 201 && z.status !== 409) throw new Error(`creating zone ${zone2}: ${z.status}`);
      const zone2Cmd = ctx.controller.wire.topics.zoneCommand(zone2);
      const move = async (zoneId: string) => {
        const before = currentSession(ctx);
        const from = ctx.seen.mark();
        const r = await ctx.api('PATCH', `/api/receivers/${ctx.rx.id}`, { zoneId });
        if (r.status !== 200) throw new Error(`the kit could not move the receiver: ${r.status}`);
        ctx.sent(`PATCH /api/receivers/${ctx.rx.id} {zoneId: "${zoneId}"}`);
        // A broker that drops the connection on a move (the embedded one) publishes its will at
        // once: then wait for it to come back rather than probe a receiver that is away.
        const dropped = await ctx.seen
          .waitFor('its will', isOffline, { from, timeoutMs: 1000 })
          .catch(() => null);
        if (dropped) {
          ctx.saw('the broker dropped its connection (last will)');
          await ctx.online({ after: before, timeoutMs: 15_000 });
          ctx.saw('online again');
        }
      };
      await move(zone2);
      try {
        // The broker may drop its connection (the embedded one does): it comes back, resubscribed.
        check(
          await untilHeard(ctx, zone2Cmd, 10_000),
          `moved to ${zone2}, it did not hear ${zone2Cmd} within 10 s`,
        );
        ctx.saw(`hears the new zone ${zone2Cmd}`);
        const after = await hears(ctx, [t.zoneCmd, t.cmd]);
        check(after, 'it did not confirm the barrier on its own topic after the move');
        check(after.get(t.cmd), 'it no longer hears its own topic');
        check(!after.get(t.zoneCmd), `moved away, it still hears its old zone ${t.zoneCmd}`);
        ctx.saw(`no longer hears the old zone ${t.zoneCmd}`);
      } finally {
        await move(ctx.rx.zoneId);
        await untilHeard(ctx, t.zoneCmd, 10_000);
      }
    },
  },
  {
    id: 'link.queued_events',
    failsWith: 'drop-queued-events',
    section: '§8 (events at-least-once); §9',
    level: 'MUST',
    title:
      'a play that ends while the link is a black hole: its finished arrives after the reconnection, in order',
    needs: ['link'],
    timeoutMs: 45_000,
    run: async (ctx) => {
      const clip = await ctx.clip(3000);
      const play = await ctx.play({ clip });
      const from = ctx.seen.mark();
      await ctx.send(ctx.rx.topics.cmd, play);
      await ctx.seen.waitForEvent(play.id, 'started', { from, timeoutMs: 15_000 });
      const startedAt = Date.now();
      const before = currentSession(ctx);
      ctx.link.cut('blackhole');
      ctx.note('link cut (black hole) while it plays: its reports go nowhere, unacknowledged');
      // Nothing to wait for: the receiver is out of sight until the play has ended.
      await sleep(clip.durationMs + 1000 - (Date.now() - startedAt));
      const cutEnd = ctx.seen.mark();
      ctx.link.restore();
      ctx.note(
        `link restored ${Date.now() - startedAt} ms after started (the clip lasts ${clip.durationMs} ms)`,
      );
      await ctx.online({ after: before, timeoutMs: 15_000 });
      const finished = await ctx.seen.waitFor(
        `"finished" for ${play.id} after the reconnection`,
        (m) => m.leaf === 'event' && m.json?.commandId === play.id && m.json.state === 'finished',
        { from: cutEnd, timeoutMs: 10_000 },
      );
      ctx.saw(`finished after the reconnection (message ${finished.n})`);
      const states = ctx.seen
        .events(from)
        .filter((e) => e.commandId === play.id)
        .map((e) => String(e.state));
      ctx.saw(`events: ${states.join(' → ')}`);
      // At-least-once: repeats allowed, order not: each state first seen after the one before
      // (`received` is absent when the audio was cached and it started at once, §7.3 step 1).
      const order = states.includes('received')
        ? ['received', 'started', 'finished']
        : ['started', 'finished'];
      const firsts = order.map((s) => states.indexOf(s));
      check(
        firsts.every((i, k) => i >= 0 && (k === 0 || i > firsts[k - 1]!)),
        `expected ${order.join(' → ')} in that order, got ${states.join(' → ')}`,
      );
      check(finished.json?.sha256 === clip.sha256, 'finished does not carry the sha256 of the audio');
    },
  },
  {
    id: 'link.stop_during_cut',
    failsWith: 'ignore-allstop-on-own-topic',
    section: '§7.4 (confirmation); §8 (stops)',
    level: 'MUST',
    title:
      "the officer's all-stop while its link is down: after reconnecting it cancels the play and confirms",
    needs: ['link'],
    timeoutMs: 60_000,
    run: (ctx) => stopAcrossCut(ctx, 'close'),
  },
  {
    id: 'link.stop_in_blackhole',
    failsWith: 'ignore-allstop-on-own-topic',
    section: '§7.4 (confirmation); §8 (stops)',
    level: 'MUST',
    title: 'an all-stop lost in a black-holed link lands with the resend after the reconnection',
    needs: ['link'],
    timeoutMs: 60_000,
    run: (ctx) => stopAcrossCut(ctx, 'blackhole'),
  },
  {
    id: 'link.credentials_refused',
    failsWith: 'refused-fast-retry',
    section: '§12.6',
    level: 'MUST',
    title:
      'with its credentials revoked it retries no faster than every 60 s, never without credentials, and connects at once with a new bundle',
    needs: ['link', 'restart'],
    timeoutMs: 60_000,
    run: async (ctx) => {
      const path = `/api/receivers/${encodeURIComponent(ctx.rx.id)}/credentials`;
      const before = ctx.session();
      const mark = ctx.link.sent().length;
      const connects = () =>
        ctx.link
          .sent()
          .slice(mark)
          .filter((p) => p.packet.cmd === 'connect');
      const revoked = await ctx.api('DELETE', path);
      check(revoked.status === 204 || revoked.status === 200, `revoking: the API answered ${revoked.status}`);
      const at = Date.now();
      ctx.sent('revoked its credentials (DELETE …/credentials): the broker drops it and refuses its login');
      // Its first attempt after the loss (due within 5 s, §2 Reconnect) is refused…
      const deadline = at + 10_000;
      while (connects().length === 0 && Date.now() < deadline) await sleep(100);
      const first = connects()[0];
      check(first, 'it did not try to reconnect within 10 s of losing its connection (§2 Reconnect)');
      ctx.saw(`its first attempt (refused) about ${Date.now() - at} ms after the revocation`);
      // …and the next must wait 60 s: watch for 12 s (a normal backoff would have tried 3 times).
      const watchMs = 12_000;
      await sleep(watchMs);
      const tries = connects();
      ctx.saw(
        `${tries.length} connection attempt(s) in the ${Math.round((Date.now() - at) / 1000)} s after the revocation`,
      );
      const bare = tries.filter((p) => {
        const c = p.packet as { username?: string; password?: Buffer };
        return !c.username || !c.password;
      });
      check(bare.length === 0, 'it tried to connect without credentials after the refusal (§12.6: MUST NOT)');
      check(
        tries.length <= 1,
        `it tried ${tries.length} times within ${watchMs / 1000} s of its first refused attempt (§12.6: not faster than every 60 s)`,
      );
      // An officer re-issues the credentials; the installer loads the new bundle.
      const issued = await ctx.api<{ provisioning?: ProvisioningBundle }>('POST', path);
      check(issued.status === 200 || issued.status === 201, `re-issuing: the API answered ${issued.status}`);
      const bundle = issued.body.provisioning;
      check(bundle, 're-issuing: the API answered no provisioning bundle');
      ctx.sent('re-issued its credentials and loaded the new bundle');
      await ctx.restartReceiver({ bundle });
      const online = await ctx.online({ after: before, timeoutMs: 15_000 });
      ctx.saw(`online again with the new credentials, session ${String(online.session)}`);
    },
  },
];
