/**
 * §7.4, a stop: it cancels every item with a lower seq — playing (also between two of its plays),
 * queued, waiting to resume or downloading — of its bulletin, or everything without one (a zone stop, the all-stop); each is
 * reported `cancelled` (by = the stop), silence within a second, and then the stop's own
 * `received` confirms it. A play with a higher seq is not touched; a play overtaken by the stop
 * is cancelled when it arrives.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PlayCommand, StopCommand } from '../../contract/mqtt.js';
import type { CaseContext } from '../context.js';
import { type ConformanceCase, check } from '../types.js';
import { firstReport, freshClip, freshPlayable, neverStarted, said, startAudioServer } from './fixtures.js';

/** Sends `play` and waits until it sounds. */
async function sounding(ctx: CaseContext, play: PlayCommand, label: string): Promise<void> {
  const from = ctx.seen.mark();
  await ctx.send(ctx.rx.topics.cmd, play);
  await firstReport(ctx, play.id, ['started'], { from, timeoutMs: 10_000 });
  ctx.saw(`${label} started`);
}

/**
 * Sends `stop` on `topic` and checks what §7.4 asks: each of `victims` reported `cancelled` with
 * by = the stop's id, the first within a second, all before the stop's `received`, which copies
 * its bulletinId. Returns the position of that `received`.
 */
async function stops(
  ctx: CaseContext,
  stop: StopCommand,
  topic: string,
  victims: { cmd: PlayCommand; name: string }[],
): Promise<number> {
  const from = ctx.seen.mark();
  const sentAt = Date.now();
  await ctx.send(topic, stop);
  const confirmed = await firstReport(ctx, stop.id, ['received'], { from, timeoutMs: 5000 });
  const tookMs = Date.now() - sentAt;
  for (const v of victims) {
    const c = ctx.seen
      .all(from)
      .find((m) => m.leaf === 'event' && m.json?.commandId === v.cmd.id && m.json.state === 'cancelled');
    check(
      c && c.n < confirmed.n,
      c
        ? `the stop was confirmed (received) before ${v.name} was reported cancelled`
        : `the stop was confirmed but ${v.name} was not reported cancelled (${ctx.seen.describe(from)})`,
    );
    ctx.saw(`${v.name}: ${said(c.json!)}`);
    check(c.json?.by === stop.id, `${v.name}'s cancelled names by=${String(c.json?.by)}, not the stop`);
  }
  ctx.saw(`stop confirmed (received) ${tookMs} ms after it was sent`);
  if (victims.length)
    check(tookMs <= 1000, `the stop took ${tookMs} ms: silence must follow within a second`);
  if (stop.bulletinId)
    check(
      confirmed.json.bulletinId === stop.bulletinId,
      `the stop's received carries bulletinId ${String(confirmed.json.bulletinId)}, not the stop's`,
    );
  return confirmed.n;
}

