/**
 * The approval workflow: nothing an editor makes airs before an approver has seen it (Circular 39's
 * creator → approver practice, per priority: APPROVAL_PRIORITIES), and a bulletin of a priority in
 * CONFIRM_PRIORITIES that reaches every village needs a second step (EMERGENCY_ALL_CONFIRM): the
 * sender's PIN, or a second officer — so one stolen phone cannot sound every horn. "Reaches every
 * village" counts what that officer sent within CONFIRM_WINDOW_S too, so the horns cannot be
 * sounded a few villages at a time either. Nobody approves their own request.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Confirmations } from '../../auth/confirmations.js';
import { hasRole, type Principal } from '../../auth/roles.js';
import { assertTargetInScope, targetScopeSql } from '../../auth/scope.js';
import type { UserStore } from '../../auth/users.js';
import type { Priority } from '../../contract/mqtt.js';
import { AppError, badRequest, notFound } from '../../errors.js';
import { type Db, nowIso } from '../../storage/db.js';
import { type AudioLibrary, assertPlayable } from '../audio/library.js';
import type { BulletinDetail, BulletinService, CreateBulletinInput } from '../bulletins/service.js';
import { resolveTargets } from '../bulletins/targets.js';
import type { Fleet } from '../fleet/fleet.js';
import type { ProgramRecord } from '../programs/repo.js';
import type { ProgramInput } from '../programs/schema.js';

/** A request for a bulletin, as the officer made it (without who made it). */
export type BulletinRequest = Omit<CreateBulletinInput, 'userId' | 'approvedBy'>;
/** A program (new, or a change to one) as an editor made it. */
export type ProgramRequest = ProgramInput & { programId: string };

/** Where approved programs go: the schedule service saves them as their approved version. */
export interface ProgramSink {
  save(id: string, body: ProgramInput, user: string): ProgramRecord;
}

/** editor: an editor's content; emergency_all: the second officer's confirmation; cap_alert: a CAP alert waiting for an officer */
export type ApprovalReason = 'editor' | 'emergency_all' | 'cap_alert';
export type ApprovalStatus = 'pending' | 'approved' | 'rejected' | 'withdrawn' | 'expired';

export interface Approval {
  id: string;
  kind: 'bulletin' | 'program';
  reason: ApprovalReason;
  /** a BulletinRequest, or a ProgramRequest when kind is 'program' */
  request: BulletinRequest | ProgramRequest;
  title: string;
  priority: Priority;
  status: ApprovalStatus;
  createdBy: string;
  /** the requester's full name, else username (null: the account is gone) */
  createdByName: string | null;
  createdAt: string;
  expiresAt: string;
  decidedBy: string | null;
  /** the decider's full name, else username */
  decidedByName: string | null;
  decidedAt: string | null;
  note: string | null;
  bulletinId: string | null;
  programId: string | null;
}

export type SubmitResult =
  | { kind: 'sent'; bulletin: BulletinDetail }
  | { kind: 'pending'; approval: Approval };

export interface ApprovalService {
  /** Sends a bulletin now, or files it for approval; throws 428 when a PIN is needed and missing. */
  submit(
    request: BulletinRequest,
    by: Principal,
    confirm?: { pin?: string | undefined; token?: string | undefined },
  ): Promise<SubmitResult>;
  /** Newest first; with `zones`, only requests whose target touches those zones. */
  list(filter: {
    status?: ApprovalStatus | undefined;
    zones?: readonly string[] | null | undefined;
    limit: number;
    offset: number;
  }): Approval[];
  get(id: string): Approval;
  approve(
    id: string,
    by: Principal,
    note?: string,
  ): Promise<{ approval: Approval; bulletin?: BulletinDetail; program?: ProgramRecord }>;
  /**
   * Files a bulletin that waits for an officer whatever its sender may do (a CAP alert whose mapped
   * priority does not air at once): an operator, approver or admin sends it by approving it.
   */
  fileAlert(request: BulletinRequest, by: Principal): Approval;
  /** Files an editor's program (or change) for an approver; nothing of it airs before. */
  fileProgram(request: ProgramRequest, by: Principal): Approval;
  /** Whether `by` saving a program of `priority` needs an approver first. */
  programNeedsApproval(priority: Priority, by: Principal): boolean;
  /** Binds the schedule service (created after this one in some set-ups). */
  setProgramSink(sink: ProgramSink): void;
  reject(id: string, by: Principal, note?: string): Approval;
  withdraw(id: string, by: Principal): Approval;
}

/** How long a second officer has to confirm an emergency to every village. */
const EMERGENCY_CONFIRM_MS = 15 * 60 * 1000;
/** How long an editor's request waits for an approver when it names no expiry. */
const EDITOR_WAIT_MS = 7 * 86400 * 1000;

