/**
 * §7.3 steps 3 and 4: the queue by priority (emergency > priority > normal, then arrival), who
 * preempts whom, and the resume of what was interrupted — kept, played again from the start of
 * the cut play once the loudspeaker frees, the one interrupted last first — unless it expired
 * meanwhile, or its turn comes inside quiet hours that began while it waited (§13.10).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { PlayCommand } from '../../contract/mqtt.js';
import type { CaseContext } from '../context.js';
import { type ConformanceCase, check } from '../types.js';
import { firstReport, neverStarted, said } from './fixtures.js';
import { quietHoursNow } from './schedule.js';

/** Every report that ends a play command's wait to resume, or starts it again. */
const AFTER_WAIT = ['started', 'finished', 'expired', 'cancelled', 'failed'];

/** Sends `play` and waits for its first `started`: it is sounding. */
async function sounding(ctx: CaseContext, play: PlayCommand, label: string): Promise<number> {
  const from = ctx.seen.mark();
  await ctx.send(ctx.rx.topics.cmd, play);
  const s = await firstReport(ctx, play.id, ['started'], { from, timeoutMs: 10_000 });
  ctx.saw(`${label} started (play ${String(s.json.play)})`);
  return from;
}

/**
 * `b` arrives while `a` sounds and must take over: waits for `b` started, checks `a` did not end
 * first, then for `a`'s `preempted` with `by` = b's id. Returns that report.
 */
async function takesOver(
  ctx: CaseContext,
  a: PlayCommand,
  b: PlayCommand,
  names: [string, string],
): Promise<Record<string, unknown>> {
  const from = ctx.seen.mark();
  await ctx.send(ctx.rx.topics.cmd, b);
  const started = await firstReport(ctx, b.id, ['started'], { from, timeoutMs: 15_000 });
  const ended = ctx.seen
    .all(from)
    .find(
      (m) =>
        m.n < started.n && m.leaf === 'event' && m.json?.commandId === a.id && m.json.state === 'finished',
    );
  check(!ended, `${names[1]} waited until ${names[0]} had finished instead of preempting it`);
  ctx.saw(`${names[1]} started`);
  const pre = await firstReport(ctx, a.id, ['preempted', 'finished'], { from, timeoutMs: 3000 });
  check(
    pre.json.state === 'preempted',
    `${names[0]} was not reported preempted but ${String(pre.json.state)}`,
  );
  ctx.saw(`${names[0]}: ${said(pre.json)}`);
  check(
    pre.json.by === b.id,
    `${names[0]}'s preempted names by=${String(pre.json.by)}, not ${names[1]} (${b.id})`,
  );
  return pre.json;
}

/**
 * Skips the case unless the interrupted normal was held to resume (`pre`, its `preempted`): what
 * happens to an item waiting to resume cannot be checked on a receiver that drops it.
 */
function heldToResume(ctx: CaseContext, pre: Record<string, unknown>): void {
  if (pre.resumes !== true)
    ctx.skip(`the normal was not held to resume (${said(pre)}; see resume.basic): nothing waits to resume`);
}

