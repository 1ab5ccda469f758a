/** SQL for bulletins, their deliveries and the as-run log. */

import type { Statement } from 'better-sqlite3';
import type { Priority } from '../../contract/mqtt.js';
import type { Db } from '../../storage/db.js';
import type { DeliveryState } from './states.js';

export interface BulletinTarget {
  all?: boolean | undefined;
  zones?: string[] | undefined;
  receivers?: string[] | undefined;
}

export interface BulletinRow {
  id: string;
  commandId: string;
  seq: number;
  title: string;
  audioId: string;
  priority: Priority;
  repeat: number;
  gapMs: number;
  volume: number | null;
  target: BulletinTarget;
  status: 'active' | 'cancelled' | 'completed';
  createdAt: string;
  expiresAt: string;
  createdBy: string | null;
  /** the second officer who approved it (editor's content, or an emergency to every village) */
  approvedBy: string | null;
}

export interface DeliveryRow {
  bulletinId: string;
  receiverId: string;
  state: DeliveryState;
  reason: string | null;
  detail: string | null;
  play: number | null;
  attempts: number;
  sentAt: string | null;
  updatedAt: string;
  /** the id of the copy offered last, when a re-offer after a failed download gave it a new one */
  commandId?: string | null;
  /** re-offers made after failed downloads */
  reoffers?: number;
  /** the controller concluded this final state (clock, deadline, a stop's confirmation) */
  concluded?: boolean;
}

interface RawBulletin {
  id: string;
  command_id: string;
  seq: number;
  title: string;
  audio_id: string;
  priority: Priority;
  repeat: number;
  gap_ms: number;
  volume: number | null;
  target: string;
  status: BulletinRow['status'];
  created_at: string;
  expires_at: string;
  created_by: string | null;
  approved_by: string | null;
}

const toBulletin = (r: RawBulletin): BulletinRow => ({
  id: r.id,
  commandId: r.command_id,
  seq: r.seq,
  title: r.title,
  audioId: r.audio_id,
  priority: r.priority,
  repeat: r.repeat,
  gapMs: r.gap_ms,
  volume: r.volume,
  target: JSON.parse(r.target) as BulletinTarget,
  status: r.status,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  createdBy: r.created_by,
  approvedBy: r.approved_by,
});

const deliveryCols = `bulletin_id AS bulletinId, receiver_id AS receiverId, state, reason, detail, play, attempts,
  sent_at AS sentAt, updated_at AS updatedAt, command_id AS commandId, reoffers, concluded = 1 AS concluded`;

interface RawDelivery extends Omit<DeliveryRow, 'concluded'> {
  concluded: number;
}
const toDelivery = (r: RawDelivery): DeliveryRow => ({ ...r, concluded: r.concluded === 1 });

/** One line of the as-run log. */
export interface AsRunEntry {
  receiverId: string;
  /** the delivery state the report led to (or the controller's conclusion) */
  state: string;
  /** the receiver's own word (`started`, `finished`, …); null for the controller's conclusions */
  event: string | null;
  reason: string | null;
  detail: string | null;
  play: number | null;
  at: string;
  receiverTs: string | null;
}

export interface DeliveryUpdate
  extends Pick<DeliveryRow, 'bulletinId' | 'receiverId' | 'state' | 'reason' | 'detail' | 'play'> {
  at: string;
  /** the receiver's own timestamp, for the as-run log */
  receiverTs: string | null;
  /** the receiver's reported state, for the as-run log; null: the controller's conclusion */
  event?: string | null;
  /** the state was concluded by the controller, not reported */
  concluded?: boolean;
  /** set when the controller (re)sent the command; with `commandId`, a re-offer under a new id */
  sent?: boolean;
  commandId?: string | null;
  reoffers?: number;
  /** only a line of the as-run log: the delivery row is left as it is */
  logOnly?: boolean;
}

