/**
 * Stops as facts of their own: a bulletin's cancel, a zone stop or the all-stop is recorded with
 * its id, scope, author and validity, and followed receiver by receiver until each one confirms it.
 *
 * A receiver confirms a stop by reporting `received` for the stop's command id once it has applied
 * it (after the `cancelled` of each item it stopped), or by answering a resend `rejected`/`replayed`
 * (it already holds the stop: a receiver built to the earlier protocol confirms this way). Until
 * then the stop is sent again: to each receiver that comes back online, and every ACK_TIMEOUT_MS
 * to an online one that has not confirmed, up to MAX_ATTEMPTS, while the stop is valid. All of it
 * survives a restart: the controller loads the unconfirmed stops at start and carries on.
 */
import type { Logger } from 'pino';
import type { ReceiverEvent, StopCommand } from '../../contract/mqtt.js';
import { type Db, nowIso } from '../../storage/db.js';
import { type Dispatcher, stopCommand } from '../dispatch/dispatcher.js';
import type { BulletinTarget } from './repo.js';

/** A receiver that has not confirmed a stop within this time gets it again on its own topic. */
const ACK_TIMEOUT_MS = 10_000;
const MAX_ATTEMPTS = 10;

export const STOP_RECEIVER_STATES = ['pending', 'sent', 'confirmed', 'refused', 'expired'] as const;
/**
 * How far a stop has reached one receiver: `pending` not yet handed to the broker for it (it was
 * away, or the broker was); `sent` handed to the broker, no word from the receiver yet;
 * `confirmed` the receiver applied it; `refused` the receiver would not apply it (e.g. a key it
 * does not trust, or its clock says the stop had expired); `expired` the stop lapsed unconfirmed.
 */
export type StopReceiverState = (typeof STOP_RECEIVER_STATES)[number];

export interface StopRecord {
  id: string;
  seq: number;
  kind: 'cancel' | 'stop';
  bulletinId: string | null;
  target: BulletinTarget;
  createdAt: string;
  createdBy: string | null;
  expiresAt: string;
  /** when the broker first acknowledged it; null while the broker was unreachable */
  handedOffAt: string | null;
}

export interface StopReceiverRow {
  receiverId: string;
  state: StopReceiverState;
  reason: string | null;
  attempts: number;
  sentAt: string | null;
  confirmedAt: string | null;
}

export type StopCounts = Record<StopReceiverState, number> & { total: number };

/** What the officer sees of a stop. */
export interface StopDetail extends StopRecord {
  /**
   * `accepted`: recorded, the broker has not taken it yet; `sent`: on its way, some receivers have
   * not confirmed; `confirmed`: every receiver confirmed; `ended`: it lapsed with some receivers
   * unconfirmed or refusing.
   */
  status: 'accepted' | 'sent' | 'confirmed' | 'ended';
  receivers: StopCounts;
  /** each receiver's progress (GET of one stop) */
  perReceiver?: StopReceiverRow[];
}

interface RawStop {
  id: string;
  seq: number;
  kind: 'cancel' | 'stop';
  bulletin_id: string | null;
  target: string;
  created_at: string;
  created_by: string | null;
  expires_at: string;
  handed_off_at: string | null;
}

const toStop = (r: RawStop): StopRecord => ({
  id: r.id,
  seq: r.seq,
  kind: r.kind,
  bulletinId: r.bulletin_id,
  target: JSON.parse(r.target) as BulletinTarget,
  createdAt: r.created_at,
  createdBy: r.created_by,
  expiresAt: r.expires_at,
  handedOffAt: r.handed_off_at,
});

const receiverCols = `receiver_id AS receiverId, state, reason, attempts, sent_at AS sentAt,
  confirmed_at AS confirmedAt`;