export const priorityCases: ConformanceCase[] = [
  {
    id: 'priority.preempt',
    failsWith: 'no-preempt',
    section: '§7.3 step 3',
    level: 'MUST',
    title:
      'an emergency arriving while a normal plays preempts it: normal preempted (by = the emergency), emergency started',
    run: async (ctx) => {
      const n = await ctx.play({ clip: await ctx.clip(4000) });
      await sounding(ctx, n, 'normal');
      const e = await ctx.play({ clip: await ctx.clip(700), priority: 'emergency' });
      await takesOver(ctx, n, e, ['the normal', 'the emergency']);
    },
  },
  {
    id: 'priority.newer_emergency',
    failsWith: 'emergency-waits',
    section: '§7.3 step 3',
    level: 'MUST',
    title: 'a newer emergency preempts the emergency playing (the newest alert is the one in force)',
    run: async (ctx) => {
      const e1 = await ctx.play({ clip: await ctx.clip(3000), priority: 'emergency' });
      await sounding(ctx, e1, 'emergency 1');
      const e2 = await ctx.play({ clip: await ctx.clip(700), priority: 'emergency' });
      await takesOver(ctx, e1, e2, ['emergency 1', 'emergency 2']);
    },
  },
  {
    id: 'priority.equal_waits',
    failsWith: 'preempt-equal',
    section: '§7.3 step 3',
    level: 'MUST',
    title: 'a normal arriving while a normal plays waits: the first plays to its end, then the second starts',
    run: async (ctx) => {
      const a = await ctx.play({ clip: await ctx.clip(1500) });
      const from = await sounding(ctx, a, 'normal A');
      const b = await ctx.play({ clip: await ctx.clip(700) });
      await ctx.send(ctx.rx.topics.cmd, b);
      const bStarted = await firstReport(ctx, b.id, ['started'], { from, timeoutMs: 10_000 });
      const aReports = ctx.seen
        .all(from)
        .filter((m) => m.n < bStarted.n && m.leaf === 'event' && m.json?.commandId === a.id)
        .map((m) => String(m.json?.state));
      ctx.saw(`normal B started; normal A before that: ${aReports.join(' → ')}`);
      check(!aReports.includes('preempted'), 'normal B preempted normal A: equal priority must wait');
      check(aReports.includes('finished'), 'normal B started before normal A had finished');
    },
  },
  {
    id: 'priority.order',
    failsWith: 'fifo-queue',
    section: '§7.3 step 3',
    level: 'MUST',
    title:
      'what waits plays by priority, then arrival: normal 1, normal 2, priority queued → priority, normal 1, normal 2',
    run: async (ctx) => {
      const e = await ctx.play({ clip: await ctx.clip(2500), priority: 'emergency' });
      const from = await sounding(ctx, e, 'an emergency');
      const short = await ctx.clip(600);
      const n1 = await ctx.play({ clip: short });
      const n2 = await ctx.play({ clip: short });
      const p = await ctx.play({ clip: short, priority: 'priority' });
      for (const c of [n1, n2, p]) await ctx.send(ctx.rx.topics.cmd, c);
      const names = new Map([
        [n1.id, 'normal 1'],
        [n2.id, 'normal 2'],
        [p.id, 'priority'],
      ]);
      const order: string[] = [];
      const expected = ['priority', 'normal 1', 'normal 2'];
      for (let i = 0; i < expected.length; i++) {
        const m = await ctx.seen.waitFor(
          `the next of the three queued plays started (${order.length} so far)`,
          (x) =>
            x.leaf === 'event' &&
            x.json?.state === 'started' &&
            names.has(String(x.json.commandId)) &&
            !order.includes(names.get(String(x.json.commandId))!),
          { from, timeoutMs: 10_000 },
        );
        order.push(names.get(String(m.json?.commandId))!);
        ctx.saw(`started: ${order.join(', ')}`);
        check(order[i] === expected[i], `played ${order.join(', ')}; expected ${expected.join(', ')}`);
      }
      const ends = ['finished', 'preempted', 'cancelled', 'failed'];
      const eEnd = ctx.seen.events(from).find((x) => x.commandId === e.id && ends.includes(String(x.state)));
      check(eEnd?.state === 'finished', `the emergency ended ${String(eEnd?.state)}, not finished`);
    },
  },
  {
    id: 'resume.basic',
    failsWith: 'no-resume',
    section: '§7.3 step 4',
    level: 'MUST',
    title:
      'a preempted normal is kept: preempted resumes:true, then after the emergency started resumed:true … finished',
    timeoutMs: 25_000,
    run: async (ctx) => {
      const clip = await ctx.clip(2000);
      const n = await ctx.play({ clip });
      await sounding(ctx, n, 'normal');
      const e = await ctx.play({ clip: await ctx.clip(700), priority: 'emergency' });
      const from = ctx.seen.mark();
      const pre = await takesOver(ctx, n, e, ['the normal', 'the emergency']);
      check(
        pre.resumes === true,
        `preempted without resumes: true (${said(pre)}): the item was dropped, not kept`,
      );
      check(pre.play === 1, `preempted names play=${String(pre.play)}, the sounding play was 1`);
      check(
        typeof pre.offsetMs === 'number' && pre.offsetMs >= 0 && pre.offsetMs <= clip.durationMs,
        `preempted offsetMs=${String(pre.offsetMs)} is not within the audio's ${clip.durationMs} ms`,
      );
      const eDone = await firstReport(ctx, e.id, ['finished'], { from, timeoutMs: 10_000 });
      const again = await firstReport(ctx, n.id, ['started', 'finished', 'expired', 'cancelled', 'failed'], {
        from,
        timeoutMs: 10_000,
      });
      ctx.saw(`the normal, after the emergency: ${said(again.json)}`);
      check(again.json.state === 'started', `the normal was not played again: ${said(again.json)}`);
      check(again.n > eDone.n, 'the normal started again before the emergency had finished');
      check(again.json.resumed === true, 'its first started after the interruption lacks resumed: true');
      check(again.json.play === 1, `it resumed with play ${String(again.json.play)}, not the cut play 1`);
      const fin = await firstReport(ctx, n.id, ['finished'], { from: again.n, timeoutMs: 10_000 });
      ctx.saw(`the normal: ${said(fin.json)}`);
      check(
        fin.json.sha256 === clip.sha256,
        `finished carries sha256 ${String(fin.json.sha256)}, not the audio's`,
      );
    },
  },
  {
    id: 'resume.from_start',
    failsWith: 'resume-mid-play',
    section: '§7.3 step 4',
    level: 'MUST',
    title: 'a play cut mid-way resumes from its start: the resumed play lasts the whole audio',
    timeoutMs: 25_000,
    run: async (ctx) => {
      const clip = await ctx.clip(2400);
      const n = await ctx.play({ clip });
      await sounding(ctx, n, 'normal');
      // Not a wait for something to happen: the sound has to get a second into the play.
      await sleep(1000);
      const e = await ctx.play({ clip: await ctx.clip(700), priority: 'emergency' });
      const from = ctx.seen.mark();
      const pre = await takesOver(ctx, n, e, ['the normal', 'the emergency']);
      check(pre.resumes === true, `preempted without resumes: true (${said(pre)})`);
      const again = await ctx.seen.waitFor(
        'the normal started again (resumed)',
        (x) => x.leaf === 'event' && x.json?.commandId === n.id && x.json.state === 'started',
        { from, timeoutMs: 10_000 },
      );
      const fin = await ctx.seen.waitFor(
        'the normal finished',
        (x) => x.leaf === 'event' && x.json?.commandId === n.id && x.json.state === 'finished',
        { from: again.n, timeoutMs: 10_000 },
      );
      const lasted = fin.atMs - again.atMs;
      ctx.saw(
        `cut at offsetMs=${String(pre.offsetMs)}; resumed play ${String(again.json?.play)} lasted ${lasted} ms of a ${clip.durationMs} ms audio`,
      );
      check(
        again.json?.play === pre.play,
        `resumed with play ${String(again.json?.play)}, not the cut play ${String(pre.play)}`,
      );
      check(
        lasted >= clip.durationMs - 300,
        `the resumed play lasted ${lasted} ms: it went on from where it was cut, not from the start of the ${clip.durationMs} ms play`,
      );
    },
  },
  {
    id: 'resume.in_gap',
    failsWith: 'resume-gap-replays',
    section: '§7.3 step 4',
    level: 'MUST',
    title:
      'interrupted in the gap after play 1 of 2: preempted play 1 (offsetMs its whole duration), resumes with play 2',
    timeoutMs: 25_000,
    run: async (ctx) => {
      const clip = await ctx.clip(800);
      const n = await ctx.play({ clip, repeat: 2, gapMs: 2000 });
      await sounding(ctx, n, 'normal (repeat 2, gapMs 2000)');
      // Not a wait for something to happen: the preemption must come in the gap (0.8–2.8 s in).
      await sleep(1500);
      const e = await ctx.play({ clip: await ctx.clip(700), priority: 'emergency' });
      const from = ctx.seen.mark();
      const pre = await takesOver(ctx, n, e, ['the normal', 'the emergency']);
      check(pre.resumes === true, `preempted without resumes: true (${said(pre)})`);
      check(pre.play === 1, `preempted in the gap after play 1 names play=${String(pre.play)}`);
      check(
        typeof pre.offsetMs === 'number' && pre.offsetMs >= clip.durationMs - 100,
        `preempted in a gap gives offsetMs=${String(pre.offsetMs)}, not the play's whole duration (${clip.durationMs} ms)`,
      );
      const again = await firstReport(ctx, n.id, ['started'], { from, timeoutMs: 10_000 });
      ctx.saw(`the normal again: ${said(again.json)}`);
      check(again.json.play === 2, `it resumed with play ${String(again.json.play)}, not the next one (2)`);
      check(again.json.resumed === true, 'its first started after the interruption lacks resumed: true');
      const fin = await firstReport(ctx, n.id, ['finished'], { from: again.n, timeoutMs: 10_000 });
      ctx.saw(`the normal: ${said(fin.json)}`);
      const starts = ctx.seen
        .events(from)
        .filter((x) => x.commandId === n.id && x.state === 'started').length;
      check(starts === 1, `after the interruption it started ${starts} plays; one (play 2) was left`);
    },
  },
  {
    id: 'resume.stack',
    failsWith: 'resume-fifo',
    section: '§7.3 step 4',
    level: 'MUST',
    title:
      'E1 interrupted by E2 interrupted by E3: after E3, E2 resumes, then E1 (the one interrupted last first)',
    timeoutMs: 25_000,
    run: async (ctx) => {
      const clip = await ctx.clip(1500);
      const e1 = await ctx.play({ clip, priority: 'emergency' });
      const from = await sounding(ctx, e1, 'E1');
      const e2 = await ctx.play({ clip, priority: 'emergency' });
      const p1 = await takesOver(ctx, e1, e2, ['E1', 'E2']);
      const e3 = await ctx.play({ clip: await ctx.clip(700), priority: 'emergency' });
      const p2 = await takesOver(ctx, e2, e3, ['E2', 'E3']);
      if (p1.resumes !== true || p2.resumes !== true)
        ctx.skip(
          'the receiver does not keep preempted items to resume (see resume.basic): no stack to check',
        );
      const e3Done = await firstReport(ctx, e3.id, ['finished'], { from, timeoutMs: 10_000 });
      const names = new Map([
        [e1.id, 'E1'],
        [e2.id, 'E2'],
      ]);
      const next = await ctx.seen.waitFor(
        'E1 or E2 started again after E3',
        (x) =>
          x.n > e3Done.n &&
          x.leaf === 'event' &&
          x.json?.state === 'started' &&
          names.has(String(x.json.commandId)),
        { from, timeoutMs: 10_000 },
      );
      ctx.saw(`after E3: ${names.get(String(next.json?.commandId))} resumed`);
      check(
        next.json?.commandId === e2.id,
        'E1 resumed first: the one interrupted last (E2) must resume first',
      );
      const e2Done = await firstReport(ctx, e2.id, ['finished'], { from: next.n, timeoutMs: 10_000 });
      const last = await firstReport(ctx, e1.id, ['started'], { from: e2Done.n, timeoutMs: 10_000 });
      ctx.saw(`after E2 finished: E1 ${said(last.json)}`);
      check(last.json.resumed === true, 'E1 started again without resumed: true');
    },
  },
  {
    id: 'resume.expired',
    failsWith: 'resume-after-expiry',
    section: '§7.3 step 4',
    level: 'MUST',
    title:
      'a preempted normal whose expiresAt passes while it waits to resume is reported expired and never sounds again',
    timeoutMs: 25_000,
    run: async (ctx) => {
      const clip = await ctx.clip(2000);
      const long = await ctx.clip(4000);
      // Valid when it arrives (§7.1 step 8) and when it is preempted; past it while the emergency sounds.
      const expiresAt = new Date(Date.now() + 3000);
      const n = await ctx.play({ clip, expiresAt });
      await sounding(ctx, n, `normal (expiresAt ${n.expiresAt}, in 3 s)`);
      const e = await ctx.play({ clip: long, priority: 'emergency' });
      const from = ctx.seen.mark();
      const pre = await takesOver(ctx, n, e, ['the normal', 'the emergency']);
      heldToResume(ctx, pre);
      const eDone = await firstReport(ctx, e.id, ['finished'], { from, timeoutMs: 10_000 });
      ctx.saw(`the emergency finished, ${Date.now() - expiresAt.getTime()} ms after the normal's expiresAt`);
      const end = await firstReport(ctx, n.id, AFTER_WAIT, { from, timeoutMs: 5000 });
      const at = ctx.seen.t0 + (ctx.seen.all(end.n)[0]?.atMs ?? 0);
      ctx.saw(
        `the normal ${end.n < eDone.n ? 'while it waited' : 'after the emergency'}, ${at - expiresAt.getTime()} ms after its expiresAt: ${said(end.json)}`,
      );
      check(
        end.json.state !== 'started',
        `the normal resumed after its expiresAt (${n.expiresAt}) had passed while it waited: an expired item never sounds again (§7.3 step 4)`,
      );
      check(
        end.json.state === 'expired' && end.json.reason === 'expired',
        `the normal, past its expiresAt while it waited to resume, was reported ${said(end.json)}, not expired with reason expired (§7.3 step 4)`,
      );
      await neverStarted(ctx, n.id, from, 'the normal reported expired started again after all');
    },
  },
  {
    id: 'resume.quiet_hours',
    failsWith: 'resume-in-quiet-hours',
    section: '§13.10; §7.3 step 4',
    level: 'MUST',
    title:
      'a normal preempted before the quiet hours does not resume inside them: failed/quiet_hours, never started again',
    timeoutMs: 30_000,
    run: async (ctx) => {
      const clip = await ctx.clip(2000);
      const long = await ctx.clip(5000);
      const n = await ctx.play({ clip });
      await sounding(ctx, n, 'normal');
      const e = await ctx.play({ clip: long, priority: 'emergency' });
      const from = ctx.seen.mark();
      const pre = await takesOver(ctx, n, e, ['the normal', 'the emergency']);
      heldToResume(ctx, pre);
      // The quiet hours begin while the emergency sounds and the normal waits to resume.
      const removeQuiet = await quietHoursNow(ctx);
      try {
        const ended = ctx.seen.events(from).some((x) => x.commandId === e.id && x.state === 'finished');
        if (ended)
          ctx.skip(
            'the emergency had finished before the receiver applied the quiet hours: the normal was due before them',
          );
        const eDone = await firstReport(ctx, e.id, ['finished'], { from, timeoutMs: 10_000 });
        ctx.saw('the emergency finished, inside the quiet hours');
        const end = await firstReport(ctx, n.id, AFTER_WAIT, { from, timeoutMs: 5000 });
        ctx.saw(
          `the normal ${end.n < eDone.n ? 'while it waited' : 'after the emergency'}: ${said(end.json)}`,
        );
        check(
          end.json.state !== 'started',
          'the normal resumed inside the quiet hours: a normal or priority item interrupted before them does not resume inside them (§13.10)',
        );
        check(
          end.json.state === 'failed' && end.json.reason === 'quiet_hours',
          `the normal whose turn came inside the quiet hours was reported ${said(end.json)}, not failed with reason quiet_hours (§13.10, §7.3 step 4)`,
        );
        await neverStarted(ctx, n.id, from, 'the normal reported failed/quiet_hours started again after all');
      } finally {
        await removeQuiet();
      }
    },
  },
];