export const stopCases: ConformanceCase[] = [
  {
    id: 'stop.bulletin',
    failsWith: 'confirm-before-cancel',
    section: '§7.4',
    level: 'MUST',
    title:
      "a stop of the bulletin playing: cancelled (by = the stop) within a second, then the stop's received",
    run: async (ctx) => {
      const play = await ctx.play({ clip: await ctx.clip(4000) });
      await sounding(ctx, play, 'the bulletin');
      await stops(ctx, ctx.stop({ bulletinId: play.bulletinId }), ctx.rx.topics.cmd, [
        { cmd: play, name: 'the bulletin' },
      ]);
    },
  },
  {
    id: 'stop.in_gap',
    failsWith: 'stop-spares-gap',
    section: '§7.4',
    level: 'MUST',
    title:
      'a stop of a bulletin in the gap between two of its plays (repeat 2, gapMs 1500) cancels it: play 2 never starts',
    run: async (ctx) => {
      const clip = await ctx.clip(800);
      const play = await ctx.play({ clip, repeat: 2, gapMs: 1500 });
      const from = ctx.seen.mark();
      await ctx.send(ctx.rx.topics.cmd, play);
      await firstReport(ctx, play.id, ['started'], { from, timeoutMs: 10_000 });
      const began = Date.now();
      ctx.saw('the bulletin started play 1 (800 ms, then a 1500 ms gap)');
      // Not a wait for something to happen: the stop must come in the gap (0.8–2.3 s after the start).
      await sleep(1500);
      const early = ctx.seen.events(from).find((e) => e.commandId === play.id && e.play === 2);
      if (early)
        ctx.skip(`play 2 had begun 1.5 s after play 1 (${said(early)}): no gap to stop in (see play.repeat)`);
      await stops(ctx, ctx.stop({ bulletinId: play.bulletinId }), ctx.rx.topics.cmd, [
        { cmd: play, name: 'the bulletin (in the gap after play 1)' },
      ]);
      // Not a wait for something to happen: play 2 was due 2.3 s after the start; it must not come.
      await sleep(Math.max(0, began + 800 + 1500 + 700 - Date.now()));
      await ctx.barrier();
      const more = ctx.seen
        .events(from)
        .filter((e) => e.commandId === play.id && e.state === 'started' && e.play !== 1);
      ctx.saw(`after the stop: ${more.length ? more.map(said).join('; ') : 'no further play started'}`);
      check(
        more.length === 0,
        `the bulletin stopped in the gap after play 1 started again (${said(more[0] ?? {})}): a stop ends it, with no further play (§7.4)`,
      );
    },
  },
  {
    id: 'stop.higher_seq',
    failsWith: 'stop-ignores-seq',
    section: '§7.2 seq; §7.4',
    level: 'MUST',
    title: 'a stop cancels only lower seq: a play of its bulletin with a higher seq goes on to finished',
    run: async (ctx) => {
      const clip = await ctx.clip(1000);
      // The stop is issued first (lower seq); the play after it, of the same bulletin.
      const stop = ctx.stop({ bulletinId: randomUUID() });
      const play = await ctx.play({ clip, bulletinId: stop.bulletinId! });
      ctx.note(`stop seq ${stop.seq}, play seq ${play.seq}`);
      await sounding(ctx, play, `the play (seq ${play.seq})`);
      const from = ctx.seen.mark();
      await stops(ctx, stop, ctx.rx.topics.cmd, []);
      const cancelled = ctx.seen.events(from).some((e) => e.commandId === play.id && e.state === 'cancelled');
      check(!cancelled, `the stop (seq ${stop.seq}) cancelled a play with the higher seq ${play.seq}`);
      const fin = await firstReport(ctx, play.id, ['finished', 'cancelled'], { from, timeoutMs: 10_000 });
      ctx.saw(`the play: ${said(fin.json)}`);
      check(fin.json.state === 'finished', `the play ended ${String(fin.json.state)}, not finished`);
    },
  },
  {
    id: 'stop.overtaken_play',
    failsWith: 'forget-stops',
    section: '§7.4',
    level: 'MUST',
    title:
      'a play arriving after a stop with a higher seq (a resend the stop overtook) is reported cancelled, not played',
    run: async (ctx) => {
      const play = await ctx.play({ clip: await ctx.clip(1000) });
      const stop = ctx.stop({ bulletinId: play.bulletinId });
      ctx.note(`play seq ${play.seq}, stop seq ${stop.seq}; the stop is sent first`);
      await stops(ctx, stop, ctx.rx.topics.cmd, []);
      const from = ctx.seen.mark();
      await ctx.send(ctx.rx.topics.cmd, play);
      const first = await firstReport(
        ctx,
        play.id,
        ['cancelled', 'started', 'failed', 'rejected', 'expired'],
        {
          from,
        },
      );
      ctx.saw(`the play: ${said(first.json)}`);
      check(
        first.json.state === 'cancelled',
        `the overtaken play was ${String(first.json.state)}, not cancelled`,
      );
      check(first.json.by === stop.id, `cancelled names by=${String(first.json.by)}, not the stop`);
      await neverStarted(ctx, play.id, from, 'the overtaken play was played after all');
    },
  },
  {
    id: 'stop.all',
    failsWith: 'stop-spares-queue',
    section: '§7.4; §4',
    level: 'MUST',
    title: 'the all-stop on all/cmd cancels everything: the play sounding and the one queued behind it',
    run: async (ctx) => {
      const a = await ctx.play({ clip: await ctx.clip(4000) });
      await sounding(ctx, a, 'play A');
      const b = await ctx.play({ clip: await freshClip(ctx, 600) });
      const from = ctx.seen.mark();
      await ctx.send(ctx.rx.topics.cmd, b);
      // Fresh audio: it is fetched and reported ready, then waits behind A.
      await firstReport(ctx, b.id, ['ready'], { from, timeoutMs: 10_000 });
      ctx.saw('play B ready, queued behind A');
      await stops(ctx, ctx.stop(), ctx.rx.topics.allCmd, [
        { cmd: a, name: 'play A (sounding)' },
        { cmd: b, name: 'play B (queued)' },
      ]);
    },
  },
  {
    id: 'stop.zone',
    failsWith: 'ignore-zone-topic',
    section: '§7.4; §4',
    level: 'MUST',
    title: 'a zone stop on zone/<z>/cmd cancels the play sounding and is confirmed',
    run: async (ctx) => {
      const a = await ctx.play({ clip: await ctx.clip(4000) });
      await sounding(ctx, a, 'the play');
      await stops(ctx, ctx.stop(), ctx.rx.topics.zoneCmd, [{ cmd: a, name: 'the play' }]);
    },
  },
  {
    id: 'stop.interrupted',
    failsWith: 'stop-spares-interrupted',
    section: '§7.4; §7.3 step 4',
    level: 'MUST',
    title: 'a stop of a bulletin waiting to resume (preempted) cancels it: it never sounds again',
    timeoutMs: 25_000,
    run: async (ctx) => {
      const n = await ctx.play({ clip: await ctx.clip(4000) });
      await sounding(ctx, n, 'the normal');
      const e = await ctx.play({ clip: await ctx.clip(1500), priority: 'emergency' });
      const from = ctx.seen.mark();
      await ctx.send(ctx.rx.topics.cmd, e);
      const pre = await firstReport(ctx, n.id, ['preempted', 'finished'], { from, timeoutMs: 10_000 });
      ctx.saw(`the normal: ${said(pre.json)}`);
      if (pre.json.state !== 'preempted' || pre.json.resumes !== true)
        ctx.skip(
          'the normal was not held to resume (see priority.preempt, resume.basic): nothing waits to resume',
        );
      await firstReport(ctx, e.id, ['started'], { from, timeoutMs: 10_000 });
      await stops(ctx, ctx.stop({ bulletinId: n.bulletinId }), ctx.rx.topics.cmd, [
        { cmd: n, name: 'the normal (waiting to resume)' },
      ]);
      const done = await firstReport(ctx, e.id, ['finished'], { from, timeoutMs: 10_000 });
      ctx.saw('the emergency finished');
      await ctx.barrier();
      const again = ctx.seen
        .all(done.n)
        .some((m) => m.json?.commandId === n.id && m.json.state === 'started');
      check(!again, 'the stopped normal resumed after the emergency');
    },
  },
  {
    id: 'stop.download',
    failsWith: 'stop-spares-download',
    section: '§7.4',
    level: 'MUST',
    title: 'a stop during the download cancels it and closes the connection',
    run: async (ctx) => {
      const server = await startAudioServer();
      try {
        const audio = await freshPlayable(ctx, 800);
        const { bytes } = audio;
        // Half the bytes, then nothing: the download is in progress until someone gives up.
        const { ref, first } = server.route(audio, (_n, res) => {
          res.writeHead(200, { 'content-type': audio.mime, 'content-length': bytes.length });
          res.write(bytes.subarray(0, bytes.length >> 1));
        });
        const play = await ctx.play({ audio: ref });
        const from = ctx.seen.mark();
        await ctx.send(ctx.rx.topics.cmd, play);
        await firstReport(ctx, play.id, ['downloading'], { from, timeoutMs: 10_000 });
        const hit = await Promise.race([first, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
        check(hit, 'it reported downloading but did not ask for the audio URL within 5 s');
        ctx.saw(`downloading; the kit's server sent half the bytes and holds the rest`);
        await stops(ctx, ctx.stop({ bulletinId: play.bulletinId }), ctx.rx.topics.cmd, [
          { cmd: play, name: 'the download' },
        ]);
        const closed = await Promise.race([
          hit.abandoned.then(() => true),
          new Promise<false>((r) => setTimeout(() => r(false), 2000)),
        ]);
        ctx.saw(closed ? 'it closed the download connection' : 'the download connection stayed open');
        check(
          closed,
          'the download connection was still open 2 s after the stop: a stopped download is aborted',
        );
      } finally {
        await server.close();
      }
    },
  },
];