interface Row {
  id: string;
  kind: 'bulletin' | 'program';
  reason: ApprovalReason;
  request: string;
  title: string;
  priority: Priority;
  status: ApprovalStatus;
  created_by: string;
  created_at: string;
  expires_at: string;
  decided_by: string | null;
  decided_at: string | null;
  note: string | null;
  bulletin_id: string | null;
  program_id: string | null;
  created_by_name: string | null;
  decided_by_name: string | null;
}

/** Approvals with their officers' names beside the ids, so a list needs no request per person. */
const SELECT_APPROVALS = `SELECT a.*,
    COALESCE(NULLIF(cu.display_name, ''), cu.username) AS created_by_name,
    COALESCE(NULLIF(du.display_name, ''), du.username) AS decided_by_name
  FROM approvals a
  LEFT JOIN users cu ON cu.id = a.created_by
  LEFT JOIN users du ON du.id = a.decided_by`;

const decidedMeanwhile = () =>
  new AppError(409, 'approval_decided', 'Another officer decided on this request a moment ago; reload it.');

const toApproval = (r: Row): Approval => ({
  id: r.id,
  kind: r.kind,
  reason: r.reason,
  request: JSON.parse(r.request) as BulletinRequest | ProgramRequest,
  title: r.title,
  priority: r.priority,
  status: r.status,
  createdBy: r.created_by,
  createdByName: r.created_by_name,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  decidedBy: r.decided_by,
  decidedByName: r.decided_by_name,
  decidedAt: r.decided_at,
  note: r.note,
  bulletinId: r.bulletin_id,
  programId: r.program_id,
});

