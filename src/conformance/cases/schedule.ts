/**
 * §13, the schedule a receiver holds: taking (or refusing) a signed document, starting an airing
 * at its instant by its own clock with no message at that moment, joining late or skipping per
 * the airing's `late` policy, and the quiet hours.
 *
 * Airings are made through the controller's API, as an officer makes them: a one-off program for
 * this receiver only, a day ahead, whose airing is then moved (POST /api/airings/:id/shift) to a
 * few seconds from now; the controller publishes the receiver's document itself. Hand-made
 * documents serve only the refusals, published NOT retained so that the broker keeps the
 * controller's document (a receiver takes a document whatever its retain flag).
 */
import { randomUUID } from 'node:crypto';
import { airingReportSchema, type ScheduleDoc } from '../../contract/schedule.js';
import type { CaseContext, Clip, Seal } from '../context.js';
import type { Seen } from '../observer.js';
import { type ConformanceCase, check } from '../types.js';

/** An airing report about `airingId` in `state` (and `also`), since `from`. */
export function waitAiring(
  ctx: CaseContext,
  airingId: string,
  state: string,
  opts: { from: number; timeoutMs?: number; also?: (j: Record<string, unknown>) => boolean },
): Promise<Seen> {
  return ctx.seen.waitFor(
    `airing report "${state}" for ${airingId}`,
    (m) =>
      m.leaf === 'airing' &&
      m.json?.kind === 'airing' &&
      m.json.airingId === airingId &&
      m.json.state === state &&
      (opts.also ? opts.also(m.json) : true),
    { from: opts.from, timeoutMs: opts.timeoutMs ?? 10_000 },
  );
}

/** The first airing report about `airingId` since `from` other than `ready` (its word on the start). */
function firstReport(ctx: CaseContext, airingId: string, from: number, timeoutMs: number): Promise<Seen> {
  return ctx.seen.waitFor(
    `a report about airing ${airingId} (other than ready)`,
    (m) =>
      m.leaf === 'airing' &&
      m.json?.kind === 'airing' &&
      m.json.airingId === airingId &&
      m.json.state !== 'ready',
    { from, timeoutMs },
  );
}

