/**
 * §2 and §4, read off the wire: the MQTT packets the receiver sent through the kit's link proxy
 * (proxy.ts) — its CONNECT, what it subscribed to, where and how it published — whatever the
 * broker. `wire.connect` runs first; `wire.subscriptions` and `wire.publishes` run last, over
 * everything the receiver sent during the whole run.
 */
import type { Packet } from 'mqtt-packet';
import type { CaseContext } from '../context.js';
import { type ConformanceCase, check } from '../types.js';

const packets = (ctx: CaseContext) => ctx.link.sent();

/** Zones the receiver may hear: those the kit's controller has (the receiver may have been moved). */
async function zoneTopics(ctx: CaseContext): Promise<Set<string>> {
  const zones = await ctx.api<{ items: { id: string }[] }>('GET', '/api/zones');
  return new Set(zones.body.items.map((z) => ctx.controller.wire.topics.zoneCommand(z.id)));
}

export const wireFirstCases: ConformanceCase[] = [
  {
    id: 'wire.connect',
    failsWith: 'will-not-retained',
    section: '§2 (Connection)',
    level: 'MUST',
    title:
      'it connects with client id = username = its id, a clean session, keep-alive ≤ 300 s, and a retained QoS 1 last will "offline" on its status topic',
    run: async (ctx) => {
      const connects = packets(ctx).filter((p) => p.packet.cmd === 'connect');
      check(connects.length > 0, 'no CONNECT seen through the link proxy');
      for (const { packet, connection } of connects) {
        const c = packet as Extract<Packet, { cmd: 'connect' }>;
        const will = c.will;
        ctx.saw(
          `connection ${connection}: CONNECT v${c.protocolVersion} client id ${c.clientId}, username ${c.username}, ` +
            `clean ${c.clean}, keep-alive ${c.keepalive} s, will ${will ? `${will.topic} QoS ${will.qos} retain ${will.retain}` : 'none'}`,
        );
        check(c.protocolVersion === 4 || c.protocolVersion === 5, `MQTT protocol level ${c.protocolVersion}`);
        check(c.clientId === ctx.rx.id, `client id ${c.clientId} is not the receiver id ${ctx.rx.id}`);
        check(c.username === ctx.rx.id, `username ${c.username} is not the receiver id`);
        check(c.clean === true, 'clean session is not true');
        const keepalive = c.keepalive ?? 0;
        check(keepalive > 0 && keepalive <= 300, `keep-alive ${keepalive} s is outside 1–300 s`);
        check(will, 'no last will');
        check(
          will.topic === ctx.rx.topics.status,
          `the last will goes to ${will.topic}, not its status topic`,
        );
        check(will.qos === 1, `the last will is QoS ${will.qos}, not 1`);
        check(will.retain === true, 'the last will is not retained');
        let body: { state?: unknown; session?: unknown } = {};
        try {
          body = JSON.parse(Buffer.from(will.payload as Buffer).toString('utf8')) as typeof body;
        } catch {
          check(false, 'the last will is not JSON');
        }
        check(body.state === 'offline', `the last will says state ${String(body.state)}, not offline`);
        check(Number.isInteger(body.session), 'the last will carries no integer session');
      }
    },
  },
];

export const wireLastCases: ConformanceCase[] = [
  {
    id: 'wire.subscriptions',
    failsWith: 'subscribe-beyond-own',
    section: '§4 (Topics; broker access rules); §2 step 2',
    level: 'MUST',
    title:
      'over the whole run it subscribed (QoS 1, no wildcards) only to its own topics, its zone and all/cmd',
    run: async (ctx) => {
      const r = ctx.rx.topics;
      const allowed = new Set([r.cmd, r.config, r.schedule, r.clock, r.allCmd, ...(await zoneTopics(ctx))]);
      const subs = packets(ctx).flatMap((p) =>
        p.packet.cmd === 'subscribe' ? p.packet.subscriptions.map((s) => ({ ...s, at: p.atMs })) : [],
      );
      check(subs.length > 0, 'no SUBSCRIBE seen through the link proxy');
      ctx.saw(`${subs.length} subscriptions: ${[...new Set(subs.map((s) => s.topic))].join(', ')}`);
      const beyond = subs.filter((s) => !allowed.has(s.topic));
      check(beyond.length === 0, `it subscribed beyond its topics: ${beyond.map((s) => s.topic).join(', ')}`);
      const low = subs.filter((s) => s.qos !== 1);
      check(
        low.length === 0,
        `subscriptions not at QoS 1: ${low.map((s) => `${s.topic} (${s.qos})`).join(', ')}`,
      );
    },
  },
  {
    id: 'wire.publishes',
    failsWith: 'status-qos0',
    section: '§4 (Topics); §5; §9; §13.1; §14.1',
    level: 'MUST',
    title:
      'over the whole run it published only on its own status (retained, QoS 1), event and airing (QoS 1, not retained) and time (not retained) topics',
    run: async (ctx) => {
      const r = ctx.rx.topics;
      const pubs = packets(ctx).flatMap((p) => (p.packet.cmd === 'publish' ? [p.packet] : []));
      const by = new Map<string, number>();
      for (const p of pubs) by.set(p.topic, (by.get(p.topic) ?? 0) + 1);
      ctx.saw(`publishes: ${[...by].map(([t, n]) => `${t} ×${n}`).join(', ')}`);
      const own = new Set([r.status, r.event, r.airing, r.time]);
      const elsewhere = pubs.filter((p) => !own.has(p.topic));
      check(
        elsewhere.length === 0,
        `it published elsewhere: ${[...new Set(elsewhere.map((p) => p.topic))].join(', ')}`,
      );
      for (const p of pubs) {
        if (p.topic === r.status) {
          check(p.retain, 'a status was published without the retain flag');
          check(p.qos === 1, `a status was published at QoS ${p.qos}, not 1`);
        } else {
          check(!p.retain, `a message on ${p.topic} was retained`);
          if (p.topic !== r.time)
            check(p.qos === 1, `a message on ${p.topic} was published at QoS ${p.qos}, not 1`);
        }
      }
    },
  },
];