export function createBulletinRepo(db: Db) {
  const s = {
    insert: db.prepare(
      `INSERT INTO bulletins (id, command_id, seq, title, audio_id, priority, repeat, gap_ms, volume, target, status,
         created_at, expires_at, created_by, approved_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?)`,
    ),
    get: db.prepare<[string], RawBulletin>('SELECT * FROM bulletins WHERE id = ?'),
    byCommand: db.prepare<[string], RawBulletin>('SELECT * FROM bulletins WHERE command_id = ?'),
    list: db.prepare<[number, number], RawBulletin>(
      'SELECT * FROM bulletins ORDER BY created_at DESC LIMIT ? OFFSET ?',
    ),
    // what the service follows: active bulletins, and cancelled ones whose receivers have not all
    // said what became of them yet (deliveries still `stopping`)
    active: db.prepare<[], RawBulletin>(
      `SELECT * FROM bulletins b WHERE status = 'active' OR (status = 'cancelled' AND EXISTS (
         SELECT 1 FROM deliveries d WHERE d.bulletin_id = b.id
           AND d.state NOT IN ('done', 'failed', 'expired', 'preempted', 'cancelled')))`,
    ),
    count: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM bulletins'),
    deliveries: db.prepare<[string], RawDelivery>(
      `SELECT ${deliveryCols} FROM deliveries WHERE bulletin_id = ? ORDER BY receiver_id`,
    ),
    delivery: db.prepare<[string, string], RawDelivery>(
      `SELECT ${deliveryCols} FROM deliveries WHERE bulletin_id = ? AND receiver_id = ?`,
    ),
    byDeliveryCommand: db.prepare<[string, string], { bulletinId: string }>(
      'SELECT bulletin_id AS bulletinId FROM deliveries WHERE command_id = ? AND receiver_id = ?',
    ),
    markSent: db.prepare(
      `UPDATE deliveries SET state = ?, attempts = attempts + 1, sent_at = ?, updated_at = ?,
         command_id = coalesce(?, command_id), reoffers = coalesce(?, reoffers)
         WHERE bulletin_id = ? AND receiver_id = ?`,
    ),
    setStatus: db.prepare('UPDATE bulletins SET status = ? WHERE id = ?'),
    asRun: db.prepare<[string], AsRunEntry>(
      `SELECT receiver_id AS receiverId, state, event, reason, detail, play, at, receiver_ts AS receiverTs
       FROM delivery_log WHERE bulletin_id = ? ORDER BY id`,
    ),
  };

  // Receiver reports arrive by the thousand in a fleet-wide bulletin; they are written in
  // multi-row statements of up to CHUNK rows, which costs a fraction of one statement per row.
  const CHUNK = 64;
  const chunked = new Map<string, Statement>();
  const stmt = (kind: 'log' | 'update' | 'delivery', rows: number): Statement => {
    const key = `${kind}:${rows}`;
    let st = chunked.get(key);
    if (!st) {
      st =
        kind === 'delivery'
          ? db.prepare(
              `INSERT INTO deliveries (bulletin_id, receiver_id, state, attempts, sent_at, updated_at) VALUES ${Array(rows).fill('(?, ?, ?, ?, ?, ?)').join(', ')}`,
            )
          : kind === 'log'
            ? db.prepare(
                `INSERT OR IGNORE INTO delivery_log (bulletin_id, receiver_id, state, reason, at, receiver_ts, event, play, detail) VALUES ${Array(rows).fill('(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
              )
            : db.prepare(
                `UPDATE deliveries SET state = v.column3, reason = coalesce(v.column4, deliveries.reason),
                 detail = coalesce(v.column5, deliveries.detail), play = coalesce(v.column6, deliveries.play),
                 updated_at = v.column7, concluded = v.column8
               FROM (VALUES ${Array(rows).fill('(?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}) AS v
               WHERE deliveries.bulletin_id = v.column1 AND deliveries.receiver_id = v.column2`,
              );
      chunked.set(key, st);
    }
    return st;
  };
  const inChunks = (kind: 'log' | 'update' | 'delivery', rows: unknown[][]) => {
    for (let i = 0; i < rows.length; i += CHUNK) {
      const part = rows.slice(i, i + CHUNK);
      stmt(kind, part.length).run(part.flat());
    }
  };

  const applyUpdates = db.transaction((updates: DeliveryUpdate[]) => {
    const log: unknown[][] = [];
    // One row per delivery: states only move forward, so the last report wins, and each field
    // keeps the last value any report of the batch gave it (UPDATE … FROM must not see a key twice).
    const latest = new Map<string, unknown[]>();
    for (const u of updates) {
      if (u.sent) {
        s.markSent.run(
          u.state,
          u.at,
          u.at,
          u.commandId ?? null,
          u.reoffers ?? null,
          u.bulletinId,
          u.receiverId,
        );
        continue;
      }
      log.push([
        u.bulletinId,
        u.receiverId,
        u.state,
        u.reason,
        u.at,
        u.receiverTs,
        u.event ?? null,
        u.play,
        u.detail,
      ]);
      if (u.logOnly) continue;
      const key = `${u.bulletinId}\u0000${u.receiverId}`;
      const prev = latest.get(key);
      latest.set(key, [
        u.bulletinId,
        u.receiverId,
        u.state,
        u.reason ?? prev?.[3] ?? null,
        u.detail ?? prev?.[4] ?? null,
        u.play ?? prev?.[5] ?? null,
        u.at,
        u.concluded ? 1 : 0,
      ]);
    }
    inChunks('update', [...latest.values()]);
    inChunks('log', log);
  });

  return {
    /** Inserts a bulletin and its deliveries: `sent` for the receivers it goes to now, else `queued`. */
    insertWithDeliveries: db.transaction(
      (b: BulletinRow, receiverIds: string[], sentTo: ReadonlySet<string>) => {
        s.insert.run(
          b.id,
          b.commandId,
          b.seq,
          b.title,
          b.audioId,
          b.priority,
          b.repeat,
          b.gapMs,
          b.volume,
          JSON.stringify(b.target),
          b.createdAt,
          b.expiresAt,
          b.createdBy,
          b.approvedBy,
        );
        const rows = receiverIds.map((id) => {
          const sent = sentTo.has(id);
          return [b.id, id, sent ? 'sent' : 'queued', sent ? 1 : 0, sent ? b.createdAt : null, b.createdAt];
        });
        inChunks('delivery', rows);
      },
    ),
    get: (id: string): BulletinRow | null => {
      const r = s.get.get(id);
      return r ? toBulletin(r) : null;
    },
    byCommand: (commandId: string): BulletinRow | null => {
      const r = s.byCommand.get(commandId);
      return r ? toBulletin(r) : null;
    },
    list: (limit: number, offset: number): BulletinRow[] => s.list.all(limit, offset).map(toBulletin),
    count: (): number => s.count.get()!.n,
    /** A page of the bulletins matching an SQL condition on the `bulletins` row (see auth/scope.ts). */
    listWhere(where: { sql: string; args: string[] }, limit: number, offset: number) {
      const rows = db
        .prepare<unknown[], RawBulletin>(
          `SELECT * FROM bulletins WHERE ${where.sql} ORDER BY created_at DESC LIMIT ? OFFSET ?`,
        )
        .all(...where.args, limit, offset);
      const n = db
        .prepare<unknown[], { n: number }>(`SELECT count(*) AS n FROM bulletins WHERE ${where.sql}`)
        .get(...where.args)!.n;
      return { rows: rows.map(toBulletin), total: n };
    },
    active: (): BulletinRow[] => s.active.all().map(toBulletin),
    deliveries: (bulletinId: string): DeliveryRow[] => s.deliveries.all(bulletinId).map(toDelivery),
    delivery: (bulletinId: string, receiverId: string): DeliveryRow | null => {
      const r = s.delivery.get(bulletinId, receiverId);
      return r ? toDelivery(r) : null;
    },
    /** The bulletin a command id belongs to for `receiverId`: its own, or a re-offer's. */
    bulletinOfCommand(commandId: string, receiverId: string): BulletinRow | null {
      const own = s.byCommand.get(commandId);
      if (own) return toBulletin(own);
      const re = s.byDeliveryCommand.get(commandId, receiverId);
      const r = re ? s.get.get(re.bulletinId) : undefined;
      return r ? toBulletin(r) : null;
    },
    applyUpdates,
    setStatus: (id: string, status: BulletinRow['status']) => s.setStatus.run(status, id),
    asRun: (bulletinId: string) => s.asRun.all(bulletinId),
  };
}
export type BulletinRepo = ReturnType<typeof createBulletinRepo>;