function createStopRepo(db: Db) {
  const s = {
    insert: db.prepare(
      `INSERT INTO stops (id, seq, kind, bulletin_id, target, created_at, created_by, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertReceiver: db.prepare(
      `INSERT INTO stop_receivers (stop_id, receiver_id, state) VALUES (?, ?, 'pending')`,
    ),
    handedOff: db.prepare('UPDATE stops SET handed_off_at = coalesce(handed_off_at, ?) WHERE id = ?'),
    update: db.prepare(
      `UPDATE stop_receivers SET state = ?, reason = ?, attempts = ?, sent_at = ?, confirmed_at = ?
       WHERE stop_id = ? AND receiver_id = ?`,
    ),
    get: db.prepare<[string], RawStop>('SELECT * FROM stops WHERE id = ?'),
    receivers: db.prepare<[string], StopReceiverRow>(
      `SELECT ${receiverCols} FROM stop_receivers WHERE stop_id = ? ORDER BY receiver_id`,
    ),
    // valid, or lapsed with receivers still open (to be marked expired at the first sweep)
    open: db.prepare<[], RawStop>(
      `SELECT * FROM stops s WHERE EXISTS (SELECT 1 FROM stop_receivers r
         WHERE r.stop_id = s.id AND r.state IN ('pending', 'sent'))`,
    ),
    counts: db.prepare<[string], { state: StopReceiverState; n: number }>(
      'SELECT state, count(*) AS n FROM stop_receivers WHERE stop_id = ? GROUP BY state',
    ),
  };
  return {
    insert: db.transaction((st: StopRecord, receiverIds: readonly string[]) => {
      s.insert.run(
        st.id,
        st.seq,
        st.kind,
        st.bulletinId,
        JSON.stringify(st.target),
        st.createdAt,
        st.createdBy,
        st.expiresAt,
      );
      for (const id of receiverIds) s.insertReceiver.run(st.id, id);
    }),
    handedOff: (id: string, at: string) => s.handedOff.run(at, id),
    write: db.transaction((rows: { stopId: string; r: StopReceiverRow }[]) => {
      for (const { stopId, r } of rows)
        s.update.run(r.state, r.reason, r.attempts, r.sentAt, r.confirmedAt, stopId, r.receiverId);
    }),
    get: (id: string): StopRecord | null => {
      const r = s.get.get(id);
      return r ? toStop(r) : null;
    },
    receivers: (id: string) => s.receivers.all(id),
    open: () => s.open.all().map(toStop),
    counts(id: string): StopCounts {
      const out = { pending: 0, sent: 0, confirmed: 0, refused: 0, expired: 0, total: 0 };
      for (const { state, n } of s.counts.all(id)) {
        out[state] = n;
        out.total += n;
      }
      return out;
    },
    listWhere(where: { sql: string; args: string[] } | undefined, limit: number, offset: number) {
      const cond = where ? `WHERE ${where.sql}` : '';
      const args = where?.args ?? [];
      const rows = db
        .prepare<unknown[], RawStop>(`SELECT * FROM stops ${cond} ORDER BY created_at DESC LIMIT ? OFFSET ?`)
        .all(...args, limit, offset);
      const total = db
        .prepare<unknown[], { n: number }>(`SELECT count(*) AS n FROM stops ${cond}`)
        .get(...args)!.n;
      return { rows: rows.map(toStop), total };
    },
  };
}

interface OpenStop {
  record: StopRecord;
  command: StopCommand;
  expiresAtMs: number;
  receivers: Map<string, StopReceiverRow>;
}

export interface StopTracker {
  /**
   * Records a stop over `receiverIds` and publishes it on `target`'s topics. `sent` settles when
   * the broker acknowledged it (it may wait for a reconnection, or fail).
   */
  issue(input: {
    kind: 'cancel' | 'stop';
    bulletinId?: string | undefined;
    target: BulletinTarget;
    receiverIds: readonly string[];
    expiresAt: Date;
    userId?: string | null | undefined;
  }): { record: StopRecord; sent: Promise<boolean> };
  /** Handles a receiver event whose commandId may be a stop's. Returns false when it is not one. */
  handleEvent(receiverId: string, e: ReceiverEvent): boolean;
  /** A receiver came online: the stops it has not confirmed go again on its own topic. */
  online(receiverId: string): void;
  /** Resends to silent online receivers; marks lapsed stops. */
  sweep(now: number): void;
  get(id: string, withReceivers?: boolean): StopDetail | null;
  list(
    limit: number,
    offset: number,
    where?: { sql: string; args: string[] },
  ): { items: StopDetail[]; total: number };
  /** The open stops: their command, and whether `receiverId` still waits for it. */
  start(): void;
  flush(): void;
}

export function createStopTracker(deps: {
  db: Db;
  log: Logger;
  dispatcher: Dispatcher;
  isOnline: (receiverId: string) => boolean;
  /** whether the controller's link to the broker is up (no resends into a queue meanwhile) */
  connected: () => boolean;
  /** the receiver applied `stop`: what it still owes for items the stop covers is settled */
  confirmed: (stop: StopRecord, receiverId: string) => void;
  /** a stop's progress changed */
  changed: (stopId: string) => void;
}): StopTracker {
  const { log, dispatcher } = deps;
  const repo = createStopRepo(deps.db);
  const open = new Map<string, OpenStop>();
  let dirty: { stopId: string; r: StopReceiverRow }[] = [];
  let flushScheduled = false;

  function flush(): void {
    flushScheduled = false;
    if (dirty.length === 0) return;
    const batch = dirty;
    dirty = [];
    repo.write(batch);
    for (const id of new Set(batch.map((b) => b.stopId))) deps.changed(id);
  }
  function touch(stopId: string, r: StopReceiverRow): void {
    dirty.push({ stopId, r });
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  }

  /** The stop command as receivers get it, rebuilt from the record (the same bytes are signed again). */
  const commandOf = (st: StopRecord): StopCommand => stopCommand({ ...st, issuedAt: st.createdAt });

  /** copies handed to the MQTT client and not yet acknowledged by the broker */
  const inFlight = new Set<StopReceiverRow>();

  /**
   * Sends the stop to one receiver on its own topic. It shows `sent` only once the broker has
   * acknowledged the copy: what the officer sees is what happened, not what was intended.
   */
  function sendTo(o: OpenStop, r: StopReceiverRow): void {
    if (inFlight.has(r)) return;
    inFlight.add(r);
    r.attempts += 1;
    r.sentAt = nowIso();
    touch(o.record.id, r);
    dispatcher.sendToReceiver(o.command, r.receiverId).then(
      () => {
        inFlight.delete(r);
        if (r.state !== 'pending') return;
        r.state = 'sent';
        touch(o.record.id, r);
      },
      (err: unknown) => {
        inFlight.delete(r);
        log.warn(
          { err: (err as Error).message, receiverId: r.receiverId },
          'stops: resend failed; will retry',
        );
      },
    );
  }

  function close(o: OpenStop): void {
    if ([...o.receivers.values()].every((r) => r.state !== 'pending' && r.state !== 'sent'))
      open.delete(o.record.id);
  }

  function detail(st: StopRecord, withReceivers: boolean): StopDetail {
    flush();
    const counts = repo.counts(st.id);
    const openCount = counts.pending + counts.sent;
    // `accepted` until some copy reached the broker; `confirmed` once every receiver applied it.
    const reached = st.handedOffAt !== null || counts.sent + counts.confirmed + counts.refused > 0;
    const status: StopDetail['status'] =
      counts.total > 0 && counts.confirmed === counts.total
        ? 'confirmed'
        : openCount > 0 || counts.total === 0
          ? reached
            ? counts.total === 0
              ? 'confirmed'
              : 'sent'
            : 'accepted'
          : 'ended';
    return {
      ...st,
      status,
      receivers: counts,
      ...(withReceivers ? { perReceiver: repo.receivers(st.id) } : {}),
    };
  }

  return {
    issue(input) {
      const { command, sent } = dispatcher.stop(input.target, {
        ...(input.bulletinId ? { bulletinId: input.bulletinId } : {}),
        expiresAt: input.expiresAt,
      });
      const record: StopRecord = {
        id: command.id,
        seq: command.seq,
        kind: input.kind,
        bulletinId: input.bulletinId ?? null,
        target: input.target,
        createdAt: command.issuedAt,
        createdBy: input.userId ?? null,
        expiresAt: command.expiresAt,
        handedOffAt: null,
      };
      // Recorded before anything else can happen to it: a crash after this line loses nothing.
      repo.insert(record, input.receiverIds);
      const o: OpenStop = {
        record,
        command,
        expiresAtMs: Date.parse(record.expiresAt),
        receivers: new Map(
          input.receiverIds.map((id) => [
            id,
            { receiverId: id, state: 'pending', reason: null, attempts: 0, sentAt: null, confirmedAt: null },
          ]),
        ),
      };
      open.set(record.id, o);
      const onlineAtIssue = input.receiverIds.filter((id) => deps.isOnline(id));
      const handed = sent.then(
        () => {
          const at = nowIso();
          record.handedOffAt = at;
          repo.handedOff(record.id, at);
          // The broker took it for everyone subscribed now; those away get it when they return.
          for (const id of onlineAtIssue) {
            const r = o.receivers.get(id);
            if (r?.state !== 'pending') continue;
            r.state = 'sent';
            r.attempts += 1;
            r.sentAt = at;
            touch(record.id, r);
          }
          return true;
        },
        (err: unknown) => {
          log.error(
            { err: (err as Error).message, stopId: record.id },
            'stops: publish failed; resends follow',
          );
          return false;
        },
      );
      return { record, sent: handed };
    },

    handleEvent(receiverId, e) {
      const o = open.get(e.commandId);
      if (!o) {
        // A late word about a stop no longer open (already confirmed, or lapsed): nothing to do,
        // unless it is a stop at all.
        const st = repo.get(e.commandId);
        if (!st) return false;
        log.debug({ receiverId, stopId: st.id, state: e.state }, 'stops: report for a closed stop');
        if (e.state === 'received' || (e.state === 'rejected' && e.reason === 'replayed'))
          deps.confirmed(st, receiverId);
        return true;
      }
      const r = o.receivers.get(receiverId);
      if (!r) {
        log.warn({ receiverId, stopId: o.record.id }, 'stops: report from a receiver the stop did not cover');
        return true;
      }
      if (r.state === 'confirmed') return true;
      if (e.state === 'received' || (e.state === 'rejected' && e.reason === 'replayed')) {
        r.state = 'confirmed';
        r.reason = null;
        r.confirmedAt = nowIso();
        touch(o.record.id, r);
        deps.confirmed(o.record, receiverId);
      } else if (
        e.state === 'expired' ||
        (e.state === 'rejected' && (e.reason === 'unknown_key' || e.reason === 'not_yet_valid'))
      ) {
        // Genuinely refused by the receiver; a forged copy's refusal (bad_signature, …) says nothing.
        r.state = 'refused';
        r.reason = e.reason ?? e.state;
        touch(o.record.id, r);
      } else {
        return true;
      }
      close(o);
      return true;
    },

    online(receiverId) {
      const now = Date.now();
      for (const o of open.values()) {
        if (now > o.expiresAtMs) continue;
        const r = o.receivers.get(receiverId);
        if (r && (r.state === 'pending' || r.state === 'sent')) sendTo(o, r);
      }
    },

    sweep(now) {
      const up = deps.connected();
      for (const o of open.values()) {
        if (now > o.expiresAtMs) {
          for (const r of o.receivers.values()) {
            if (r.state !== 'pending' && r.state !== 'sent') continue;
            r.state = 'expired';
            touch(o.record.id, r);
          }
          open.delete(o.record.id);
          continue;
        }
        if (!up) continue;
        for (const r of o.receivers.values()) {
          if (!deps.isOnline(r.receiverId) || r.attempts >= MAX_ATTEMPTS) continue;
          if (r.state !== 'pending' && r.state !== 'sent') continue;
          // Silent since the last copy; or `pending` and online: the broker was away at issue, or
          // this receiver was (and its return went unnoticed, e.g. across a controller restart).
          const silent = r.sentAt === null || now - Date.parse(r.sentAt) > ACK_TIMEOUT_MS;
          if (silent) sendTo(o, r);
        }
      }
      flush();
    },

    get(id, withReceivers = true) {
      const st = open.get(id)?.record ?? repo.get(id);
      return st ? detail(st, withReceivers) : null;
    },

    list(limit, offset, where) {
      flush();
      const page = repo.listWhere(where, limit, offset);
      return {
        items: page.rows.map((st) => detail(open.get(st.id)?.record ?? st, false)),
        total: page.total,
      };
    },

    start() {
      for (const st of repo.open()) {
        open.set(st.id, {
          record: st,
          command: commandOf(st),
          expiresAtMs: Date.parse(st.expiresAt),
          receivers: new Map(repo.receivers(st.id).map((r) => [r.receiverId, r])),
        });
      }
      if (open.size) log.info({ stops: open.size }, 'stops: unconfirmed stops loaded; they go on being sent');
    },

    flush,
  };
}