/** The reports about one airing since `from`, in order, checked against the contract. */
export function reportsOf(ctx: CaseContext, airingId: string, from: number): Record<string, unknown>[] {
  const mine = ctx.seen
    .all(from)
    .flatMap((m) =>
      m.leaf === 'airing' && m.json?.kind === 'airing' && m.json.airingId === airingId ? [m.json] : [],
    );
  for (const r of mine) {
    const ok = airingReportSchema.safeParse(r);
    check(
      ok.success,
      `an airing report is out of contract (§13.11): ${JSON.stringify(r).slice(0, 200)}: ${ok.success ? '' : ok.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return mine;
}

export const line = (r: Record<string, unknown>) =>
  `${String(r.state)}${r.item !== undefined ? ` item ${String(r.item)}` : ''}${r.reason ? `/${String(r.reason)}` : ''}${r.outcome ? ` outcome ${String(r.outcome)}` : ''}${r.offsetMs !== undefined ? ` offsetMs ${String(r.offsetMs)}` : ''}`;

/** The version of the last document the receiver reported applied, if any. */
function lastApplied(ctx: CaseContext): number | null {
  for (const m of ctx.seen.all().reverse())
    if (m.leaf === 'airing' && m.json?.kind === 'schedule' && m.json.state === 'applied')
      return typeof m.json.version === 'number' ? m.json.version : null;
  return null;
}

/** Resolves with the version of the controller's next document for this receiver. */
function nextPublished(ctx: CaseContext, timeoutMs = 5000): Promise<number> {
  const schedules = ctx.controller.schedules;
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      schedules.off('published', on);
      reject(
        new Error(`the controller published no schedule document for ${ctx.rx.id} within ${timeoutMs} ms`),
      );
    }, timeoutMs);
    const on = (receiverId: string, version: number) => {
      if (receiverId !== ctx.rx.id) return;
      clearTimeout(timer);
      schedules.off('published', on);
      resolve(version);
    };
    schedules.on('published', on);
  });
}

/** Waits for the receiver's `applied` (or refusal) of document `version`. */
function waitSchedule(ctx: CaseContext, version: number, from: number, timeoutMs = 10_000): Promise<Seen> {
  return ctx.seen.waitFor(
    `a schedule report about version ${version}`,
    (m) => m.leaf === 'airing' && m.json?.kind === 'schedule' && m.json.version === version,
    { from, timeoutMs },
  );
}

let timeZone: string | null = null;

/** Local date (YYYY-MM-DD) and time (HH:MM) of an instant in the station's time zone. */
async function local(ctx: CaseContext, ms: number): Promise<{ date: string; time: string }> {
  if (!timeZone) {
    const r = await ctx.api<{ timeZone: string }>('GET', '/api/programs');
    timeZone = r.body.timeZone;
  }
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(ms));
  const p = (t: string) => parts.find((x) => x.type === t)?.value ?? '';
  return { date: `${p('year')}-${p('month')}-${p('day')}`, time: `${p('hour')}:${p('minute')}` };
}

/**
 * Sets quiet hours for the receiver's zone from the current minute to two minutes on (station
 * time, §13.10), as a site file's `quietHours` does (the kit's controller has no schedules
 * folder), and waits until the receiver reports the document applied. Returns what removes them.
 */
export async function quietHoursNow(ctx: CaseContext): Promise<() => Promise<void>> {
  const now = Date.now();
  const [a, b] = [await local(ctx, now), await local(ctx, now + 2 * 60_000)];
  /** Sets the zone's quiet hours: the version of the document that carries them, and its report. */
  const set = async (hours: { from: string; to: string }[]) => {
    const from = ctx.seen.mark();
    const published = nextPublished(ctx);
    ctx.controller.schedules.setQuietHours(ctx.rx.zoneId, hours, null);
    const version = await published;
    return { version, applied: () => waitSchedule(ctx, version, from) };
  };
  const remove = async () => {
    const r = await set([]).catch(() => null);
    ctx.note(`quiet hours removed${r ? ` (document version ${r.version})` : ''}`);
    await r?.applied().catch(() => undefined);
  };
  try {
    const { version, applied } = await set([{ from: a.time, to: b.time }]);
    ctx.sent(
      `quiet hours ${a.time}–${b.time} (station time) for zone ${ctx.rx.zoneId}; document version ${version}`,
    );
    const report = await applied();
    check(
      report.json?.state === 'applied',
      `the document with the quiet hours was not applied: ${report.text}`,
    );
    ctx.saw(`document version ${version} applied`);
  } catch (err) {
    await remove();
    throw err;
  }
  return remove;
}

export interface KitAiring {
  programId: string;
  airingId: string;
  /** planned start, epoch ms */
  at: number;
  /** the version of the document that carries the airing at `at` */
  version: number;
  /** the observer's mark taken before that document went out */
  from: number;
  /** removes the program (its airing, if not begun, does not air) */
  remove(): Promise<void>;
}

/**
 * A one-off program of `clips` for this receiver only, its airing moved to `atMs` (so, `at` in
 * the past is not possible: `atMs` must be ahead). The program is made a day ahead at a random
 * minute (another program overlapping it is refused: try another), then shifted.
 */
export async function programAiring(
  ctx: CaseContext,
  o: {
    clips: Clip[];
    /** planned start, or a function of the time the airing is moved (epoch ms) */
    at: number | ((now: number) => number);
    late?: 'join' | 'skip';
    priority?: 'normal' | 'priority' | 'emergency';
  },
): Promise<KitAiring> {
  const programId = `kit-${randomUUID().slice(0, 8)}`;
  let created = false;
  for (let attempt = 0; attempt < 4 && !created; attempt++) {
    const when = Date.now() + 6 * 3600_000 + Math.floor(Math.random() * 30 * 60) * 60_000;
    const { date, time } = await local(ctx, when);
    const published = nextPublished(ctx);
    const r = await ctx.api<{ error?: string }>('POST', '/api/programs', {
      id: programId,
      title: 'Conformance airing',
      priority: o.priority ?? 'normal',
      target: { receivers: [ctx.rx.id] },
      recurrence: { kind: 'once', at: time, from: date },
      items: o.clips.map((c) => ({ kind: 'audio', audio: c.audioId })),
      grace: 10,
      late: o.late ?? 'join',
    });
    if (r.status === 409 && r.body.error === 'schedule_clash') {
      published.catch(() => undefined);
      continue;
    }
    check(r.status === 201, `the kit could not create its program: ${r.status} ${JSON.stringify(r.body)}`);
    created = true;
    // Its first document (the airing a day ahead) goes out before the airing is moved.
    await published;
  }
  check(created, 'the kit could not place its program without a clash');
  const remove = async () => {
    await ctx.api('DELETE', `/api/programs/${programId}`);
  };
  try {
    const p = await ctx.api<{ next: { id: string }[] }>('GET', `/api/programs/${programId}`);
    const airingId = p.body.next[0]?.id;
    check(airingId, `the program ${programId} has no airing`);
    const at = typeof o.at === 'number' ? o.at : o.at(Date.now());
    const from = ctx.seen.mark();
    const published = nextPublished(ctx);
    const s = await ctx.api('POST', `/api/airings/${airingId}/shift`, { at: new Date(at).toISOString() });
    check(s.status === 200, `the kit could not move its airing: ${s.status} ${JSON.stringify(s.body)}`);
    const version = await published;
    ctx.sent(
      `airing ${airingId} (program ${programId}, ${o.clips.length} audio item(s) of ${o.clips.map((c) => c.durationMs).join('+')} ms, late: ${o.late ?? 'join'}) planned at ${new Date(at).toISOString()}; the controller published document version ${version}`,
    );
    return { programId, airingId, at, version, from, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

/** A document for this receiver with nothing to air: for the refusals. */
function emptyDoc(ctx: CaseContext, version: number, receiverId = ctx.rx.id): ScheduleDoc {
  const now = Date.now();
  return {
    v: 1,
    type: 'schedule',
    receiverId,
    version,
    issuedAt: new Date(now).toISOString(),
    from: new Date(now).toISOString(),
    until: new Date(now + 48 * 3600_000).toISOString(),
    assets: [],
    airings: [],
    quiet: [],
    prefetchMs: 60_000,
  };
}

/** Sends a hand-made document (not retained) and expects its refusal with `reason`. */
async function refusedDoc(ctx: CaseContext, doc: ScheduleDoc, how: Seal, reason: string): Promise<void> {
  const from = ctx.seen.mark();
  ctx.note(`document version ${doc.version} for receiver ${doc.receiverId}, sent not retained`);
  await ctx.send(ctx.rx.topics.schedule, doc, how);
  const m = await waitSchedule(ctx, doc.version, from);
  const j = m.json!;
  ctx.saw(`schedule ${String(j.state)}${j.reason ? `/${String(j.reason)}` : ''} for version ${doc.version}`);
  check(
    j.state === 'rejected' && j.reason === reason,
    `expected rejected/${reason} for version ${doc.version}, got ${String(j.state)}${j.reason ? `/${String(j.reason)}` : ''}`,
  );
}

/** A version above the one held, for a forged document that would otherwise replace it. */
function higherVersion(ctx: CaseContext): number {
  return ctx.controller.wire.nextSeq();
}

export const scheduleCases: ConformanceCase[] = [
  {
    id: 'schedule.applied',
    failsWith: 'ignore-schedule',
    section: '§13.3',
    level: 'MUST',
    title:
      "the controller's signed document (a program saved through the API) is reported applied with its version",
    run: async (ctx) => {
      const clip = await ctx.clip(1200);
      const from = ctx.seen.mark();
      const published = nextPublished(ctx);
      const programId = `kit-${randomUUID().slice(0, 8)}`;
      const when = Date.now() + 6 * 3600_000 + Math.floor(Math.random() * 30 * 60) * 60_000;
      const { date, time } = await local(ctx, when);
      const r = await ctx.api('POST', '/api/programs', {
        id: programId,
        title: 'Conformance document',
        target: { receivers: [ctx.rx.id] },
        recurrence: { kind: 'once', at: time, from: date },
        items: [{ kind: 'audio', audio: clip.audioId }],
      });
      try {
        check(
          r.status === 201,
          `the kit could not create its program: ${r.status} ${JSON.stringify(r.body)}`,
        );
        const version = await published;
        ctx.sent(`program ${programId} saved (one airing at ${date} ${time}); document version ${version}`);
        const m = await waitSchedule(ctx, version, from, 5000);
        ctx.saw(`schedule ${String(m.json?.state)} version ${version}: ${m.text.slice(0, 200)}`);
        check(
          m.json?.state === 'applied',
          `expected applied, got ${String(m.json?.state)}/${String(m.json?.reason)}`,
        );
        const ok = airingReportSchema.safeParse(m.json);
        check(ok.success, `the report is out of contract (§13.11): ${m.text.slice(0, 200)}`);
      } finally {
        await ctx.api('DELETE', `/api/programs/${programId}`);
      }
    },
  },
  {
    id: 'schedule.stale',
    failsWith: 'ignore-stale-version',
    section: '§13.3',
    level: 'MUST',
    title: 'a genuine document with a version lower than the one held is refused: rejected/stale',
    run: async (ctx) => {
      let held = lastApplied(ctx);
      if (held === null) {
        // None seen yet: the controller's document for it, once it has one.
        const m = await ctx.seen.waitFor(
          'a schedule document applied',
          (x) => x.leaf === 'airing' && x.json?.kind === 'schedule' && x.json.state === 'applied',
          { timeoutMs: 5000 },
        );
        held = m.json?.version as number;
      }
      check(held > 0, `the receiver holds version ${held}: no lower version to send`);
      ctx.note(`the receiver reported version ${held} applied last`);
      await refusedDoc(ctx, emptyDoc(ctx, held - 1), 'signed', 'stale');
    },
  },
  {
    id: 'schedule.forged',
    failsWith: 'accept-forged-schedule',
    section: '§13.3',
    level: 'MUST',
    title: 'a document unsigned, by an unknown key or badly signed is refused with that reason',
    run: async (ctx) => {
      await refusedDoc(ctx, emptyDoc(ctx, higherVersion(ctx)), 'unsigned', 'unsigned');
      await refusedDoc(ctx, emptyDoc(ctx, higherVersion(ctx)), 'unknown_key', 'unknown_key');
      await refusedDoc(ctx, emptyDoc(ctx, higherVersion(ctx)), 'bad_signature', 'bad_signature');
    },
  },
  {
    id: 'schedule.wrong_receiver',
    failsWith: 'accept-other-receiver-schedule',
    section: '§13.2 (receiverId)',
    level: 'MUST',
    title: "a genuine document naming another receiver's id is refused: rejected/wrong_topic",
    run: (ctx) => refusedDoc(ctx, emptyDoc(ctx, higherVersion(ctx), 'kit-other-rx'), 'signed', 'wrong_topic'),
  },
  {
    id: 'schedule.on_time',
    failsWith: 'schedule-late-start',
    section: '§13.4, §13.5',
    level: 'MUST',
    title:
      'an airing 3.5 s ahead: ready before, started at its instant (report at ±50 ms), finished, ended aired',
    run: async (ctx) => {
      const clip = await ctx.clip(1200);
      const a = await programAiring(ctx, { clips: [clip], at: (now) => now + 3500 });
      try {
        const ready = await waitAiring(ctx, a.airingId, 'ready', { from: a.from, timeoutMs: 4000 });
        const readyAt = ctx.seen.t0 + ready.atMs;
        ctx.saw(`ready ${a.at - readyAt} ms before the instant`);
        check(readyAt < a.at, `ready came ${readyAt - a.at} ms after the instant`);
        await checkStart(ctx, a, { arrivalMs: 250 });
        await checkAired(ctx, a, clip);
      } finally {
        await a.remove();
      }
    },
  },
  {
    id: 'schedule.offline_start',
    failsWith: 'airing-needs-link',
    needs: ['link'],
    section: '§13.5 (no message needed)',
    level: 'MUST',
    title: 'the link cut from before the instant to after it: the airing starts at its instant anyway',
    timeoutMs: 30_000,
    run: async (ctx) => {
      const clip = await ctx.clip(1200);
      const a = await programAiring(ctx, { clips: [clip], at: (now) => now + 3000 });
      try {
        await waitAiring(ctx, a.airingId, 'ready', { from: a.from, timeoutMs: 3000 });
        ctx.saw('ready');
        await sleepUntil(a.at - 1500);
        ctx.link.cut('close');
        ctx.note('link cut (closed) 1.5 s before the instant');
        await sleepUntil(a.at + 1500);
        const during = reportsOf(ctx, a.airingId, a.from).filter((r) => r.state !== 'ready');
        check(during.length === 0, `reports crossed a cut link: ${during.map(line).join(', ')}`);
        await airedAcrossCut(ctx, a, clip, ctx.session());
      } finally {
        await a.remove();
      }
    },
  },
  {
    id: 'schedule.late_join',
    failsWith: 'late-from-top',
    needs: ['link'],
    section: '§13.6 (late: join)',
    level: 'MUST',
    title:
      'the document arrives after the instant (link down): late "join" joins the timeline where it is now',
    timeoutMs: 30_000,
    run: async (ctx) => {
      const [first, second] = [await ctx.clip(1500), await ctx.clip(5000)];
      ctx.link.cut('blackhole');
      ctx.note('link cut (black hole) before the airing is made: the document cannot reach the receiver');
      const a = await programAiring(ctx, { clips: [first, second], at: (now) => now + 1000, late: 'join' });
      try {
        await sleepUntil(a.at + 1700);
        ctx.link.restore();
        ctx.note('link restored 1.7 s after the instant');
        const m = await firstReport(ctx, a.airingId, a.from, 15_000);
        const j = m.json!;
        await waitAiring(ctx, a.airingId, 'started', { from: a.from, timeoutMs: 5000 });
        const reports = reportsOf(ctx, a.airingId, a.from);
        ctx.saw(`reports: ${reports.map(line).join(' → ')}`);
        check(j.state !== 'missed', `it missed an airing it could still join: ${line(j)}`);
        const started = reports.find((r) => r.state === 'started')!;
        const item = Number(started.item ?? 0);
        const offsetMs = Number(started.offsetMs ?? 0);
        check(
          item > 0 || offsetMs > 0,
          `it started the airing from its beginning (item ${item}, offsetMs ${offsetMs}) instead of joining the timeline`,
        );
        const skipped = reports.filter((r) => r.state === 'skipped' && Number(r.item) < item);
        check(
          skipped.length === item && skipped.every((r) => r.reason === 'late'),
          `items before item ${item} should each be skipped/late, got ${skipped.map(line).join(', ') || 'none'}`,
        );
        // Its position matches the time since the item's planned start (±500 ms, the report's own `at`).
        const planned = a.at + (item === 0 ? 0 : first.durationMs);
        const due = Date.parse(String(started.at)) - planned;
        check(
          Math.abs(due - offsetMs) <= 500,
          `started item ${item} at offsetMs ${offsetMs}, but ${due} ms had passed since its planned start`,
        );
      } finally {
        await a.remove();
      }
    },
  },
  {
    id: 'schedule.late_skip',
    failsWith: 'late-from-top',
    needs: ['link'],
    section: '§13.6 (late: skip)',
    level: 'MUST',
    title:
      'the document arrives more than 2 s after the instant: late "skip" is missed/late, then ended missed',
    timeoutMs: 30_000,
    run: async (ctx) => {
      const clip = await ctx.clip(1500);
      ctx.link.cut('blackhole');
      ctx.note('link cut (black hole) before the airing is made: the document cannot reach the receiver');
      const a = await programAiring(ctx, { clips: [clip], at: (now) => now + 1000, late: 'skip' });
      try {
        await sleepUntil(a.at + 2500);
        ctx.link.restore();
        ctx.note('link restored 2.5 s after the instant (the tolerance is 2 s)');
        const m = await firstReport(ctx, a.airingId, a.from, 15_000);
        check(
          m.json?.state === 'missed' && m.json.reason === 'late',
          `expected missed/late first, got ${line(m.json!)}`,
        );
        const ended = await waitAiring(ctx, a.airingId, 'ended', { from: a.from, timeoutMs: 5000 });
        const reports = reportsOf(ctx, a.airingId, a.from);
        ctx.saw(`reports: ${reports.map(line).join(' → ')}`);
        check(
          ended.json?.outcome === 'missed',
          `ended with outcome ${String(ended.json?.outcome)}, not missed`,
        );
        check(!reports.some((r) => r.state === 'started'), 'it started the airing it reported missed');
      } finally {
        await a.remove();
      }
    },
  },
  {
    id: 'schedule.quiet_hours',
    failsWith: 'ignore-quiet-hours',
    section: '§13.10',
    level: 'MUST',
    title: 'inside the quiet hours of its zone a normal play is rejected/quiet_hours; an emergency plays',
    timeoutMs: 30_000,
    run: async (ctx) => {
      const removeQuiet = await quietHoursNow(ctx);
      try {
        const normal = await ctx.play();
        const from = ctx.seen.mark();
        await ctx.send(ctx.rx.topics.cmd, normal);
        const first = await ctx.seen.waitFor(
          `its report on command ${normal.id}`,
          (m) => m.leaf === 'event' && m.json?.commandId === normal.id,
          { from },
        );
        const e = first.json!;
        ctx.saw(`normal play: ${String(e.state)}${e.reason ? `/${String(e.reason)}` : ''}`);
        check(
          e.state === 'rejected' && e.reason === 'quiet_hours',
          `expected rejected/quiet_hours for the normal play, got ${String(e.state)}${e.reason ? `/${String(e.reason)}` : ''}`,
        );
        const emergency = await ctx.play({ priority: 'emergency' });
        await ctx.send(ctx.rx.topics.cmd, emergency);
        const started = await ctx.seen.waitForEvent(emergency.id, 'started', { from, timeoutMs: 10_000 });
        ctx.saw(`emergency play: started play ${String(started.play)}`);
        const acted = ctx.seen
          .events(from)
          .filter((x) => x.commandId === normal.id && x.state !== 'rejected');
        check(
          acted.length === 0,
          `it acted on the refused play: ${acted.map((x) => String(x.state)).join(', ')}`,
        );
      } finally {
        await removeQuiet();
      }
    },
  },
];

export function sleepUntil(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms - Date.now())));
}

/**
 * The airing's first item `started` at its instant: offsetMs 0, its `at` within 50 ms of the
 * planned instant, and (with `arrivalMs`, on loopback) the report here within that much after it.
 */
export async function checkStart(
  ctx: CaseContext,
  a: KitAiring,
  o: { arrivalMs?: number; timeoutMs?: number; atMs?: number } = {},
): Promise<Seen> {
  // `at` within 50 ms of the instant (§15), unless the case judges something coarser.
  const atMs = o.atMs ?? 50;
  // Its first word after `ready`: the start, or (failing) whatever came instead.
  const m = await firstReport(ctx, a.airingId, a.from, o.timeoutMs ?? Math.max(0, a.at - Date.now()) + 3000);
  const j = m.json!;
  check(j.state === 'started', `its first report after ready was ${line(j)}, not started`);
  const reportedAt = Date.parse(String(j.at));
  const arrival = ctx.seen.t0 + m.atMs;
  ctx.saw(
    `started item ${String(j.item)} offsetMs ${String(j.offsetMs)}: its at is ${reportedAt - a.at} ms from the planned instant; the report came ${arrival - a.at} ms after it`,
  );
  check(j.item === 0 && (j.offsetMs ?? 0) === 0, `expected item 0 at offsetMs 0, got ${line(j)}`);
  check(
    Math.abs(reportedAt - a.at) <= atMs,
    `its at is ${reportedAt - a.at} ms from the planned instant (±${atMs} ms)`,
  );
  check(arrival >= a.at - 50, `the started report came ${a.at - arrival} ms before the instant`);
  if (o.arrivalMs !== undefined)
    check(
      arrival - a.at <= o.arrivalMs,
      `the started report came ${arrival - a.at} ms after the instant (at most ${o.arrivalMs} ms on loopback)`,
    );
  return m;
}

/**
 * The link restored after the instant of `a` (cut before it): once the receiver is online again
 * (a session above `session`), its reports show the airing started on time — reported only after
 * the link came back — and aired whole.
 */
export async function airedAcrossCut(
  ctx: CaseContext,
  a: KitAiring,
  clip: Clip,
  session: number | null,
): Promise<void> {
  ctx.link.restore();
  const restoredAt = Date.now();
  ctx.note('link restored 1.5 s after the instant');
  await ctx.online({ after: session, timeoutMs: 15_000 });
  const started = await checkStart(ctx, a, { timeoutMs: 10_000 });
  check(
    ctx.seen.t0 + started.atMs >= restoredAt,
    'the started report arrived while the link was cut: the cut did not hold',
  );
  await checkAired(ctx, a, clip);
}

/** Then `finished` item 0 with the clip's sha256 and `ended` outcome aired. */
async function checkAired(ctx: CaseContext, a: KitAiring, clip: Clip): Promise<void> {
  const ended = await waitAiring(ctx, a.airingId, 'ended', {
    from: a.from,
    timeoutMs: clip.durationMs + 8000,
  });
  const reports = reportsOf(ctx, a.airingId, a.from);
  ctx.saw(`reports: ${reports.map(line).join(' → ')}`);
  const finished = reports.find((r) => r.state === 'finished' && r.item === 0);
  check(finished, 'no finished for item 0');
  check(
    finished.sha256 === clip.uploadSha256,
    `finished carries sha256 ${String(finished.sha256)}, not the item's ${clip.uploadSha256}`,
  );
  check(ended.json?.outcome === 'aired', `ended with outcome ${String(ended.json?.outcome)}, not aired`);
}
