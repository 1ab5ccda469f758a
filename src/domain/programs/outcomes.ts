/**
 * What receivers say about their airings, written down: every report in the as-run log (once,
 * however often it is re-sent), and each receiver's state for the airing. A deadline passing
 * (the airing's window plus a margin) concludes what no report settled, flagged `concluded`, and
 * a late report of what really happened corrects it.
 */
import type { Logger } from 'pino';
import { decodePayload } from '../../contract/mqtt.js';
import { type AiringReport, airingReportSchema } from '../../contract/schedule.js';
import type { Db } from '../../storage/db.js';

/** How long after an airing's window the controller waits for reports before concluding. */
export const REPORT_MARGIN_MS = 2 * 60 * 1000;

export type AiringReportEvent = Extract<AiringReport, { kind: 'airing' }> & { receiverId: string };

export function createOutcomes(deps: { db: Db; log: Logger; isOnline: (id: string) => boolean }) {
  const { db, log } = deps;
  const s = {
    airing: db.prepare<[string], { id: string; target: string; status: string }>(
      'SELECT id, target, status FROM airings WHERE id = ?',
    ),
    row: db.prepare<[string, string], { state: string; concluded: number }>(
      'SELECT state, concluded FROM airing_receivers WHERE airing_id = ? AND receiver_id = ?',
    ),
    log: db.prepare(
      `INSERT INTO airing_log (airing_id, receiver_id, item, state, reason, outcome, at, receiver_ts,
         received_at, offset_ms, resumed, fallback, sha256, by_id)
       VALUES (@airingId, @receiverId, @item, @state, @reason, @outcome, @at, @ts, @now, @offsetMs,
         @resumed, @fallback, @sha256, @by)
       ON CONFLICT DO NOTHING`,
    ),
    ready: db.prepare<[string, string, string, string]>(
      `UPDATE airing_receivers SET state = 'ready', ready_at = coalesce(ready_at, ?), updated_at = ?
       WHERE airing_id = ? AND receiver_id = ? AND state = 'scheduled'`,
    ),
    started: db.prepare(
      `UPDATE airing_receivers SET state = 'playing', started_at = coalesce(started_at, @at),
         updated_at = @now
       WHERE airing_id = @airingId AND receiver_id = @receiverId AND (state != 'ended' OR concluded = 1)`,
    ),
    interrupted: db.prepare(
      `UPDATE airing_receivers SET state = 'interrupted', updated_at = @now
       WHERE airing_id = @airingId AND receiver_id = @receiverId AND state = 'playing'`,
    ),
    ended: db.prepare(
      `UPDATE airing_receivers SET state = 'ended', outcome = @outcome, reason = @reason,
         ended_at = @at, concluded = 0, updated_at = @now
       WHERE airing_id = @airingId AND receiver_id = @receiverId AND (state != 'ended' OR concluded = 1)`,
    ),
    due: db.prepare<[string], { airing_id: string; receiver_id: string; state: string }>(
      `SELECT ar.airing_id, ar.receiver_id, ar.state FROM airing_receivers ar
       JOIN airings a ON a.id = ar.airing_id
       WHERE ar.state IN ('scheduled', 'ready', 'playing', 'interrupted') AND a.window_end < ?
       LIMIT 10000`,
    ),
    conclude: db.prepare(
      `UPDATE airing_receivers SET state = @state, outcome = @outcome, reason = @reason, concluded = 1,
         updated_at = @now
       WHERE airing_id = @airingId AND receiver_id = @receiverId AND state = @was`,
    ),
    applied: db.prepare<[number, string, string]>(
      `UPDATE receiver_schedules SET applied_version = max(coalesce(applied_version, 0), ?),
         applied_at = ?, rejected_reason = NULL WHERE receiver_id = ?`,
    ),
    rejected: db.prepare<[string, string]>(
      'UPDATE receiver_schedules SET rejected_reason = ? WHERE receiver_id = ?',
    ),
  };

  const record = db.transaction(
    (receiverId: string, r: Extract<AiringReport, { kind: 'airing' }>, now: string) => {
      const known = s.row.get(r.airingId, receiverId);
      if (!known) return false;
      s.log.run({
        airingId: r.airingId,
        receiverId,
        item: r.item ?? null,
        state: r.state,
        reason: r.reason ?? null,
        outcome: r.outcome ?? null,
        at: r.at,
        ts: r.ts,
        now,
        offsetMs: r.offsetMs ?? null,
        resumed: r.resumed === undefined ? null : r.resumed ? 1 : 0,
        fallback: r.fallback === undefined ? null : r.fallback ? 1 : 0,
        sha256: r.sha256 ?? null,
        by: r.by ?? null,
      });
      const key = { airingId: r.airingId, receiverId, at: r.at, now };
      switch (r.state) {
        case 'ready':
          s.ready.run(r.at, now, r.airingId, receiverId);
          break;
        case 'started':
          s.started.run(key);
          break;
        case 'preempted':
          s.interrupted.run(key);
          break;
        case 'missed':
          s.ended.run({ ...key, outcome: 'missed', reason: r.reason ?? null });
          break;
        case 'ended':
          s.ended.run({ ...key, outcome: r.outcome ?? 'aired', reason: r.reason ?? null });
          break;
        default:
          break;
      }
      return true;
    },
  );

  return {
    /**
     * A receiver's report. Returns the airing report when it was about an airing this receiver
     * holds (and was recorded), the schedule acknowledgement, or null when dropped.
     */
    handle(
      receiverId: string,
      payload: Buffer,
      now: string,
    ):
      | { kind: 'airing'; report: AiringReportEvent }
      | { kind: 'schedule'; state: 'applied' | 'rejected'; version: number }
      | null {
      const decoded = decodePayload(airingReportSchema, payload);
      if (!decoded.ok) {
        log.warn({ receiverId, error: decoded.error.slice(0, 300) }, 'schedule: airing report refused');
        return null;
      }
      const r = decoded.value;
      if (r.kind === 'schedule') {
        if (r.state === 'applied') s.applied.run(r.version, now, receiverId);
        else s.rejected.run(r.reason ?? 'other', receiverId);
        if (r.state === 'rejected')
          log.warn(
            { receiverId, version: r.version, reason: r.reason, detail: r.detail },
            'schedule: refused by receiver',
          );
        return { kind: 'schedule', state: r.state, version: r.version };
      }
      if (!record(receiverId, r, now)) {
        log.debug({ receiverId, airingId: r.airingId }, 'schedule: report about an airing it was not given');
        return null;
      }
      return { kind: 'airing', report: { ...r, receiverId } };
    },

    /** Concludes, from the clock, airings whose window closed more than REPORT_MARGIN_MS ago. */
    concludeDue(nowMs: number): number {
      const now = new Date(nowMs).toISOString();
      const rows = s.due.all(new Date(nowMs - REPORT_MARGIN_MS).toISOString());
      const run = db.transaction(() => {
        for (const r of rows) {
          const key = { airingId: r.airing_id, receiverId: r.receiver_id, now, was: r.state };
          if (r.state === 'scheduled' || r.state === 'ready') {
            const reason = !deps.isOnline(r.receiver_id)
              ? 'offline'
              : r.state === 'scheduled'
                ? 'not_ready'
                : 'no_report';
            s.conclude.run({ ...key, state: 'ended', outcome: 'missed', reason });
          } else {
            // It started: what happened next was not reported. Say so; do not guess.
            s.conclude.run({ ...key, state: 'no_report', outcome: null, reason: 'no_report' });
          }
        }
      });
      run();
      return rows.length;
    },
  };
}
export type Outcomes = ReturnType<typeof createOutcomes>;
