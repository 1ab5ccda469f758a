/**
 * §14, time synchronisation: the receiver asks the controller's time in a burst after each
 * (re)connection, and takes only replies that verify — a forged clock would move every airing at
 * once. Its accuracy shows in the airing start instants (schedule.on_time).
 *
 * The kit's listener on the receiver's time topic runs before the controller's own responder, so
 * a reply the kit publishes there reaches the receiver before the genuine one. Every reply the
 * receiver must ignore claims the controller's clock 10 s ahead: taken, it moves the airing that
 * each case then plans, which must still start on time.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type TimeRequest, timeRequestSchema } from '../../contract/schedule.js';
import type { CaseContext, Seal } from '../context.js';
import type { Seen } from '../observer.js';
import { CaseFailed, type ConformanceCase, check } from '../types.js';
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

/** Waits until the burst since `from` is over (no request for `quietMs`, or `maxMs`): its requests. */
async function burstEnd(ctx: CaseContext, from: number, maxMs = 7000, quietMs = 400): Promise<Seen[]> {
  let last = (await requests(ctx, from, 1, 5000))[0]!;
  const deadline = Date.now() + maxMs;
  // Each request restarts the wait; none for quietMs ends it.
  while (Date.now() < deadline) {
    const next = await ctx.seen
      .waitFor('the next time request', (m) => m.leaf === 'time', { from: last.n + 1, timeoutMs: quietMs })
      .catch(() => null);
    if (!next) break;
    last = next;
  }
  return ctx.seen.all(from).filter((m) => m.leaf === 'time');
}

/** Calls `fn` with each time request of the receiver, before the controller answers it. */
function onRequest(ctx: CaseContext, fn: (req: TimeRequest) => void): () => void {
  return ctx.controller.wire.onReceiverMessage((topic, payload) => {
    if (topic !== ctx.rx.topics.time) return;
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      return;
    }
    const req = timeRequestSchema.safeParse(json);
    if (req.success) fn(req.data);
  });
}

/** Publishes a TimeReply body on the receiver's clock topic (QoS 0, §14.1), sealed as `how` says. */
function reply(
  ctx: CaseContext,
  body: { id: string; t1: number; t2: number; t3: number },
  how: Seal = 'signed',
): void {
  const text = ctx.seal(ctx.rx.topics.clock, { v: 1, type: 'time', ...body }, how);
  void ctx.controller.wire
    .publish(ctx.rx.topics.clock, text, { qos: 0, retain: false })
    .catch(() => undefined);
}

/** The timestamps of a reply claiming the controller's clock 10 s ahead of the request's `t1`. */
const tenAhead = (t1: number) => ({ t2: t1 + 10_000, t3: t1 + 10_000.5 });

/** A fresh nonce the receiver never sent (the form of its own, §14.1). */
const unknownNonce = () => randomBytes(8).toString('hex');

/**
 * How far from its instant an airing may start here: these cases judge whether a reply claiming
 * +10 s moved the clock (taken, it moves the start by seconds), not the start's accuracy, which is
 * schedule.on_time's (±50 ms) — so a timer a few ms later than that on a loaded machine is no failure.
 */
const NOT_MOVED_MS = 250;

/**
 * An airing 3.5 s ahead starts at its instant: the receiver's clock is still the controller's,
 * none of the replies claiming +10 s moved it (`step`: the clause that refuses them).
 */
async function airsOnTime(ctx: CaseContext, step: string): Promise<void> {
  const clip = await ctx.clip(1200);
  const a = await programAiring(ctx, { clips: [clip], at: (now) => now + 3500 });
  try {
    await checkStart(ctx, a, { arrivalMs: 250, atMs: NOT_MOVED_MS });
  } catch (err) {
    if (!(err instanceof CaseFailed)) throw err;
    throw new CaseFailed(
      `an airing planned 3.5 s ahead did not start at its instant, as when a receiver takes one of the replies claiming the controller's clock 10 s ahead (${step}: ignored): ${err.message}`,
    );
  } finally {
    await a.remove();
  }
}

/** Requests a burst sends at most (§14.5), and the controller answers at once (then 2 a second). */
const MAX_BURST = 48;

/** A burst since `from`: its requests, and how many of them the kit's controller answered. */
interface BurstSeen {
  reqs: Seen[];
  answered: number;
}

/** Reconnects the receiver and waits for its burst to end: what it sent, what the controller answered. */
async function burstAfterReconnect(ctx: CaseContext): Promise<BurstSeen> {
  const before = ctx.controller.timeSync.stats().answered;
  const from = await reconnect(ctx);
  const reqs = await burstEnd(ctx, from);
  return { reqs, answered: ctx.controller.timeSync.stats().answered - before };
}

/**
 * A clean burst first (a reconnection, the controller alone answering): whether this receiver
 * stops early on this link, once its bound is 10 ms (§14.5), and after how many requests.
 */
