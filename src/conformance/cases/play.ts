/**
 * §7.3, a play command: acknowledged, fetched with the receiver's credentials and checked, played
 * `repeat` times, finished with the sha256 of the bytes played.
 */
import { type ConformanceCase, check } from '../types.js';

export const playCases: ConformanceCase[] = [
  {
    id: 'play.basic',
    failsWith: 'skip-received',
    section: '§7.3 steps 1–2, 5; §9',
    level: 'MUST',
    title: 'a play is reported received → downloading → ready → started → finished with the sha256 played',
    run: async (ctx) => {
      const clip = await ctx.clip(1300);
      const play = await ctx.play({ clip });
      const from = ctx.seen.mark();
      await ctx.send(ctx.rx.topics.cmd, play);
      const finished = await ctx.seen.waitForEvent(play.id, 'finished', { from, timeoutMs: 15_000 });
      const states = ctx.seen
        .events(from)
        .filter((e) => e.commandId === play.id)
        .map((e) => String(e.state));
      ctx.saw(`events: ${states.join(' → ')}`);
      const order = ['received', 'downloading', 'ready', 'started', 'finished'];
      check(
        JSON.stringify(states) === JSON.stringify(order),
        `expected ${order.join(' → ')} (the audio was not cached), got ${states.join(' → ')}`,
      );
      check(
        finished.sha256 === clip.sha256,
        `finished carries sha256 ${String(finished.sha256)}, not the audio's ${clip.sha256}`,
      );
    },
  },
  {
    id: 'play.repeat',
    failsWith: 'ignore-gap',
    section: '§7.3 step 5',
    level: 'MUST',
    title: 'repeat 2 with a gap: started play 1, started play 2 after the gap, then one finished',
    run: async (ctx) => {
      const clip = await ctx.clip(1300);
      const play = await ctx.play({ clip, repeat: 2, gapMs: 700 });
      const from = ctx.seen.mark();
      await ctx.send(ctx.rx.topics.cmd, play);
      await ctx.seen.waitForEvent(play.id, 'finished', { from, timeoutMs: 20_000 });
      const mine = ctx.seen.all(from).filter((m) => m.leaf === 'event' && m.json?.commandId === play.id);
      const starts = mine.filter((m) => m.json?.state === 'started');
      ctx.saw(`started plays: ${starts.map((m) => `${String(m.json?.play)} at ${m.atMs} ms`).join(', ')}`);
      check(
        starts.map((m) => m.json?.play).join(',') === '1,2',
        `expected started play 1 then play 2, got ${starts.map((m) => String(m.json?.play)).join(',') || 'none'}`,
      );
      const apart = starts[1]!.atMs - starts[0]!.atMs;
      check(
        apart >= clip.durationMs + 700 - 250,
        `play 2 began ${apart} ms after play 1: less than the audio (${clip.durationMs} ms) and the gap (700 ms)`,
      );
      check(
        mine.filter((m) => m.json?.state === 'finished').length === 1,
        'expected exactly one finished, after the last play',
      );
    },
  },
  {
    id: 'play.cached',
    failsWith: 'redownload-cached',
    section: '§7.3 step 1',
    level: 'SHOULD',
    title: 'audio already cached: no download, the first report is started',
    run: async (ctx) => {
      const clip = await ctx.clip(1300);
      // The clip was fetched by an earlier case, or by this one.
      const warm = await ctx.play({ clip });
      let from = ctx.seen.mark();
      await ctx.send(ctx.rx.topics.cmd, warm);
      await ctx.seen.waitForEvent(warm.id, 'finished', { from, timeoutMs: 15_000 });
      const play = await ctx.play({ clip });
      from = ctx.seen.mark();
      await ctx.send(ctx.rx.topics.cmd, play);
      await ctx.seen.waitForEvent(play.id, 'finished', { from, timeoutMs: 15_000 });
      const states = ctx.seen
        .events(from)
        .filter((e) => e.commandId === play.id)
        .map((e) => String(e.state));
      ctx.saw(`events: ${states.join(' → ')}`);
      check(!states.includes('downloading'), 'it downloaded audio it had already verified and cached');
      check(states[0] === 'started', `its first report was ${states[0]}, not started`);
    },
  },
];
