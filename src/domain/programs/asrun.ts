/**
 * The as-run log (nhật ký phát), one for bulletins and airings alike: per receiver, what was due,
 * when it really started and ended, its outcome and why, and the sha256 of what played — all from
 * the receivers' reports (or, flagged `concluded`, a deadline passing). Queried by period, zone,
 * receiver, program and outcome; exported as CSV with English or Vietnamese headers; summed per
 * village and day for the phone UI's chart.
 */
import { Temporal } from 'temporal-polyfill';
import type { AsRunDay, AsRunRow, Outcome } from '../../contract/asrun.js';
import type { Db } from '../../storage/db.js';

export type { AsRunDay, AsRunRow, Outcome };

export interface AsRunQuery {
  from: string;
  to: string;
  zone?: string | undefined;
  receiver?: string | undefined;
  program?: string | undefined;
  outcome?: Outcome | undefined;
  kind?: 'airing' | 'bulletin' | undefined;
  limit?: number | undefined;
}

/** A bulletin delivery's state as an as-run outcome. */
function bulletinOutcome(state: string, started: string | null): Outcome {
  if (state === 'done') return 'aired';
  if (state === 'preempted' || state === 'cancelled') return started ? 'cut' : 'missed';
  if (state === 'failed' || state === 'expired') return started ? 'cut' : 'missed';
  if (state === 'playing' || state === 'stopping') return 'pending';
  return 'pending';
}

export function createAsRun(db: Db) {
  const airingRows = db.prepare<
    [string, string],
    {
      id: string;
      title: string;
      program_id: string;
      priority: string;
      receiver_id: string;
      zone_id: string | null;
      scheduled: string;
      started: string | null;
      ended: string | null;
      outcome: string | null;
      reason: string | null;
      state: string;
      concluded: number;
      sha: string | null;
    }
  >(
    `SELECT a.id, a.title, a.program_id, a.priority, ar.receiver_id, r.zone_id, a.at AS scheduled,
       ar.started_at AS started, ar.ended_at AS ended, ar.outcome, ar.reason, ar.state, ar.concluded,
       (SELECT group_concat(l.sha256, ' ') FROM airing_log l
          WHERE l.airing_id = a.id AND l.receiver_id = ar.receiver_id AND l.state = 'finished'
            AND l.sha256 IS NOT NULL) AS sha
     FROM airing_receivers ar
     JOIN airings a ON a.id = ar.airing_id
     LEFT JOIN receivers r ON r.id = ar.receiver_id
     WHERE a.at >= ? AND a.at < ?
     ORDER BY a.at, a.id, ar.receiver_id
     LIMIT 50000`,
  );
  const bulletinRows = db.prepare<
    [string, string],
    {
      id: string;
      title: string;
      priority: string;
      receiver_id: string;
      zone_id: string | null;
      scheduled: string;
      started: string | null;
      ended: string | null;
      state: string;
      reason: string | null;
      concluded: number;
      sha: string;
    }
  >(
    `SELECT b.id, b.title, b.priority, d.receiver_id, r.zone_id, b.created_at AS scheduled,
       (SELECT min(l.receiver_ts) FROM delivery_log l
          WHERE l.bulletin_id = b.id AND l.receiver_id = d.receiver_id AND l.event = 'started') AS started,
       (SELECT max(l.receiver_ts) FROM delivery_log l
          WHERE l.bulletin_id = b.id AND l.receiver_id = d.receiver_id
            AND l.event IN ('finished', 'preempted', 'cancelled', 'failed')) AS ended,
       d.state, d.reason, d.concluded, au.sha256 AS sha
     FROM deliveries d
     JOIN bulletins b ON b.id = d.bulletin_id
     JOIN audio au ON au.id = b.audio_id
     LEFT JOIN receivers r ON r.id = d.receiver_id
     WHERE b.created_at >= ? AND b.created_at < ?
     ORDER BY b.created_at, b.id, d.receiver_id
     LIMIT 50000`,
  );

  function query(q: AsRunQuery): AsRunRow[] {
    const out: AsRunRow[] = [];
    if (q.kind !== 'bulletin') {
      for (const r of airingRows.all(q.from, q.to)) {
        const outcome: Outcome =
          r.outcome === 'aired' || r.outcome === 'cut' || r.outcome === 'missed'
            ? r.outcome
            : r.state === 'no_report'
              ? 'unknown'
              : 'pending';
        out.push({
          kind: 'airing',
          id: r.id,
          title: r.title,
          programId: r.program_id,
          priority: r.priority,
          receiverId: r.receiver_id,
          zoneId: r.zone_id,
          scheduled: r.scheduled,
          started: r.started,
          ended: r.ended,
          outcome,
          reason: r.reason,
          state: r.state,
          concluded: r.concluded === 1,
          sha256: r.sha ? r.sha.split(' ') : [],
        });
      }
    }
    if (q.kind !== 'airing' && !q.program) {
      for (const r of bulletinRows.all(q.from, q.to)) {
        const outcome = bulletinOutcome(r.state, r.started);
        out.push({
          kind: 'bulletin',
          id: r.id,
          title: r.title,
          programId: null,
          priority: r.priority,
          receiverId: r.receiver_id,
          zoneId: r.zone_id,
          scheduled: r.scheduled,
          started: r.started,
          ended: r.ended,
          outcome,
          reason: r.reason,
          state: r.state,
          concluded: r.concluded === 1,
          sha256: outcome === 'aired' ? [r.sha] : [],
        });
      }
    }
    return out
      .filter((r) => !q.zone || r.zoneId === q.zone)
      .filter((r) => !q.receiver || r.receiverId === q.receiver)
      .filter((r) => !q.program || r.programId === q.program)
      .filter((r) => !q.outcome || r.outcome === q.outcome)
      .sort((a, b) => (a.scheduled < b.scheduled ? -1 : a.scheduled > b.scheduled ? 1 : 0))
      .slice(0, q.limit ?? 10_000);
  }

  return {
    query,
    /**
     * Per village (zone) and local day: how many (item, receiver) pairs aired, were cut, were
     * missed, or are still pending, bulletins and airings together.
     */
    summary(q: { from: string; to: string; timeZone: string; zone?: string | undefined }) {
      const days = new Map<string, AsRunDay>();
      for (const r of query({ from: q.from, to: q.to, zone: q.zone, limit: 50_000 })) {
        const date = Temporal.Instant.from(r.scheduled)
          .toZonedDateTimeISO(q.timeZone)
          .toPlainDate()
          .toString();
        const key = `${date}|${r.zoneId ?? ''}`;
        let d = days.get(key);
        if (!d) {
          d = { date, zoneId: r.zoneId, aired: 0, cut: 0, missed: 0, pending: 0, unknown: 0 };
          days.set(key, d);
        }
        d[r.outcome] += 1;
      }
      return [...days.values()].sort((a, b) =>
        a.date === b.date ? (a.zoneId ?? '').localeCompare(b.zoneId ?? '') : a.date < b.date ? -1 : 1,
      );
    },
  };
}
export type AsRun = ReturnType<typeof createAsRun>;

