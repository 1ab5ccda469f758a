/**
 * The broadcast plan (lịch phát): programs, their airings, and each receiver's schedule document.
 *
 * A node-cron heartbeat (every minute) keeps the airings table filled for the horizon, concludes
 * airings whose deadline passed, and republishes the documents of receivers whose schedule
 * changed. Any change (a program saved, a receiver adopted or moved, audio arriving) asks for the
 * same refresh at once. Airings whose instant has passed are facts: never rewritten.
 */
import { EventEmitter } from 'node:events';
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import type { Topics } from '../../contract/mqtt.js';
import { type ScheduleDoc, scheduleDocSchema } from '../../contract/schedule.js';
import { type SigningKey, seal } from '../../contract/signing.js';
import { badRequest, conflict, notFound } from '../../errors.js';
import type { Publisher } from '../../mqtt/client.js';
import type { Db } from '../../storage/db.js';
import type { Sequence } from '../../storage/sequence.js';
import type { Clock } from '../../time/clock.js';
import type { AudioLibrary } from '../audio/library.js';
import type { Fleet } from '../fleet/fleet.js';
import { buildDocument, sealWithinLimit } from './documents.js';
import { audioLookup, quietIntervals } from './items.js';
import { type AiringReportEvent, createOutcomes } from './outcomes.js';
import { applyOrders, type Clash, findClashes, type PlannedAiring, planProgram } from './planner.js';
import { type AiringRecord, createProgramRepo, type ProgramRecord, suspendedAt } from './repo.js';
import type { ProgramInput, QuietHours } from './schema.js';

const DAY = 86_400_000;
/** how far back airings are still planned (a program edited now still finds today's airing) */
const PAST_MS = DAY;
/** how far ahead a save looks for clashes */
export const CLASH_LOOKAHEAD_MS = 14 * DAY;

export interface ScheduleEvents {
  /** a receiver reported about an airing */
  airing: [AiringReportEvent];
  /** a receiver acknowledged (or refused) its schedule document */
  schedule: [receiverId: string, state: 'applied' | 'rejected', version: number];
  /** a document was published for a receiver */
  published: [receiverId: string, version: number];
}

export interface Suspension {
  from: Date | null;
  until: Date;
  reason: string | null;
}

export interface ScheduleService extends EventEmitter<ScheduleEvents> {
  start(): void;
  stop(): void;
  /** plans, concludes and republishes now (the heartbeat's work); resolves when published */
  refresh(): Promise<{ published: number }>;
  /** asks for a refresh soon (coalesced) */
  changed(): void;
  handleReport(receiverId: string, payload: Buffer): void;
  programs: ReturnType<typeof createProgramRepo>;
  /** saves a program's approved definition (new or changed); refuses unresolved clashes */
  saveProgram(
    id: string,
    body: ProgramInput,
    opts: { user: string | null; source: 'api' | 'file'; sourceFile?: string | null; force?: boolean },
  ): ProgramRecord;
  deleteProgram(id: string, user: string | null): void;
  /** The checks an API save makes (file ownership, clashes), for a request filed for approval. */
  assertSavable(id: string, body: ProgramInput): void;
  /** the airings a definition would have in [from, to), and its clashes, without saving */
  preview(
    id: string | null,
    body: ProgramInput,
    days: number,
  ): { airings: PlannedAiring[]; clashes: Clash[] };
  /**
   * Airings the programs will have in [from, to) that are not written yet (past the receivers'
   * horizon), orders applied: for a calendar further ahead than the horizon.
   */
  plannedBetween(from: number, to: number): PlannedAiring[];
  cancelAiring(id: string): AiringRecord;
  shiftAiring(id: string, to: Date): AiringRecord;
  setQuietHours(zoneId: string, quiet: QuietHours[], sourceFile: string | null): void;
  /**
   * Suspends a village's schedule over [from, until) — from null: from now on — with the officer's
   * reason; `null` resumes it. Its receivers are sent their schedules without those airings.
   */
  suspendZone(zoneId: string, window: Suspension | null): void;
  /** A checker: the zones of `target` whose schedule is suspended at `at` (sorted). */
  suspendedZones(): (target: AiringRecord['target'], at: number) => string[];
  timeZone: string;
  now(): number;
}

