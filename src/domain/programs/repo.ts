/** SQL for programs, airings and each receiver's part in them. Rows in, plain objects out. */
import type { Db } from '../../storage/db.js';
import type { AiringItem } from './items.js';
import type { ProgramInput, ProgramTarget, QuietHours } from './schema.js';

export interface ProgramRecord {
  id: string;
  title: string;
  /** the approved definition that airs; null until first approved */
  body: ProgramInput | null;
  /** an edit waiting for approval */
  pending: ProgramInput | null;
  approvalId: string | null;
  version: number;
  source: 'api' | 'file';
  sourceFile: string | null;
  createdAt: string;
  createdBy: string | null;
  updatedAt: string;
  updatedBy: string | null;
}

interface ProgramRow {
  id: string;
  title: string;
  body: string | null;
  pending: string | null;
  approval_id: string | null;
  version: number;
  source: 'api' | 'file';
  source_file: string | null;
  created_at: string;
  created_by: string | null;
  updated_at: string;
  updated_by: string | null;
}

const toProgram = (r: ProgramRow): ProgramRecord => ({
  id: r.id,
  title: r.title,
  body: r.body ? (JSON.parse(r.body) as ProgramInput) : null,
  pending: r.pending ? (JSON.parse(r.pending) as ProgramInput) : null,
  approvalId: r.approval_id,
  version: r.version,
  source: r.source,
  sourceFile: r.source_file,
  createdAt: r.created_at,
  createdBy: r.created_by,
  updatedAt: r.updated_at,
  updatedBy: r.updated_by,
});

export interface AiringRecord {
  id: string;
  programId: string;
  occurrence: string;
  programVersion: number;
  title: string;
  priority: 'normal' | 'priority' | 'emergency';
  at: string;
  local: string;
  windowEnd: string;
  durationMs: number;
  items: AiringItem[];
  problems: string[];
  target: ProgramTarget;
  graceMs: number;
  late: 'join' | 'skip';
  resume: 'where_stopped' | 'item_start';
  volume: number | null;
  status: 'scheduled' | 'cancelled' | 'suspended';
  shifted: boolean;
  adjusted: string | null;
}

interface AiringRow {
  id: string;
  program_id: string;
  occurrence: string;
  program_version: number;
  title: string;
  priority: AiringRecord['priority'];
  at: string;
  local: string;
  window_end: string;
  duration_ms: number;
  items: string;
  problems: string;
  target: string;
  grace_ms: number;
  late: AiringRecord['late'];
  resume: AiringRecord['resume'];
  volume: number | null;
  status: AiringRecord['status'];
  shifted: number;
  adjusted: string | null;
}

export const toAiring = (r: AiringRow): AiringRecord => ({
  id: r.id,
  programId: r.program_id,
  occurrence: r.occurrence,
  programVersion: r.program_version,
  title: r.title,
  priority: r.priority,
  at: r.at,
  local: r.local,
  windowEnd: r.window_end,
  durationMs: r.duration_ms,
  items: JSON.parse(r.items) as AiringItem[],
  problems: JSON.parse(r.problems) as string[],
  target: JSON.parse(r.target) as ProgramTarget,
  graceMs: r.grace_ms,
  late: r.late,
  resume: r.resume,
  volume: r.volume,
  status: r.status,
  shifted: r.shifted === 1,
  adjusted: r.adjusted,
});

export interface AiringReceiverRecord {
  receiverId: string;
  state: string;
  outcome: 'aired' | 'cut' | 'missed' | null;
  reason: string | null;
  readyAt: string | null;
  startedAt: string | null;
  endedAt: string | null;
  /** concluded by the controller from a deadline, not reported by the receiver */
  concluded: boolean;
  updatedAt: string;
}

export type AiringFields = Omit<AiringRecord, 'status' | 'shifted'>;

/** A village's quiet hours, and its schedule suspended over [suspendedFrom, suspendedUntil). */
export interface ZoneSchedule {
  zoneId: string;
  quiet: QuietHours[];
  /** null with an until: from now on */
  suspendedFrom: string | null;
  /** null: not suspended */
  suspendedUntil: string | null;
  suspendReason: string | null;
  sourceFile: string | null;
}
interface ZoneScheduleRow {
  zone_id: string;
  quiet: string;
  suspended_from: string | null;
  suspended_until: string | null;
  suspend_reason: string | null;
  source_file: string | null;
}

