/**
 * §7.1, verification: every refused command is reported with its reason, never played, and
 * changes nothing — not even the replay memory (a forged copy cannot use up a genuine id).
 */
import { randomUUID } from 'node:crypto';
import type { CaseContext, Seal } from '../context.js';
import { type ConformanceCase, check } from '../types.js';

/** Sends a play sealed `how`, expects `rejected`/`reason` (or `expired`) and nothing else for it. */
async function refused(
  ctx: CaseContext,
  how: Seal,
  reason: string,
  cmd?: Awaited<ReturnType<CaseContext['play']>>,
): Promise<void> {
  const play = cmd ?? (await ctx.play());
  const from = ctx.seen.mark();
  await ctx.send(ctx.rx.topics.cmd, play, how);
  const state = reason === 'expired' ? 'expired' : 'rejected';
  // Its first word about the command: the refusal, or (failing) anything else.
  const first = await ctx.seen.waitFor(
    `its report on command ${play.id}`,
    (m) => m.leaf === 'event' && m.json?.commandId === play.id,
    { from },
  );
  const e = first.json!;
  check(
    e.state === state && e.reason === reason,
    `expected ${state}/${reason}, but its first report was ${String(e.state)}${e.reason ? `/${String(e.reason)}` : ''}`,
  );
  ctx.saw(`${state}/${String(e.reason)} for ${play.id}`);
  // Commands are handled in order: past the barrier, whatever it did with the refused one is known.
  await ctx.barrier();
  const acted = ctx.seen.events(from).filter((x) => x.commandId === play.id && x.state !== state);
  check(
    acted.length === 0,
    `it acted on the refused command: ${acted.map((x) => String(x.state)).join(', ')}`,
  );
}

export const verifyCases: ConformanceCase[] = [
  {
    id: 'verify.unsigned',
    failsWith: 'accept-unsigned',
    section: '§7.1 step 3',
    level: 'MUST',
    title: 'a plain JSON command (no envelope) is refused: rejected/unsigned, not played',
    run: (ctx) => refused(ctx, 'unsigned', 'unsigned'),
  },
  {
    id: 'verify.unknown_key',
    failsWith: 'accept-unknown-key',
    section: '§7.1 step 4',
    level: 'MUST',
    title: 'a command signed by a key it does not trust is refused: rejected/unknown_key',
    run: (ctx) => refused(ctx, 'unknown_key', 'unknown_key'),
  },
  {
    id: 'verify.bad_signature',
    failsWith: 'accept-bad-signature',
    section: '§7.1 step 5',
    level: 'MUST',
    title: 'a trusted kid with a signature that does not verify is refused: rejected/bad_signature',
    run: (ctx) => refused(ctx, 'bad_signature', 'bad_signature'),
  },
  {
    id: 'verify.wrong_topic',
    failsWith: 'accept-wrong-topic',
    section: '§7.1 step 5',
    level: 'MUST',
    title: "a genuine command sealed for another receiver's topic is refused here: rejected/wrong_topic",
    run: (ctx) =>
      refused(ctx, { wrongTopic: ctx.controller.wire.topics.receiverCommand('kit-other-rx') }, 'wrong_topic'),
  },
  {
    id: 'verify.expired',
    failsWith: 'no-expiry-check',
    section: '§7.1 step 8',
    level: 'MUST',
    title: 'a command past its expiresAt is reported expired and not played',
    run: async (ctx) => {
      const issuedAt = new Date(Date.now() - 120_000);
      const play = await ctx.play({ issuedAt, expiresAt: new Date(Date.now() - 60_000) });
      await refused(ctx, 'signed', 'expired', play);
    },
  },
  {
    id: 'verify.not_yet_valid',
    failsWith: 'no-issued-check',
    section: '§7.1 step 9',
    level: 'MUST',
    title: 'a command issued more than 5 minutes ahead of its clock is refused: rejected/not_yet_valid',
    run: async (ctx) => {
      const issuedAt = new Date(Date.now() + 15 * 60_000);
      const play = await ctx.play({ issuedAt, expiresAt: new Date(issuedAt.getTime() + 120_000) });
      await refused(ctx, 'signed', 'not_yet_valid', play);
    },
  },
  {
    id: 'verify.replayed',
    failsWith: 'no-replay-memory',
    section: '§7.1 step 7',
    level: 'MUST',
    title: 'the same command id again (any topic) is refused rejected/replayed and acted on once',
    run: async (ctx) => {
      const stop = ctx.stop({ bulletinId: randomUUID() });
      const from = ctx.seen.mark();
      await ctx.send(ctx.rx.topics.cmd, stop);
      await ctx.seen.waitForEvent(stop.id, 'received', { from });
      ctx.saw('received (applied) the first copy');
      // The same id again, on the zone topic this time (a receiver hears both).
      await ctx.send(ctx.rx.topics.zoneCmd, stop);
      await ctx.seen.waitForEvent(stop.id, 'rejected', { from, also: (e) => e.reason === 'replayed' });
      ctx.saw('rejected/replayed the second copy');
      await ctx.barrier();
      const applied = ctx.seen.events(from).filter((e) => e.commandId === stop.id && e.state === 'received');
      check(applied.length === 1, `it applied the command ${applied.length} times`);
    },
  },
  {
    id: 'verify.forgery_keeps_id',
    failsWith: 'forgery-uses-id',
    section: '§7.1 (refused commands change nothing)',
    level: 'MUST',
    title: "a forged copy claiming a genuine command's id does not use the id up: the genuine one plays",
    run: async (ctx) => {
      const play = await ctx.play();
      const from = ctx.seen.mark();
      await ctx.send(ctx.rx.topics.cmd, play, 'bad_signature');
      await ctx.seen.waitForEvent(play.id, 'rejected', { from, also: (e) => e.reason === 'bad_signature' });
      await ctx.send(ctx.rx.topics.cmd, play);
      const started = await ctx.seen.waitForEvent(play.id, 'started', { from });
      ctx.saw(`started play ${String(started.play)} of the genuine copy`);
    },
  },
];