export function createScheduleService(deps: {
  db: Db;
  log: Logger;
  fleet: Fleet;
  audio: AudioLibrary;
  publisher: Publisher;
  topics: Topics;
  commandKey: () => SigningKey;
  sequence: Sequence;
  clock: Clock;
  timeZone: string;
  horizonMs: number;
  prefetchMs: number;
  /** the heartbeat's cron expression (default every minute) */
  heartbeat?: string;
}): ScheduleService {
  const { db, log, fleet, timeZone } = deps;
  // Whole milliseconds: a scaled clock has fractions, instants in the database do not.
  const clock = { now: () => Math.floor(deps.clock.now()) };
  const repo = createProgramRepo(db);
  const lookup = audioLookup(db);
  const outcomes = createOutcomes({ db, log, isOnline: (id) => fleet.isOnline(id) });
  const events = new EventEmitter<ScheduleEvents>();
  let task: ScheduledTask | null = null;
  let pending: Promise<{ published: number }> | null = null;
  let again = false;
  let soon: NodeJS.Timeout | undefined;
  let stopped = false;
  // The first publication after a start goes to every receiver: a broker that keeps retained
  // messages in memory (the embedded one) lost them with the restart.
  let republishAll = true;

  const s = {
    schedule: db.prepare<[string], { version: number; digest: string; horizon_until: string }>(
      'SELECT version, digest, horizon_until FROM receiver_schedules WHERE receiver_id = ?',
    ),
    scheduled: db.prepare<[], { receiver_id: string }>('SELECT receiver_id FROM receiver_schedules'),
    forget: db.prepare<[string]>('DELETE FROM receiver_schedules WHERE receiver_id = ?'),
    saveSchedule: db.prepare(
      `INSERT INTO receiver_schedules (receiver_id, version, digest, sent_at, horizon_until, airings)
       VALUES (@receiverId, @version, @digest, @now, @until, @airings)
       ON CONFLICT(receiver_id) DO UPDATE SET version = excluded.version, digest = excluded.digest,
         sent_at = excluded.sent_at, horizon_until = excluded.horizon_until, airings = excluded.airings`,
    ),
    holds: db.prepare<[string, string, string]>(
      `INSERT INTO airing_receivers (airing_id, receiver_id, state, updated_at) VALUES (?, ?, 'scheduled', ?)
       ON CONFLICT DO NOTHING`,
    ),
    dropped: db.prepare<[string, string], { airing_id: string }>(
      `SELECT ar.airing_id FROM airing_receivers ar JOIN airings a ON a.id = ar.airing_id
       WHERE ar.receiver_id = ? AND ar.state IN ('scheduled', 'ready') AND a.at > ?`,
    ),
    unhold: db.prepare<[string, string]>(
      `DELETE FROM airing_receivers WHERE airing_id = ? AND receiver_id = ? AND state IN ('scheduled', 'ready')`,
    ),
  };

  const iso = (ms: number) => new Date(ms).toISOString();
  const zoneOf = (id: string): string | null => {
    try {
      return fleet.getReceiver(id).zoneId;
    } catch {
      return null;
    }
  };

  /** Every program's airings over the window, with the officers' orders applied. */
  function planAll(now: number, to: number) {
    const plans = new Map<string, { program: ProgramRecord; body: ProgramInput; airings: PlannedAiring[] }>();
    for (const p of repo.list()) {
      if (!p.body) continue;
      plans.set(p.id, {
        program: p,
        body: p.body,
        airings: planProgram(p.id, p.version, p.body, timeZone, now - PAST_MS, to, lookup),
      });
    }
    const skipped = applyOrders(plans, zoneOf);
    return { plans, skipped };
  }

  /** The zones of `target` whose quiet hours hold the instant `at` (within [from, to)). */
  function quietChecker(from: number, to: number) {
    const zones = repo.zoneSchedules().filter((z) => z.quiet.length > 0);
    const intervals = new Map(zones.map((z) => [z.zoneId, quietIntervals(z.quiet, timeZone, from, to)]));
    return (target: AiringRecord['target'], at: number): string[] => {
      if (intervals.size === 0) return [];
      const ids = target.all
        ? [...intervals.keys()]
        : [...new Set([...(target.zones ?? []), ...(target.receivers ?? []).map((r) => zoneOf(r) ?? '')])];
      return ids.filter((id) => intervals.get(id)?.some((q) => at >= q.start && at < q.end)).sort();
    };
  }

  const sameAiring = (a: AiringRecord, b: PlannedAiring) =>
    a.at === b.at &&
    a.windowEnd === b.windowEnd &&
    a.title === b.title &&
    a.priority === b.priority &&
    a.late === b.late &&
    a.resume === b.resume &&
    a.volume === b.volume &&
    JSON.stringify(a.items) === JSON.stringify(b.items) &&
    JSON.stringify(a.target) === JSON.stringify(b.target) &&
    JSON.stringify(a.problems) === JSON.stringify(b.problems);

  /** Writes the plan: new airings inserted, future ones updated or cancelled, past ones left alone. */
  const writePlan = db.transaction((now: number) => {
    const nowIso = iso(now);
    const { plans, skipped } = planAll(now, now + deps.horizonMs);
    const quietAt = quietChecker(now - PAST_MS, now + deps.horizonMs);
    const live = new Set<string>();
    for (const { program, airings } of plans.values()) {
      for (const a of airings) {
        // Said when planned, so the officer sees it before the night: the receivers will not start it.
        if (a.priority !== 'emergency') {
          const quiet = quietAt(a.target, Date.parse(a.at));
          if (quiet.length)
            a.problems = [
              ...a.problems,
              `starts inside the quiet hours of ${quiet.join(', ')}: it will not air there`,
            ];
        }
        const key = `${a.programId}/${a.occurrence}`;
        live.add(key);
        const row = repo.airingByKey(a.programId, a.occurrence);
        const status = skipped.has(key) ? 'cancelled' : 'scheduled';
        if (!row) {
          if (status === 'scheduled') repo.insertAiring(a, nowIso);
          continue;
        }
        if (Date.parse(row.at) <= now) continue; // a fact now
        if (row.status === 'suspended') continue;
        const planned = row.shifted
          ? {
              ...a,
              at: row.at,
              windowEnd: iso(Date.parse(row.at) + a.durationMs + a.graceMs),
            }
          : a;
        if (row.status === 'cancelled' && status === 'scheduled' && row.programVersion === program.version)
          continue; // cancelled by an officer
        if (sameAiring(row, planned) && row.status === status) continue;
        repo.updateAiring({ ...planned, id: row.id, status }, nowIso);
      }
    }
    // Future airings their program no longer has (edited, disabled, deleted) do not air.
    for (const row of repo.live(nowIso, iso(now + deps.horizonMs * 2))) {
      if (Date.parse(row.at) <= now) continue;
      if (!live.has(`${row.programId}/${row.occurrence}`)) repo.setStatus(row.id, 'cancelled', nowIso);
    }
  });

  /** Builds and publishes the documents that changed; returns how many went out. */
  async function publishDocuments(now: number): Promise<number> {
    const until = now + deps.horizonMs;
    const live = repo.live(iso(now), iso(until)).filter((a) => a.items.length > 0);
    const zones = new Map(repo.zoneSchedules().map((z) => [z.zoneId, z]));
    const quietByZone = new Map<string, { start: number; end: number }[]>();
    const sends: Promise<void>[] = [];
    let count = 0;
    // One transaction for the whole fleet's bookkeeping (a thousand small ones cost more than the signing).
    db.transaction(() => {
      for (const r of fleet.listReceivers()) {
        if (r.adoption !== 'adopted') continue;
        const zone = r.zoneId ? zones.get(r.zoneId) : undefined;
        const mine = live.filter(
          (a) =>
            (a.target.all ||
              (r.zoneId && a.target.zones?.includes(r.zoneId)) ||
              a.target.receivers?.includes(r.id)) &&
            !suspendedAt(zone, Date.parse(a.at)),
        );
        let quiet = r.zoneId ? quietByZone.get(r.zoneId) : [];
        if (!quiet) {
          quiet = quietIntervals(zone?.quiet ?? [], timeZone, now, until);
          if (r.zoneId) quietByZone.set(r.zoneId, quiet);
        }
        const { body, digest } = buildDocument({
          receiverId: r.id,
          airings: mine,
          quiet,
          from: now,
          until,
          prefetchMs: deps.prefetchMs,
          signedUrl: (id, exp) => deps.audio.signedUrl(id, exp),
        });
        const prev = s.schedule.get(r.id);
        const fresh =
          prev && prev.digest === digest && Date.parse(prev.horizon_until) - now > deps.horizonMs / 2;
        if (fresh && !republishAll) continue;
        const topic = deps.topics.receiverSchedule(r.id);
        const key = deps.commandKey();
        const { payload, doc } = sealWithinLimit(body, deps.sequence.next(), iso(now), (d: ScheduleDoc) =>
          seal(key, topic, d),
        );
        // The controller checks its own document against the contract before any receiver sees it.
        const own = scheduleDocSchema.safeParse(doc);
        if (!own.success) {
          log.error(
            { receiverId: r.id, issues: own.error.issues.slice(0, 5) },
            'schedule: own document breaks the contract; not sent',
          );
          continue;
        }
        const held = new Set(doc.airings.map((a) => a.id));
        db.transaction(() => {
          s.saveSchedule.run({
            receiverId: r.id,
            version: doc.version,
            digest,
            now: iso(now),
            until: doc.until,
            airings: doc.airings.length,
          });
          for (const id of held) s.holds.run(id, r.id, iso(now));
          for (const { airing_id } of s.dropped.all(r.id, iso(now)))
            if (!held.has(airing_id)) s.unhold.run(airing_id, r.id);
        })();
        count++;
        const version = doc.version;
        sends.push(
          deps.publisher
            .publish(topic, payload, { qos: 1, retain: true })
            .then(() => {
              events.emit('published', r.id, version);
            })
            .catch((err: unknown) => log.warn({ err, receiverId: r.id }, 'schedule: document not published')),
        );
      }
      // A receiver removed (or no longer adopted) keeps no schedule at the broker: the retained
      // document is cleared (an empty retained message), so nothing is handed to a device that
      // reconnects with that id.
      const adopted = new Set(fleet.adoptedIds());
      for (const { receiver_id } of s.scheduled.all()) {
        if (adopted.has(receiver_id)) continue;
        s.forget.run(receiver_id);
        sends.push(
          deps.publisher
            .publish(deps.topics.receiverSchedule(receiver_id), '', { qos: 1, retain: true })
            .catch((err: unknown) =>
              log.warn({ err, receiverId: receiver_id }, 'schedule: retained document not cleared'),
            ),
        );
      }
    })();
    await Promise.all(sends);
    republishAll = false;
    return count;
  }

  const inbox: { receiverId: string; payload: Buffer; now: string }[] = [];
  function flushInbox(): void {
    const batch = inbox.splice(0);
    let results: { receiverId: string; r: ReturnType<typeof outcomes.handle> }[] = [];
    try {
      results = db.transaction(() =>
        batch.map((m) => ({ receiverId: m.receiverId, r: outcomes.handle(m.receiverId, m.payload, m.now) })),
      )();
    } catch (err) {
      log.error({ err, reports: batch.length }, 'schedule: reports not written');
      return;
    }
    for (const { receiverId, r } of results) {
      if (!r) continue;
      if (r.kind === 'schedule') events.emit('schedule', receiverId, r.state, r.version);
      else events.emit('airing', r.report);
    }
  }

  async function refreshOnce(): Promise<{ published: number }> {
    const now = clock.now();
    writePlan(now);
    const concluded = outcomes.concludeDue(now);
    if (concluded) log.info({ concluded }, 'schedule: airings concluded by their deadline');
    const published = await publishDocuments(now);
    if (published) log.info({ published }, 'schedule: documents published');
    return { published };
  }

  function refresh(): Promise<{ published: number }> {
    if (pending) {
      again = true;
      return pending.then(() => refresh());
    }
    pending = refreshOnce().finally(() => {
      pending = null;
      if (again && !stopped) {
        again = false;
        void refresh();
      }
    });
    return pending;
  }

  function changed(): void {
    if (stopped) return;
    clearTimeout(soon);
    soon = setTimeout(() => {
      refresh().catch((err: unknown) => log.error({ err }, 'schedule: refresh failed'));
    }, 20);
  }

  /** Programs from the schedules folder are changed there: the API says which file. */
  function assertNotFromFile(p: ProgramRecord | null, what: 'change' | 'remove'): void {
    if (p?.source !== 'file') return;
    throw conflict(
      'program_from_file',
      `Program "${p.id}" comes from the schedules file ${p.sourceFile ?? '(unknown)'}; ${what} it there and reload.`,
      { file: p.sourceFile },
    );
  }

  /** Refuses a definition that overlaps other programs on shared receivers without an order. */
  function assertNoClash(id: string, body: ProgramInput): void {
    const { clashes } = service.preview(id, body, CLASH_LOOKAHEAD_MS / DAY);
    if (clashes.length)
      throw conflict(
        'schedule_clash',
        `This program overlaps ${new Set(clashes.map((c) => c.title)).size} other program(s) on the same receivers. Say which goes first in "clashes": {"<program id>": "first" | "after" | "skip"}.`,
        { clashes },
      );
  }

  const service = Object.assign(events, {
    timeZone,
    programs: repo,
    now: () => clock.now(),
    start() {
      stopped = false;
      task = cron.schedule(
        deps.heartbeat ?? '* * * * *',
        () => {
          refresh().catch((err: unknown) => log.error({ err }, 'schedule: heartbeat refresh failed'));
        },
        { timezone: timeZone, noOverlap: true, name: 'loalang-schedule-heartbeat' },
      );
      fleet.on('access', () => changed());
      changed();
    },
    stop() {
      stopped = true;
      clearTimeout(soon);
      void task?.stop();
      task = null;
    },
    refresh,
    changed,
    handleReport(receiverId: string, payload: Buffer) {
      // Written in one transaction per event-loop turn: a thousand receivers acknowledging a change,
      // or starting an airing, in the same second are a thousand rows, not a thousand commits. On
      // the embedded broker the acknowledgement to the receiver follows this flush (src/controller.ts).
      inbox.push({ receiverId, payload, now: iso(clock.now()) });
      if (inbox.length === 1) setImmediate(flushInbox);
    },
    assertSavable(id: string, body: ProgramInput) {
      assertNotFromFile(repo.get(id), 'change');
      assertNoClash(id, body);
    },
    saveProgram(
      id: string,
      body: ProgramInput,
      opts: { user: string | null; source: 'api' | 'file'; sourceFile?: string | null; force?: boolean },
    ): ProgramRecord {
      const existing = repo.get(id);
      if (opts.source === 'api') assertNotFromFile(existing, 'change');
      if (!opts.force) assertNoClash(id, body);
      const unchanged = existing && JSON.stringify(existing.body) === JSON.stringify(body);
      repo.save(
        {
          id,
          title: body.title,
          body,
          pending: null,
          approvalId: null,
          version: unchanged ? existing.version : (existing?.version ?? 0) + 1,
          source: opts.source,
          sourceFile: opts.sourceFile ?? null,
        },
        iso(clock.now()),
        opts.user,
      );
      // Its airings exist when the answer goes out; the documents follow at once.
      writePlan(clock.now());
      changed();
      return repo.get(id)!;
    },
    deleteProgram(id: string, _user: string | null) {
      const p = repo.get(id);
      if (!p) throw notFound('program', id);
      assertNotFromFile(p, 'remove');
      repo.remove(id, iso(clock.now()));
      writePlan(clock.now());
      changed();
    },
    preview(id: string | null, body: ProgramInput, days: number) {
      const now = clock.now();
      const to = now + days * DAY;
      const pid = id ?? 'preview';
      const airings = planProgram(pid, 0, body, timeZone, now, to, lookup);
      const others = repo
        .list()
        .filter((p) => p.id !== pid && p.body)
        .map((p) => ({
          program: p,
          airings: planProgram(p.id, p.version, p.body!, timeZone, now, to, lookup),
        }));
      return { airings, clashes: findClashes({ id: pid, body, airings }, others, zoneOf) };
    },
    plannedBetween(from: number, to: number) {
      const now = clock.now();
      const { plans, skipped } = planAll(now, to);
      return [...plans.values()]
        .flatMap((p) => p.airings)
        .filter((a) => {
          const t = Date.parse(a.at);
          if (t < Math.max(from, now) || t >= to) return false;
          return (
            !skipped.has(`${a.programId}/${a.occurrence}`) && !repo.airingByKey(a.programId, a.occurrence)
          );
        })
        .sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    },
    cancelAiring(id: string) {
      const a = repo.airing(id);
      if (!a) throw notFound('airing', id);
      if (Date.parse(a.at) <= clock.now())
        throw conflict(
          'airing_started',
          'This airing has begun or is over; stop it instead (POST /api/stop).',
        );
      repo.setStatus(id, 'cancelled', iso(clock.now()));
      changed();
      return repo.airing(id)!;
    },
    shiftAiring(id: string, to: Date) {
      const a = repo.airing(id);
      if (!a) throw notFound('airing', id);
      const now = clock.now();
      if (Date.parse(a.at) <= now) throw conflict('airing_started', 'This airing has begun or is over.');
      if (to.getTime() <= now) throw badRequest('in_the_past', 'The new start must be in the future.');
      repo.shift(id, to.toISOString(), iso(to.getTime() + a.durationMs + a.graceMs), iso(now));
      changed();
      return repo.airing(id)!;
    },
    setQuietHours(zoneId: string, quiet: QuietHours[], sourceFile: string | null) {
      repo.setQuiet(zoneId, quiet, sourceFile);
      changed();
    },
    suspendZone(zoneId: string, window: Suspension | null) {
      if (window) {
        if (window.until.getTime() <= clock.now())
          throw badRequest('in_the_past', 'The end of the suspension must be in the future.');
        if (window.from && window.from.getTime() >= window.until.getTime())
          throw badRequest(
            'empty_window',
            'The suspension must start before it ends ("from" before "until").',
          );
      }
      repo.suspend(
        zoneId,
        window && {
          from: window.from ? window.from.toISOString() : null,
          until: window.until.toISOString(),
          reason: window.reason,
        },
      );
      changed();
    },
    suspendedZones() {
      const zones = repo.zoneSchedules().filter((z) => z.suspendedUntil);
      return (target: AiringRecord['target'], at: number): string[] => {
        if (zones.length === 0) return [];
        const ids = new Set(
          target.all
            ? zones.map((z) => z.zoneId)
            : [...(target.zones ?? []), ...(target.receivers ?? []).map((r: string) => zoneOf(r) ?? '')],
        );
        return zones
          .filter((z) => ids.has(z.zoneId) && suspendedAt(z, at))
          .map((z) => z.zoneId)
          .sort();
      };
    },
  });
  return service;
}