/** Whether a village's schedule is suspended at instant `at`. */
export const suspendedAt = (z: ZoneSchedule | undefined, at: number): boolean =>
  Boolean(
    z?.suspendedUntil &&
      at < Date.parse(z.suspendedUntil) &&
      (!z.suspendedFrom || at >= Date.parse(z.suspendedFrom)),
  );

export function createProgramRepo(db: Db) {
  const s = {
    list: db.prepare<[], ProgramRow>('SELECT * FROM programs WHERE deleted_at IS NULL ORDER BY title, id'),
    get: db.prepare<[string], ProgramRow>('SELECT * FROM programs WHERE id = ? AND deleted_at IS NULL'),
    getAny: db.prepare<[string], ProgramRow>('SELECT * FROM programs WHERE id = ?'),
    insert: db.prepare(
      `INSERT INTO programs (id, title, body, pending, approval_id, version, source, source_file,
         created_at, created_by, updated_at, updated_by)
       VALUES (@id, @title, @body, @pending, @approval_id, @version, @source, @source_file,
         @now, @user, @now, @user)
       ON CONFLICT(id) DO UPDATE SET title = excluded.title, body = excluded.body,
         pending = excluded.pending, approval_id = excluded.approval_id, version = excluded.version,
         source = excluded.source, source_file = excluded.source_file, updated_at = excluded.updated_at,
         updated_by = excluded.updated_by, deleted_at = NULL`,
    ),
    remove: db.prepare<[string, string]>('UPDATE programs SET deleted_at = ? WHERE id = ?'),
    airingsOf: db.prepare<[string], AiringRow>('SELECT * FROM airings WHERE program_id = ? ORDER BY at'),
    airing: db.prepare<[string], AiringRow>('SELECT * FROM airings WHERE id = ?'),
    airingByKey: db.prepare<[string, string], AiringRow>(
      'SELECT * FROM airings WHERE program_id = ? AND occurrence = ?',
    ),
    insertAiring: db.prepare(
      `INSERT INTO airings (id, program_id, occurrence, program_version, title, priority, at, local,
         window_end, duration_ms, items, problems, target, grace_ms, late, resume, volume, adjusted,
         created_at, updated_at)
       VALUES (@id, @programId, @occurrence, @programVersion, @title, @priority, @at, @local,
         @windowEnd, @durationMs, @items, @problems, @target, @graceMs, @late, @resume, @volume,
         @adjusted, @now, @now)
       ON CONFLICT(program_id, occurrence) DO NOTHING`,
    ),
    updateAiring: db.prepare(
      `UPDATE airings SET program_version = @programVersion, title = @title, priority = @priority,
         at = @at, local = @local, window_end = @windowEnd, duration_ms = @durationMs, items = @items,
         problems = @problems, target = @target, grace_ms = @graceMs, late = @late, resume = @resume,
         volume = @volume, adjusted = @adjusted, status = @status, updated_at = @now
       WHERE id = @id`,
    ),
    setStatus: db.prepare<[string, string, string]>(
      'UPDATE airings SET status = ?, updated_at = ? WHERE id = ?',
    ),
    shift: db.prepare<[string, string, string, string]>(
      'UPDATE airings SET at = ?, window_end = ?, shifted = 1, updated_at = ? WHERE id = ?',
    ),
    /** airings that may still concern a receiver: not over yet, starting before `until` */
    live: db.prepare<[string, string], AiringRow>(
      `SELECT * FROM airings WHERE window_end > ? AND at < ? AND status = 'scheduled' ORDER BY at, id`,
    ),
    between: db.prepare<[string, string], AiringRow>(
      'SELECT * FROM airings WHERE at >= ? AND at < ? ORDER BY at, id LIMIT 5000',
    ),
    receivers: db.prepare<[string], AiringReceiverRow>(
      'SELECT * FROM airing_receivers WHERE airing_id = ? ORDER BY receiver_id',
    ),
    zones: db.prepare<[], ZoneScheduleRow>(
      `SELECT zone_id, quiet, suspended_from, suspended_until, suspend_reason, source_file
       FROM zone_schedule`,
    ),
    setQuiet: db.prepare<[string, string, string | null]>(
      `INSERT INTO zone_schedule (zone_id, quiet, source_file) VALUES (?, ?, ?)
       ON CONFLICT(zone_id) DO UPDATE SET quiet = excluded.quiet, source_file = excluded.source_file`,
    ),
    suspend: db.prepare<[string, string | null, string | null, string | null]>(
      `INSERT INTO zone_schedule (zone_id, suspended_from, suspended_until, suspend_reason)
       VALUES (?, ?, ?, ?)
       ON CONFLICT(zone_id) DO UPDATE SET suspended_from = excluded.suspended_from,
         suspended_until = excluded.suspended_until, suspend_reason = excluded.suspend_reason`,
    ),
  };

  const airingParams = (a: AiringFields, now: string) => ({
    id: a.id,
    programId: a.programId,
    occurrence: a.occurrence,
    programVersion: a.programVersion,
    title: a.title,
    priority: a.priority,
    at: a.at,
    local: a.local,
    windowEnd: a.windowEnd,
    durationMs: a.durationMs,
    items: JSON.stringify(a.items),
    problems: JSON.stringify(a.problems),
    target: JSON.stringify(a.target),
    graceMs: a.graceMs,
    late: a.late,
    resume: a.resume,
    volume: a.volume,
    adjusted: a.adjusted,
    now,
  });

  return {
    list: () => s.list.all().map(toProgram),
    get: (id: string) => {
      const r = s.get.get(id);
      return r ? toProgram(r) : null;
    },
    /** also a deleted one (its airings stay in the as-run log) */
    getAny: (id: string) => {
      const r = s.getAny.get(id);
      return r ? toProgram(r) : null;
    },
    save(
      p: Omit<ProgramRecord, 'createdAt' | 'createdBy' | 'updatedAt' | 'updatedBy'>,
      now: string,
      user: string | null,
    ) {
      s.insert.run({
        id: p.id,
        title: p.title,
        body: p.body ? JSON.stringify(p.body) : null,
        pending: p.pending ? JSON.stringify(p.pending) : null,
        approval_id: p.approvalId,
        version: p.version,
        source: p.source,
        source_file: p.sourceFile,
        now,
        user,
      });
    },
    remove: (id: string, now: string) => s.remove.run(now, id),
    airingsOf: (programId: string) => s.airingsOf.all(programId).map(toAiring),
    airing: (id: string) => {
      const r = s.airing.get(id);
      return r ? toAiring(r) : null;
    },
    airingByKey: (programId: string, occurrence: string) => {
      const r = s.airingByKey.get(programId, occurrence);
      return r ? toAiring(r) : null;
    },
    insertAiring: (a: AiringFields, now: string) => s.insertAiring.run(airingParams(a, now)).changes > 0,
    updateAiring: (a: AiringFields & { status: AiringRecord['status'] }, now: string) =>
      s.updateAiring.run({ ...airingParams(a, now), status: a.status }),
    setStatus: (id: string, status: AiringRecord['status'], now: string) => s.setStatus.run(status, now, id),
    shift: (id: string, at: string, windowEnd: string, now: string) => s.shift.run(at, windowEnd, now, id),
    live: (from: string, until: string) => s.live.all(from, until).map(toAiring),
    between: (from: string, to: string) => s.between.all(from, to).map(toAiring),
    receivers: (airingId: string) => s.receivers.all(airingId).map(toAiringReceiver),
    zoneSchedules(): ZoneSchedule[] {
      return s.zones.all().map((r) => ({
        zoneId: r.zone_id,
        quiet: JSON.parse(r.quiet) as QuietHours[],
        suspendedFrom: r.suspended_from,
        suspendedUntil: r.suspended_until,
        suspendReason: r.suspend_reason,
        sourceFile: r.source_file,
      }));
    },
    setQuiet: (zoneId: string, quiet: QuietHours[], sourceFile: string | null) =>
      s.setQuiet.run(zoneId, JSON.stringify(quiet), sourceFile),
    /** suspends over [from, until) (from null: from now on); `null` resumes */
    suspend: (zoneId: string, w: { from: string | null; until: string; reason: string | null } | null) =>
      s.suspend.run(zoneId, w?.from ?? null, w?.until ?? null, w?.reason ?? null),
  };
}
export type ProgramRepo = ReturnType<typeof createProgramRepo>;

interface AiringReceiverRow {
  receiver_id: string;
  state: string;
  outcome: AiringReceiverRecord['outcome'];
  reason: string | null;
  ready_at: string | null;
  started_at: string | null;
  ended_at: string | null;
  concluded: number;
  updated_at: string;
}

const toAiringReceiver = (r: AiringReceiverRow): AiringReceiverRecord => ({
  receiverId: r.receiver_id,
  state: r.state,
  outcome: r.outcome,
  reason: r.reason,
  readyAt: r.ready_at,
  startedAt: r.started_at,
  endedAt: r.ended_at,
  concluded: r.concluded === 1,
  updatedAt: r.updated_at,
});
