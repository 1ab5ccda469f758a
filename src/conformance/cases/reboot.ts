/**
 * What a receiver keeps across a power cycle (the kit restarts it: only when it launched it):
 * its session keeps growing (§5), its replay memory (§7.1) and the seq of the config it applied
 * (§6) are in non-volatile storage, so a reboot reopens no replay window and an older config
 * cannot take over; so are its schedule document and the airings it started (§13.12), so a box
 * that boots without network still airs the day, and an airing cut by a power loss never airs twice.
 */
import { randomUUID } from 'node:crypto';
import { seal } from '../../contract/signing.js';
import { type ConformanceCase, check } from '../types.js';
import { hears, untilHeard } from './link.js';
import { airedAcrossCut, line, programAiring, reportsOf, sleepUntil, waitAiring } from './schedule.js';

export const rebootCases: ConformanceCase[] = [
  {
    id: 'reboot.session',
    failsWith: 'session-resets-at-boot',
    section: '§5 (session); §2 step 1',
    level: 'MUST',
    title: 'after a power cycle its session is greater than any before',
    needs: ['restart'],
    timeoutMs: 40_000,
    run: async (ctx) => {
      const before = ctx.session();
      check(before !== null, 'no online status seen yet');
      const from = ctx.seen.mark();
      await ctx.restartReceiver();
      const m = await ctx.seen.waitFor(
        'an "online" status after the restart',
        (x) => x.leaf === 'status' && x.json?.state === 'online',
        { from, timeoutMs: 20_000 },
      );
      ctx.saw(`online with session ${String(m.json?.session)} (before the restart: ${before})`);
      check(
        typeof m.json?.session === 'number' && m.json.session > before,
        `its session after the restart (${String(m.json?.session)}) is not greater than before (${before})`,
      );
    },
  },
  {
    id: 'reboot.replay_memory',
    failsWith: 'volatile-replay-memory',
    section: '§7.1 (replay memory, non-volatile)',
    level: 'MUST',
    title: 'a command it acted on before a power cycle is refused rejected/replayed after it',
    needs: ['restart'],
    timeoutMs: 40_000,
    run: async (ctx) => {
      const stop = ctx.stop({ bulletinId: randomUUID() });
      let from = ctx.seen.mark();
      await ctx.send(ctx.rx.topics.cmd, stop);
      await ctx.seen.waitForEvent(stop.id, 'received', { from });
      ctx.saw('applied the command before the restart');
      const before = ctx.session();
      await ctx.restartReceiver();
      await ctx.online({ after: before });
      from = ctx.seen.mark();
      await ctx.send(ctx.rx.topics.cmd, stop);
      const first = await ctx.seen.waitFor(
        `its report on ${stop.id} after the restart`,
        (m) => m.leaf === 'event' && m.json?.commandId === stop.id,
        { from },
      );
      ctx.saw(
        `after the restart: ${String(first.json?.state)}${first.json?.reason ? `/${String(first.json.reason)}` : ''}`,
      );
      check(
        first.json?.state === 'rejected' && first.json.reason === 'replayed',
        `the same command after a restart was answered ${String(first.json?.state)}, not rejected/replayed: the reboot reopened the replay window`,
      );
    },
  },
  {
    id: 'reboot.config_seq',
    failsWith: 'volatile-config-seq',
    section: '§6 (seq kept across reboots)',
    level: 'MUST',
    title: 'after a power cycle an older config (lower seq, genuinely signed) waiting retained is ignored',
    needs: ['restart'],
    timeoutMs: 60_000,
    run: async (ctx) => {
      const t = ctx.rx.topics;
      // A config it applies now (a rename republishes it) with a seq well above 1; the barrier
      // comes after it on the same connection, so once confirmed, the config has arrived.
      ctx.controller.wire.nextSeq();
      ctx.controller.wire.nextSeq();
      await ctx.api('PATCH', `/api/receivers/${ctx.rx.id}`, { name: 'Receiver under test (reboot)' });
      await ctx.barrier();
      // An older config that would un-adopt it, genuinely signed: seq 1, below the one it applied.
      const stale = { v: 1, seq: 1, issuedAt: new Date(0).toISOString(), adopted: false, zones: [] };
      const before = ctx.session();
      try {
        await ctx.restartReceiver({
          whileOff: async () => {
            ctx.sent(`while it is off: an old config (seq 1, adopted: false) retained on ${t.config}`);
            await ctx.publishRaw(t.config, seal(ctx.commandKey(), t.config, stale), { retain: true });
          },
        });
        await ctx.online({ after: before });
        const heard = await hears(ctx, [t.zoneCmd]);
        check(heard, 'it did not confirm a command on its own topic after the restart');
        ctx.saw(
          `after the restart it ${heard.get(t.zoneCmd) ? 'still hears' : 'no longer hears'} its zone's topic`,
        );
        check(
          heard.get(t.zoneCmd),
          'it applied the older config after the restart (it no longer hears its zone): it did not keep the seq it had applied',
        );
      } finally {
        // The controller's own retained config again (a rename republishes it, with a new seq).
        await ctx.api('PATCH', `/api/receivers/${ctx.rx.id}`, { name: 'Receiver under test' });
        await untilHeard(ctx, t.zoneCmd, 10_000);
      }
    },
  },
  {
    id: 'reboot.schedule_kept',
    failsWith: 'volatile-schedule',
    section: '§13.12 (the document in force)',
    level: 'MUST',
    title: 'power-cycled and booted without network, it airs the schedule it held at its instant',
    needs: ['restart', 'link'],
    timeoutMs: 40_000,
    run: async (ctx) => {
      const clip = await ctx.clip(1200);
      const a = await programAiring(ctx, { clips: [clip], at: (now) => now + 4000 });
      try {
        await waitAiring(ctx, a.airingId, 'ready', { from: a.from, timeoutMs: 3500 });
        ctx.saw('ready');
        const session = ctx.session();
        await ctx.restartReceiver({
          whileOff: async () => {
            ctx.link.cut('close');
            ctx.note('link cut while it is off: it boots without network');
          },
        });
        await sleepUntil(a.at + 1500);
        await airedAcrossCut(ctx, a, clip, session);
      } finally {
        await a.remove();
      }
    },
  },
  {
    id: 'reboot.aired_once',
    failsWith: 'volatile-aired',
    section: '§13.12 (airings started)',
    level: 'MUST',
    title:
      'an airing on air at a power cycle is reported cut/other and ended cut, and never airs again when its document comes back',
    needs: ['restart'],
    timeoutMs: 40_000,
    run: async (ctx) => {
      const [first, second] = [await ctx.clip(1500), await ctx.clip(6000)];
      const a = await programAiring(ctx, { clips: [first, second], at: (now) => now + 2500 });
      try {
        await waitAiring(ctx, a.airingId, 'started', {
          from: a.from,
          timeoutMs: 8000,
          also: (j) => j.item === 1,
        });
        ctx.saw('item 1 on air');
        const session = ctx.session();
        const mark = ctx.seen.mark();
        await ctx.restartReceiver();
        await ctx.online({ after: session });
        // Its retained document comes again with the connection, still listing the airing (its
        // item 1 would still be sounding): the receiver says it applied it…
        await ctx.seen.waitFor(
          'the schedule document applied again after the restart',
          (m) => m.leaf === 'airing' && m.json?.kind === 'schedule' && m.json.state === 'applied',
          { from: mark, timeoutMs: 10_000 },
        );
        const ended = await waitAiring(ctx, a.airingId, 'ended', { from: a.from, timeoutMs: 10_000 });
        // …and nothing of the airing starts again: give it the time a late join would take.
        await new Promise((r) => setTimeout(r, 1500));
        const after = reportsOf(ctx, a.airingId, mark);
        ctx.saw(`reports since the restart: ${after.map(line).join(' → ') || 'none'}`);
        const all = reportsOf(ctx, a.airingId, a.from);
        const cut = all.find((r) => r.state === 'cut' && r.item === 1);
        check(cut, 'no cut report for item 1, the item on air when the power went (§13.12)');
        check(
          cut.reason === 'other',
          `item 1 was reported cut/${String(cut.reason)}, not cut/other (§13.12)`,
        );
        check(ended.json?.outcome === 'cut', `ended with outcome ${String(ended.json?.outcome)}, not cut`);
        const again = after.filter((r) => r.state === 'started');
        check(
          again.length === 0,
          `it started the airing again after the restart (${again.map(line).join(', ')}): an airing started before the power loss is over for good`,
        );
        const endedTwice = all.filter((r) => r.state === 'ended');
        check(
          endedTwice.length === 1,
          `${endedTwice.length} ended reports for one airing (§13.11: exactly one)`,
        );
      } finally {
        await a.remove();
      }
    },
  },
];
