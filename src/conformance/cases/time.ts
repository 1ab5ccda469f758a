/**
 * §14, time synchronisation: the receiver asks the controller's time in a burst after each
 * (re)connection, and takes only replies that verify — a forged clock would move every airing at
 * once. Its accuracy shows in the airing start instants (schedule.on_time).
 */
import { timeRequestSchema } from '../../contract/schedule.js';
import type { CaseContext, Seal } from '../context.js';
import type { Seen } from '../observer.js';
import { type ConformanceCase, check } from '../types.js';
import { checkStart, programAiring } from './schedule.js';

/** Cuts the link (closed) and restores it: resolves once the receiver is online again. */
async function reconnect(ctx: CaseContext): Promise<number> {
  const session = ctx.session();
  ctx.link.cut('close');
  ctx.link.restore();
  ctx.note('link closed and restored: the receiver reconnects');
  await ctx.online({ after: session, timeoutMs: 15_000 });
  const online = [...ctx.seen.all()].reverse().find((m) => m.leaf === 'status' && m.json?.state === 'online');
  return online ? online.n : ctx.seen.mark();
}

/** The first `count` time requests since `from`. */
async function requests(ctx: CaseContext, from: number, count: number, timeoutMs: number): Promise<Seen[]> {
  let n = 0;
  await ctx.seen.waitFor(`${count} time requests`, (m) => m.leaf === 'time' && ++n >= count, {
    from,
    timeoutMs,
  });
  return ctx.seen
    .all(from)
    .filter((m) => m.leaf === 'time')
    .slice(0, count);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** How each forged reply is made, in turn: none of them verifies (§14.2 step 1). */
const FORGERIES: (Seal | 'other-receiver')[] = ['unknown_key', 'bad_signature', 'unsigned', 'other-receiver'];

export const timeCases: ConformanceCase[] = [
  {
    id: 'time.burst',
    failsWith: 'no-time-sync',
    needs: ['link'],
    section: '§14.1, §14.5',
    level: 'MUST',
    title:
      'after a reconnection it sends a burst of ≥ 8 time requests, 50–100 ms apart, each with a fresh nonce',
    run: async (ctx) => {
      const from = await reconnect(ctx);
      const onlineAt = ctx.seen.all(from)[0]?.atMs ?? 0;
      const first = await ctx.seen
        .waitFor('a time request after the reconnection', (m) => m.leaf === 'time', { from, timeoutMs: 3000 })
        .catch(() => {
          check(
            false,
            'no time request within 3 s of its online status (§14.5: sync right after each connection)',
          );
        });
      ctx.saw(`first time request ${first!.atMs - onlineAt} ms after its online status`);
      const reqs = await requests(ctx, from, 8, 5000);
      const bad = reqs.filter((m) => !timeRequestSchema.safeParse(m.json).success);
      check(bad.length === 0, `time request out of contract (§14.1): ${bad[0]?.text.slice(0, 200)}`);
      const ids = new Set(reqs.map((m) => String(m.json?.id)));
      check(ids.size === reqs.length, 'two requests of the burst share a nonce (§14.1: a fresh nonce each)');
      const gaps = reqs.slice(1).map((m, i) => m.atMs - reqs[i]!.atMs);
      ctx.saw(`gaps between the first 8 requests as they arrived: ${gaps.join(', ')} ms`);
      // Arrival times: a little jitter on loopback either way.
      check(Math.min(...gaps) >= 30, `two requests came ${Math.min(...gaps)} ms apart (§14.5: 50–100 ms)`);
      const med = median(gaps);
      check(med >= 45 && med <= 115, `the requests came a median ${med} ms apart (§14.5: 50–100 ms)`);
    },
  },
  {
    id: 'time.forged_reply',
    failsWith: 'accept-forged-clock',
    needs: ['link'],
    section: '§14.2 step 1',
    level: 'MUST',
    title:
      'replies that do not verify (unknown key, bad signature, unsigned, sealed for another receiver) claiming +10 s are ignored: an airing still starts on time',
    timeoutMs: 30_000,
    run: async (ctx) => {
      const wire = ctx.controller.wire;
      const other = wire.topics.receiverClock('kit-other-rx');
      let forged = 0;
      // Each request is answered first by the kit (its listener runs before the controller's
      // responder), with a forgery whose clock is 10 s ahead; the genuine reply follows.
      const off = wire.onReceiverMessage((topic, payload) => {
        if (topic !== ctx.rx.topics.time) return;
        const req = timeRequestSchema.safeParse(JSON.parse(payload.toString('utf8')));
        if (!req.success) return;
        const { id, t1 } = req.data;
        const body = { v: 1, type: 'time', id, t1, t2: t1 + 10_000, t3: t1 + 10_000.5 };
        const how = FORGERIES[forged++ % FORGERIES.length]!;
        const text =
          how === 'other-receiver'
            ? ctx.seal(ctx.rx.topics.clock, body, { wrongTopic: other })
            : ctx.seal(ctx.rx.topics.clock, body, how);
        void wire.publish(ctx.rx.topics.clock, text, { qos: 0, retain: false }).catch(() => undefined);
      });
      try {
        const from = await reconnect(ctx);
        await requests(ctx, from, 8, 5000);
        // The burst ends within a few requests and the reply timeout; leave it that long.
        await new Promise((r) => setTimeout(r, 500));
        ctx.sent(
          `${forged} forged replies (${FORGERIES.join(', ')} in turn), each claiming the controller's clock 10 s ahead, before the genuine reply`,
        );
        const clip = await ctx.clip(1200);
        const a = await programAiring(ctx, { clips: [clip], at: (now) => now + 3500 });
        try {
          await checkStart(ctx, a, { arrivalMs: 250 });
        } finally {
          await a.remove();
        }
      } finally {
        off();
      }
    },
  },
];