const HEADERS = {
  en: [
    'kind',
    'id',
    'title',
    'program',
    'priority',
    'receiver',
    'zone',
    'scheduled',
    'started',
    'ended',
    'outcome',
    'reason',
    'concluded',
    'sha256',
  ],
  vi: [
    'loại',
    'mã',
    'tiêu đề',
    'chương trình',
    'mức ưu tiên',
    'thiết bị',
    'thôn',
    'giờ theo lịch',
    'bắt đầu',
    'kết thúc',
    'kết quả',
    'lý do',
    'suy ra theo hạn',
    'sha256',
  ],
} as const;

const OUTCOME_VI: Record<Outcome, string> = {
  aired: 'đã phát',
  cut: 'bị cắt',
  missed: 'không phát',
  pending: 'đang chờ',
  unknown: 'không rõ',
};

/** RFC 4180 CSV (CRLF, quoted where needed), with a BOM so spreadsheet programs read UTF-8. */
export function toCsv(rows: readonly AsRunRow[], lang: 'en' | 'vi'): string {
  const cell = (v: string | number | boolean | null) => {
    const s = v === null ? '' : String(v);
    // a leading =, +, - or @ would run as a formula in a spreadsheet
    const safe = /^[=+\-@]/.test(s) ? `'${s}` : s;
    return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
  };
  const lines = [HEADERS[lang].join(',')];
  for (const r of rows) {
    lines.push(
      [
        lang === 'vi' ? (r.kind === 'airing' ? 'lịch phát' : 'bản tin') : r.kind,
        r.id,
        r.title,
        r.programId,
        r.priority,
        r.receiverId,
        r.zoneId,
        r.scheduled,
        r.started,
        r.ended,
        lang === 'vi' ? OUTCOME_VI[r.outcome] : r.outcome,
        r.reason,
        r.concluded ? (lang === 'vi' ? 'có' : 'yes') : '',
        r.sha256.join(' '),
      ]
        .map(cell)
        .join(','),
    );
  }
  return `\uFEFF${lines.join('\r\n')}\r\n`;
}