async function cleanBurst(ctx: CaseContext): Promise<BurstSeen> {
  const clean = await burstAfterReconnect(ctx);
  ctx.saw(
    `a clean burst first (no reply of the kit's): ${clean.reqs.length} requests, ${clean.answered} answered by the controller`,
  );
  return clean;
}

/**
 * The burst with the kit's replies got the genuine answers that followed them (with the same
 * nonces): judged against the clean burst. A receiver that stopped early there but, answered as
 * much, runs to 48 requests now took none of those answers; one whose clean burst already ran to
 * 48 (its bound stays above 10 ms on this link) shows nothing by its burst length.
 */
function checkAnswered(ctx: CaseContext, clean: BurstSeen, burst: BurstSeen, step: string): void {
  const n0 = clean.reqs.length;
  const n1 = burst.reqs.length;
  ctx.saw(
    `the burst with the kit's replies: ${n1} requests, ${burst.answered} answered by the controller after the kit's reply`,
  );
  if (n0 >= MAX_BURST) {
    ctx.note(
      `its clean burst already ran to ${n0} requests (its bound stayed above 10 ms, §14.5), so whether a reply it ignores leaves its request open (${step}) cannot be seen from its burst length on this receiver: not judged; the airing below still is`,
    );
    return;
  }
  if (n1 >= MAX_BURST && burst.answered < clean.answered) {
    ctx.note(
      `the controller answered only ${burst.answered} of its requests (its rate limit, §14.5), fewer than the ${clean.answered} its clean burst needed: that it ran to ${n1} requests is not judged; the airing below still is`,
    );
    return;
  }
  check(
    n1 < MAX_BURST,
    `its burst ran to ${n1} requests, where its clean burst just before stopped after ${n0}: it took none of the ${burst.answered} genuine answers that followed the kit's replies with the same nonces (${step}: a reply it ignores leaves its request open; §14.5: a burst stops once its bound is 10 ms)`,
  );
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
      const other = ctx.controller.wire.topics.receiverClock('kit-other-rx');
      let forged = 0;
      // Each request is answered first by the kit with a forgery whose clock is 10 s ahead; the
      // genuine reply follows.
      const off = onRequest(ctx, ({ id, t1 }) => {
        const how = FORGERIES[forged++ % FORGERIES.length]!;
        reply(ctx, { id, t1, ...tenAhead(t1) }, how === 'other-receiver' ? { wrongTopic: other } : how);
      });
      try {
        const from = await reconnect(ctx);
        await requests(ctx, from, 8, 5000);
        await burstEnd(ctx, from);
        ctx.sent(
          `${forged} forged replies (${FORGERIES.join(', ')} in turn), each claiming the controller's clock 10 s ahead, before the genuine reply`,
        );
        await airsOnTime(ctx, '§14.2 step 1');
      } finally {
        off();
      }
    },
  },
  {
    id: 'time.nonce_once',
    failsWith: 'time-any-nonce',
    needs: ['link'],
    section: '§14.2 step 3',
    level: 'MUST',
    title:
      'genuinely signed replies claiming +10 s for a nonce already answered (a replay) or never sent are ignored: an airing still starts on time',
    timeoutMs: 30_000,
    run: async (ctx) => {
      const answered: TimeRequest[] = [];
      let replayed = 0;
      let unknown = 0;
      const off = onRequest(ctx, (req) => {
        // Before the genuine answer: a nonce it never sent, with this request's t1.
        reply(ctx, { id: unknownNonce(), t1: req.t1, ...tenAhead(req.t1) });
        unknown++;
        // After the genuine answer (published as this listener returns): the same nonce again.
        setTimeout(() => {
          reply(ctx, { id: req.id, t1: req.t1, ...tenAhead(req.t1) });
          replayed++;
        }, 30);
        answered.push(req);
      });
      try {
        const from = await reconnect(ctx);
        await burstEnd(ctx, from);
        // The burst is over; its last nonces again, their t1 still well within the reply deadline
        // (step 5), so that only the nonce rule refuses them.
        const last = answered.slice(-3);
        for (const r of last) reply(ctx, { id: r.id, t1: r.t1, ...tenAhead(r.t1) });
        const t1 = last.at(-1)?.t1 ?? Date.now();
        reply(ctx, { id: unknownNonce(), t1, ...tenAhead(t1) });
        replayed += last.length;
        unknown++;
        await sleep(300);
        ctx.sent(
          `${replayed} replays of nonces the controller had answered (each 30 ms after its answer, and the burst's last ${last.length} again after it ended) and ${unknown} replies for nonces it never sent, all genuinely signed, each claiming the controller's clock 10 s ahead`,
        );
        await airsOnTime(ctx, '§14.2 step 3');
      } finally {
        off();
      }
    },
  },
  {
    id: 'time.t1_echo',
    failsWith: 'time-ignore-t1',
    needs: ['link'],
    section: '§14.2 step 4',
    level: 'MUST',
    title:
      'a genuinely signed reply with its nonce but not its t1 (t1 + 0.5 ms, t1 − 10 s) claiming +10 s is ignored: an airing starts on time, and where its clean burst stops early, the genuine answer after the reply is still taken',
    timeoutMs: 30_000,
    run: async (ctx) => {
      const clean = await cleanBurst(ctx);
      let n = 0;
      // Before each genuine answer, the same nonce with a t1 that is not the request's.
      const off = onRequest(ctx, (req) => {
        const t1 = n++ % 2 === 0 ? req.t1 + 0.5 : req.t1 - 10_000;
        reply(ctx, { id: req.id, t1, ...tenAhead(req.t1) });
      });
      try {
        const burst = await burstAfterReconnect(ctx);
        ctx.sent(
          `${n} genuinely signed replies with the request's nonce and t1 + 0.5 ms or t1 − 10 s in turn, each claiming the controller's clock 10 s ahead, before the genuine answer`,
        );
        checkAnswered(ctx, clean, burst, '§14.2 step 4');
        await airsOnTime(ctx, '§14.2 step 4');
      } finally {
        off();
      }
    },
  },
  {
    id: 'time.late_reply',
    failsWith: 'time-accept-late',
    needs: ['link'],
    section: '§14.2 step 5',
    level: 'MUST',
    title:
      'a genuinely signed reply with the right nonce and t1 arriving 4 s after its request, claiming +10 s, is ignored: an airing still starts on time',
    timeoutMs: 30_000,
    run: async (ctx) => {
      const LATE_MS = 4000;
      const held: (TimeRequest & { seenAt: number })[] = [];
      // The controller's answers to the first requests are lost on the way down (the link stays
      // up): the kit answers those requests itself, late.
      const drop = ctx.link.dropPublishes(ctx.rx.topics.clock);
      const off = onRequest(ctx, (req) => {
        if (held.length < 3) held.push({ ...req, seenAt: Date.now() });
      });
      try {
        const from = await reconnect(ctx);
        const until = Date.now() + 3000;
        while (drop.dropped() < held.length || held.length < 3) {
          if (Date.now() > until) break;
          await sleep(10);
        }
        drop.stop();
        ctx.note(
          `the controller's answers to its first ${drop.dropped()} requests were dropped on their way to it (the link proxy); the later ones reached it`,
        );
        await burstEnd(ctx, from);
        for (const r of held) {
          await sleep(r.seenAt + LATE_MS - Date.now());
          // As if the controller had held the request that long: the round-trip delay the
          // receiver computes is the network's (step 6 holds), only the arrival is late.
          const t2 = r.t1 + 10_000;
          reply(ctx, { id: r.id, t1: r.t1, t2, t3: t2 + Math.max(0, Date.now() - r.seenAt - 5) });
        }
        ctx.sent(
          `${held.length} genuinely signed replies with the nonce and t1 of a request whose answer was dropped, each ${LATE_MS} ms after its request, claiming the controller's clock 10 s ahead`,
        );
        await sleep(300);
        await airsOnTime(ctx, '§14.2 step 5');
      } finally {
        drop.stop();
        off();
      }
    },
  },
  {
    id: 'time.impossible',
    failsWith: 'time-impossible-timestamps',
    needs: ['link'],
    section: '§14.2 step 6',
    level: 'MUST',
    title:
      'genuinely signed replies with its nonce and t1 but impossible timestamps (a negative delay; t3 < t2) claiming +10 s are ignored: an airing starts on time, and where its clean burst stops early, the genuine answer after them is still taken',
    timeoutMs: 30_000,
    run: async (ctx) => {
      const clean = await cleanBurst(ctx);
      let n = 0;
      // Before each genuine answer, two replies with the request's nonce and t1, both claiming
      // about +10 s: the controller held the request a second but the round trip was shorter
      // (delay < 0), then t3 before t2.
      const off = onRequest(ctx, (req) => {
        reply(ctx, { id: req.id, t1: req.t1, t2: req.t1 + 9500, t3: req.t1 + 10_500 });
        reply(ctx, { id: req.id, t1: req.t1, t2: req.t1 + 10_001, t3: req.t1 + 10_000 });
        n++;
      });
      try {
        const burst = await burstAfterReconnect(ctx);
        ctx.sent(
          `before each of ${n} genuine answers, two genuinely signed replies with its nonce and t1 claiming the controller's clock about 10 s ahead: t3 − t2 = 1 s (more than the round trip: a negative delay), and t3 = t2 − 1 ms`,
        );
        checkAnswered(ctx, clean, burst, '§14.2 step 6');
        await airsOnTime(ctx, '§14.2 step 6');
      } finally {
        off();
      }
    },
  },
];