export function createApprovalService(deps: {
  db: Db;
  log: Logger;
  fleet: Fleet;
  audio: AudioLibrary;
  bulletins: BulletinService;
  users: UserStore;
  confirmations: Confirmations;
  /** priorities for which an editor's bulletin waits for an approver */
  approvalPriorities: ReadonlySet<Priority>;
  emergencyAllConfirm: 'pin' | 'second-officer';
  /** priorities whose bulletins to every village need the second step (default emergency, priority) */
  confirmPriorities?: ReadonlySet<Priority>;
  /** seconds in which one officer's bulletins of those priorities add up toward every village */
  confirmWindowS?: number;
  now?: () => number;
}): ApprovalService {
  const { db, log, fleet } = deps;
  let programSink: ProgramSink | null = null;
  const confirmPriorities: ReadonlySet<Priority> =
    deps.confirmPriorities ?? new Set<Priority>(['priority', 'emergency']);
  const windowMs = (deps.confirmWindowS ?? 900) * 1000;
  const now = deps.now ?? Date.now;
  const byId = db.prepare<[string], Row>(`${SELECT_APPROVALS} WHERE a.id = ?`);
  const expire = db.prepare(
    "UPDATE approvals SET status = 'expired' WHERE status = 'pending' AND expires_at <= ?",
  );

  function get(id: string): Approval {
    expire.run(nowIso());
    const r = byId.get(id);
    if (!r) throw notFound('Approval', id);
    return toApproval(r);
  }

  /**
   * Receivers that `userId`'s bulletins of a confirm-required priority reached since `sinceIso`.
   * Read from the bulletins' deliveries, so a target of "all" or of zones counts as the receivers
   * it actually went to.
   */
  function reachedSince(userId: string, sinceIso: string): string[] {
    const priorities = [...confirmPriorities];
    if (priorities.length === 0) return [];
    return db
      .prepare<string[], { id: string }>(
        `SELECT DISTINCT d.receiver_id AS id FROM bulletins b JOIN deliveries d ON d.bulletin_id = b.id
         WHERE b.created_by = ? AND b.created_at >= ? AND b.priority IN (${priorities.map(() => '?').join(', ')})`,
      )
      .all(userId, sinceIso, ...priorities)
      .map((r) => r.id);
  }

  /**
   * Whether this request, with what the same officer sent of a confirm-required priority within
   * the window, reaches every horn of the commune: the second step is then needed. One village at
   * a time, seconds apart, is the same as all at once.
   */
  function reachesEveryVillage(request: BulletinRequest, by: Principal): boolean {
    if (request.target.all) return true;
    const receiverIds = resolveTargets(fleet, request.target); // 400 for unknown zones or receivers
    const all = fleet.adoptedIds();
    if (all.length === 0) return false;
    const reached = new Set(receiverIds);
    if (reached.size < all.length && windowMs > 0) {
      for (const id of reachedSince(by.id, new Date(now() - windowMs).toISOString())) reached.add(id);
    }
    return all.every((id) => reached.has(id));
  }

  // One confirm-required submission per officer at a time: two sent in parallel must not both pass
  // the window check before either is recorded.
  const inFlight = new Map<string, Promise<unknown>>();
  function oneAtATime<T>(userId: string, job: () => Promise<T>): Promise<T> {
    const before = inFlight.get(userId) ?? Promise.resolve();
    const run = before.then(job, job);
    const settled = run.catch(() => undefined);
    inFlight.set(userId, settled);
    void settled.then(() => {
      if (inFlight.get(userId) === settled) inFlight.delete(userId);
    });
    return run;
  }

  function file(request: BulletinRequest, by: Principal, reason: ApprovalReason): Approval {
    const now = Date.now();
    const expiresAt =
      reason === 'emergency_all'
        ? new Date(now + EMERGENCY_CONFIRM_MS)
        : request.expiresAt
          ? new Date(request.expiresAt)
          : new Date(now + EDITOR_WAIT_MS);
    const title = request.title ?? deps.audio.get(request.audioId)?.name ?? request.audioId;
    return insert('bulletin', request, title, request.priority, reason, by, expiresAt, null);
  }

  function insert(
    kind: 'bulletin' | 'program',
    request: BulletinRequest | ProgramRequest,
    title: string,
    priority: Priority,
    reason: ApprovalReason,
    by: Principal,
    expiresAt: Date,
    programId: string | null,
  ): Approval {
    const id = randomUUID();
    db.prepare(
      `INSERT INTO approvals (id, kind, reason, request, title, priority, created_by, created_at, expires_at, program_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      id,
      kind,
      reason,
      JSON.stringify(request),
      title,
      priority,
      by.id,
      nowIso(),
      expiresAt.toISOString(),
      programId,
    );
    log.info(
      { approvalId: id, kind, reason, by: by.username },
      `approvals: ${kind} waits for a second officer`,
    );
    return get(id);
  }

  /** Marks a pending request decided; false when someone else decided it first. */
  function decide(id: string, status: ApprovalStatus, by: Principal, note?: string): boolean {
    return (
      db
        .prepare(
          `UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?, note = ?
           WHERE id = ? AND status = 'pending'`,
        )
        .run(status, by.id, nowIso(), note ?? null, id).changes === 1
    );
  }

  function pending(id: string): Approval {
    const a = get(id);
    if (a.status !== 'pending') {
      throw new AppError(
        409,
        `approval_${a.status}`,
        `This request is already ${a.status}; nothing to decide.`,
      );
    }
    return a;
  }

  /** The checks a decider must pass: not the requester, the right role, the request's zones. */
  function assertMayDecide(a: Approval, by: Principal): void {
    if (a.createdBy === by.id) {
      throw new AppError(403, 'four_eyes', 'You made this request: another officer must decide on it.');
    }
    const ok =
      a.reason === 'editor' ? hasRole(by, 'approver', 'admin') : hasRole(by, 'operator', 'approver', 'admin');
    if (!ok) {
      throw new AppError(
        403,
        'forbidden',
        a.reason === 'editor'
          ? 'Only an approver may approve content made by an editor.'
          : 'Only an operator or approver may confirm an emergency to every village.',
      );
    }
    assertTargetInScope(by, a.request.target, fleet);
  }

  async function submit(
    request: BulletinRequest,
    by: Principal,
    confirm?: { pin?: string | undefined; token?: string | undefined },
  ): Promise<SubmitResult> {
    assertTargetInScope(by, request.target, fleet);
    const audio = deps.audio.get(request.audioId);
    if (!audio) {
      throw badRequest('unknown_audio', `Audio "${request.audioId}" does not exist; upload it first.`);
    }
    assertPlayable(audio);
    // What is sent now, `bulletins.create` resolves and checks; what waits is checked here, before it
    // waits (so the fleet-wide emergency's hot path resolves its receivers once).
    // An alert source's CAP alerts reach here only when the mapping says they air at once (the
    // others are filed with fileAlert).
    const mayPlayNow = hasRole(by, 'operator', 'admin', 'alerter');
    if (!mayPlayNow && deps.approvalPriorities.has(request.priority)) {
      resolveTargets(fleet, request.target);
      return { kind: 'pending', approval: file(request, by, 'editor') };
    }
    if (confirmPriorities.has(request.priority) && reachesEveryVillage(request, by)) {
      if (deps.emergencyAllConfirm === 'second-officer') {
        resolveTargets(fleet, request.target);
        return { kind: 'pending', approval: file(request, by, 'emergency_all') };
      }
      if (confirm?.token) {
        if (!deps.confirmations.consume(by.id, confirm.token)) {
          throw new AppError(
            403,
            'bad_confirmation',
            'This confirmation is used up, expired or not yours: enter your PIN again.',
          );
        }
      } else if (confirm?.pin) {
        if (!(await deps.users.confirm(by.id, confirm.pin))) {
          throw new AppError(403, 'bad_pin', 'Wrong PIN: the bulletin was not sent.');
        }
      } else {
        throw new AppError(
          428,
          'confirmation_required',
          `This ${request.priority} bulletin, with what you sent in the last ${windowText()}, reaches ` +
            'every village: it needs your PIN (or your password if you have set no PIN). Send ' +
            'confirm.pin, or confirm.token from POST /api/auth/confirm.',
          { priority: request.priority, windowSeconds: windowMs / 1000 },
        );
      }
    }
    return { kind: 'sent', bulletin: await deps.bulletins.create({ ...request, userId: by.id }) };
  }

  const windowText = () =>
    windowMs % 60_000 === 0 ? `${windowMs / 60_000} minutes` : `${Math.round(windowMs / 1000)} seconds`;

  return {
    submit: (request, by, confirm) =>
      confirmPriorities.has(request.priority)
        ? oneAtATime(by.id, () => submit(request, by, confirm))
        : submit(request, by, confirm),

    list({ status, zones, limit, offset }) {
      expire.run(nowIso());
      const where: string[] = [];
      const args: (string | number)[] = [];
      if (status) {
        where.push('a.status = ?');
        args.push(status);
      }
      if (zones) {
        const scope = targetScopeSql("json_extract(a.request, '$.target')", zones);
        where.push(scope.sql);
        args.push(...scope.args);
      }
      return db
        .prepare<(string | number)[], Row>(
          `${SELECT_APPROVALS} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
           ORDER BY a.created_at DESC LIMIT ? OFFSET ?`,
        )
        .all(...args, limit, offset)
        .map(toApproval);
    },

    get,

    programNeedsApproval: (priority, by) =>
      !hasRole(by, 'operator', 'admin') && deps.approvalPriorities.has(priority),

    setProgramSink(sink) {
      programSink = sink;
    },

    fileAlert(request, by) {
      resolveTargets(fleet, request.target);
      const audio = deps.audio.get(request.audioId);
      if (!audio) {
        throw badRequest('unknown_audio', `Audio "${request.audioId}" does not exist; upload it first.`);
      }
      assertPlayable(audio);
      return file(request, by, 'cap_alert');
    },

    fileProgram(request, by) {
      assertTargetInScope(by, request.target, fleet);
      return insert(
        'program',
        request,
        request.title,
        request.priority,
        'editor',
        by,
        new Date(Date.now() + EDITOR_WAIT_MS),
        request.programId,
      );
    },

    async approve(id, by, note) {
      const a = pending(id);
      assertMayDecide(a, by);
      if (a.kind === 'program') {
        if (!programSink) throw new AppError(503, 'unavailable', 'Programs cannot be saved right now.');
        if (!decide(id, 'approved', by, note)) throw decidedMeanwhile();
        const { programId, ...body } = a.request as ProgramRequest;
        try {
          const program = programSink.save(programId, body, a.createdBy);
          log.info({ approvalId: id, programId, by: by.username }, 'approvals: program approved');
          return { approval: get(id), program };
        } catch (err) {
          // A clash that arose meanwhile, say: the request waits again, the reason in the error.
          db.prepare(
            "UPDATE approvals SET status = 'pending', decided_by = NULL, decided_at = NULL, note = NULL WHERE id = ?",
          ).run(id);
          throw err;
        }
      }
      const request = a.request as BulletinRequest;
      if (!decide(id, 'approved', by, note)) throw decidedMeanwhile();
      let bulletin: BulletinDetail;
      try {
        bulletin = await deps.bulletins.create({ ...request, userId: a.createdBy, approvedBy: by.id });
      } catch (err) {
        // Nothing aired: the request waits again, with the reason in the error for the approver.
        db.prepare(
          "UPDATE approvals SET status = 'pending', decided_by = NULL, decided_at = NULL, note = NULL WHERE id = ?",
        ).run(id);
        throw err;
      }
      db.prepare('UPDATE approvals SET bulletin_id = ? WHERE id = ?').run(bulletin.id, id);
      log.info({ approvalId: id, bulletinId: bulletin.id, by: by.username }, 'approvals: approved and sent');
      return { approval: get(id), bulletin };
    },

    reject(id, by, note) {
      const a = pending(id);
      assertMayDecide(a, by);
      if (!decide(id, 'rejected', by, note)) throw decidedMeanwhile();
      return get(id);
    },

    withdraw(id, by) {
      const a = pending(id);
      if (a.createdBy !== by.id && !hasRole(by, 'admin')) {
        throw new AppError(403, 'forbidden', 'Only the officer who made this request may withdraw it.');
      }
      if (!decide(id, 'withdrawn', by)) throw decidedMeanwhile();
      return get(id);
    },
  };
}
