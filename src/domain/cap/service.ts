/**
 * CAP 1.2 input: an alert from a warning centre becomes an urgent announcement (text to speech)
 * to the villages its areas cover, at the priority its urgency/severity/certainty map to — aired
 * at once or filed for an officer, as the mapping says. Every alert is recorded in cap_alerts with
 * what became of it; the same (sender, identifier) twice is answered as a duplicate and nothing
 * airs twice; Update and Cancel act on the announcements of the alerts they reference.
 */
import type { Logger } from 'pino';
import { hasRole, type Principal } from '../../auth/roles.js';
import type { Priority } from '../../contract/mqtt.js';
import { AppError } from '../../errors.js';
import { type Db, nowIso } from '../../storage/db.js';
import type { AnnounceAnswer, AnnouncementServiceFull } from '../announcements/service.js';
import { titleFrom } from '../announcements/service.js';
import type { AnnounceInput, Announcement, AnnouncementStatus } from '../announcements/types.js';
import type { BulletinTarget } from '../bulletins/repo.js';
import type { Fleet } from '../fleet/fleet.js';
import { type AreaMatch, type CapMap, mapPriority, matchAreas, pickInfo, spokenText } from './mapping.js';
import type { CapParser } from './parse.js';
import type { CapAlert, CapAlertRecord, CapInfo, CapOutcome, CapReference } from './types.js';

/** The longest text the announce service takes. */
const MAX_TEXT = 5000;
/** An alert still 'processing' after this was left by a controller that stopped meanwhile. */
const STALE_MS = 10 * 60_000;

export interface CapResult {
  /** 201 aired at once, 202 waiting for an officer, 200 recorded without airing (or a duplicate) */
  httpStatus: 200 | 201 | 202;
  duplicate: boolean;
  outcome: CapOutcome;
  alert: CapAlertRecord;
  announcement: Announcement | null;
  /** the approval an officer decides on, when it waits */
  approvalId: string | null;
  mapped: {
    priority: Priority;
    airsAtOnce: boolean;
    rule: number | null;
    target: BulletinTarget;
    areas: string[];
  } | null;
  warnings: string[];
}

export interface CapService {
  /** Reads, records and acts on one alert; throws AppError for what cannot be read (4xx). */
  receive(xml: string, by: Principal): Promise<CapResult>;
  list(limit: number, offset: number): { items: CapAlertRecord[]; total: number };
  close(): void;
}

interface Row {
  sender: string;
  identifier: string;
  sent: string;
  msg_type: string;
  status: string;
  received_at: string;
  received_by: string | null;
  outcome: CapOutcome;
  detail: string | null;
  announcement_id: string | null;
}

const toRecordWith = (r: Row, announcementStatus: AnnouncementStatus | null): CapAlertRecord => ({
  sender: r.sender,
  identifier: r.identifier,
  sent: r.sent,
  msgType: r.msg_type,
  status: r.status,
  receivedAt: r.received_at,
  receivedBy: r.received_by,
  outcome: r.outcome,
  detail: r.detail,
  announcementId: r.announcement_id,
  announcementStatus,
});

export function createCapService(deps: {
  db: Db;
  log: Logger;
  fleet: Fleet;
  announcements: AnnouncementServiceFull;
  parser: CapParser;
  map: CapMap;
  now?: () => number;
}): CapService {
  const { db, log, fleet, announcements, map } = deps;
  const statusOf = (announcementId: string | null): AnnouncementStatus | null => {
    if (!announcementId) return null;
    try {
      return announcements.get(announcementId).status;
    } catch {
      return null;
    }
  };
  const toRecord = (r: Row) => toRecordWith(r, statusOf(r.announcement_id));
  const now = deps.now ?? Date.now;
  const COLUMNS =
    'sender, identifier, sent, msg_type, status, received_at, received_by, outcome, detail, announcement_id';
  const byKey = db.prepare<[string, string], Row>(
    `SELECT ${COLUMNS} FROM cap_alerts WHERE sender = ? AND identifier = ?`,
  );
  const claim = db.prepare(
    `INSERT INTO cap_alerts (sender, identifier, sent, msg_type, status, received_at, received_by, outcome, xml)
     VALUES (@sender, @identifier, @sent, @msg_type, @status, @received_at, @received_by, 'processing', @xml)
     ON CONFLICT (sender, identifier) DO NOTHING`,
  );
  // An alert that failed (no TTS, say) may be sent again: it is tried again, not a duplicate. So
  // may one left 'processing' by a controller that stopped in the middle of it.
  const reclaim = db.prepare(
    `UPDATE cap_alerts SET sent = @sent, msg_type = @msg_type, status = @status, received_at = @received_at,
       received_by = @received_by, outcome = 'processing', detail = NULL, xml = @xml
     WHERE sender = @sender AND identifier = @identifier
       AND (outcome = 'failed' OR (outcome = 'processing' AND received_at < @stale_before))`,
  );
  const finish = db.prepare(
    `UPDATE cap_alerts SET outcome = ?, detail = ?, announcement_id = ? WHERE sender = ? AND identifier = ?`,
  );
  const mark = db.prepare(
    `UPDATE cap_alerts SET outcome = ?, detail = coalesce(detail || ' ', '') || ? WHERE sender = ? AND identifier = ?`,
  );

  function fleetView() {
    return {
      zones: fleet.listZones().map((z) => ({ id: z.id, name: z.name })),
      placed: fleet
        .listReceivers({ adoption: 'adopted' })
        .filter((r) => r.zoneId !== null && r.position !== null)
        .map((r) => ({ id: r.id, zoneId: r.zoneId!, position: r.position! })),
    };
  }

  /** What a referenced alert's announcement becomes; a line for the detail of the referencing one. */
  async function withdrawReferenced(
    ref: CapReference,
    by: Principal,
    as: 'superseded' | 'cancelled',
    because: string,
  ): Promise<{ acted: boolean; line: string }> {
    const row = byKey.get(ref.sender, ref.identifier);
    const name = `${ref.sender},${ref.identifier}`;
    if (!row) return { acted: false, line: `${name}: not known here` };
    // One source may not withdraw what came through another (unless an admin sends it).
    if (row.received_by !== by.id && !hasRole(by, 'admin')) {
      return { acted: false, line: `${name}: came through another account; left as it is` };
    }
    if (!row.announcement_id) {
      mark.run(as, `(${as} by ${because})`, ref.sender, ref.identifier);
      return { acted: false, line: `${name}: had not aired (${row.outcome})` };
    }
    try {
      await announcements.cancel(row.announcement_id, by);
      mark.run(as, `(${as} by ${because})`, ref.sender, ref.identifier);
      return { acted: true, line: `${name}: announcement ${row.announcement_id} ${as}` };
    } catch (err) {
      if (!(err instanceof AppError) || err.statusCode >= 500) throw err;
      mark.run(as, `(${as} by ${because})`, ref.sender, ref.identifier);
      return { acted: false, line: `${name}: ${err.message}` };
    }
  }

  /**
   * Makes the announcement. An alert the mapping airs at once plays now (an alert source may, within
   * the zones of its account, like an operator); the commune's rule for an emergency to every
   * village still holds: then it waits for an officer's confirmation instead.
   */
  async function announce(
    input: AnnounceInput,
    by: Principal,
    airsAtOnce: boolean,
    warnings: string[],
  ): Promise<AnnounceAnswer> {
    if (!airsAtOnce) return announcements.create(input, by, { source: 'cap', requireApproval: true });
    try {
      return await announcements.create(input, by, { source: 'cap' });
    } catch (err) {
      if (!(err instanceof AppError) || err.code !== 'confirmation_required') throw err;
      warnings.push(
        'It reaches every village: by the commune’s confirmation rule (EMERGENCY_ALL_CONFIRM) it waits for an officer to confirm it.',
      );
      return announcements.create(input, by, { source: 'cap', requireApproval: true });
    }
  }

  interface Plan {
    info: CapInfo;
    text: string;
    match: AreaMatch;
    target: BulletinTarget | null;
    priority: ReturnType<typeof mapPriority>;
    warnings: string[];
  }

  /** Checks an Alert or Update before anything is recorded: no usable info is a 422. */
  function plan(alert: CapAlert): Plan {
    const info = pickInfo(alert.infos, map.languages);
    if (!info) {
      throw new AppError(
        422,
        'cap_no_info',
        alert.infos.length === 0
          ? `This ${alert.msgType} has no <info>: there is nothing to announce.`
          : 'No <info> of this alert has a headline, description or instruction: there is nothing to read aloud.',
      );
    }
    const warnings: string[] = [];
    const spoken = spokenText(info, MAX_TEXT);
    if (spoken.cut) warnings.push(`The text was cut to ${spoken.text.length} characters.`);
    const match = matchAreas(info.areas, map, fleetView());
    warnings.push(...match.problems);
    const target: BulletinTarget | null = match.all
      ? { all: true }
      : match.zones.length
        ? { zones: match.zones }
        : null;
    return { info, text: spoken.text, match, target, priority: mapPriority(info, map), warnings };
  }

  async function act(
    alert: CapAlert,
    p: Plan | null,
    by: Principal,
  ): Promise<{
    outcome: CapOutcome;
    detail: string;
    answer: AnnounceAnswer | null;
    /** why it could not be aired, when outcome is 'failed' */
    error?: AppError | undefined;
  }> {
    if (alert.status !== 'Actual') {
      return { outcome: 'not_actual', detail: `status ${alert.status}: recorded, not aired`, answer: null };
    }
    if (alert.msgType === 'Ack' || alert.msgType === 'Error') {
      return { outcome: 'recorded', detail: `${alert.msgType}: recorded`, answer: null };
    }
    const self = `${alert.sender},${alert.identifier}`;
    if (alert.msgType === 'Cancel') {
      if (alert.references.length === 0) {
        return { outcome: 'unknown_reference', detail: 'Cancel without references', answer: null };
      }
      const lines: string[] = [];
      let acted = false;
      for (const ref of alert.references) {
        const r = await withdrawReferenced(ref, by, 'cancelled', self);
        acted ||= r.acted;
        lines.push(r.line);
      }
      return {
        outcome: acted ? 'cancel_applied' : 'unknown_reference',
        detail: lines.join('; '),
        answer: null,
      };
    }
    // Alert or Update
    const plan_ = p!;
    const notes: string[] = [];
    const expires = plan_.info.expires ? new Date(plan_.info.expires) : null;
    let outcome: CapOutcome;
    let answer: AnnounceAnswer | null = null;
    if (expires && expires.getTime() <= now()) {
      outcome = 'expired';
      notes.push(`expired at ${plan_.info.expires}`);
    } else if (!plan_.target) {
      outcome = 'no_area';
      notes.push(
        `no village matches its areas (${plan_.info.areas.map((a) => `"${a.areaDesc}"`).join(', ') || 'none'})`,
      );
    } else {
      const input: AnnounceInput = {
        title: titleFrom(plan_.info.headline ?? plan_.info.event, 120),
        content: { kind: 'text', text: plan_.text, voice: map.voice },
        target: plan_.target,
        priority: plan_.priority.priority,
        repeat: map.repeat,
        gapSeconds: map.gapSeconds,
        volume: map.volume,
        expiresAt: expires?.toISOString(),
      };
      try {
        answer = await announce(input, by, plan_.priority.airsAtOnce, plan_.warnings);
      } catch (err) {
        // Recorded, and the sender hears why; an Update that could not be made leaves the old in force.
        if (!(err instanceof AppError)) throw err;
        return {
          outcome: 'failed',
          detail: `not aired: ${err.code}: ${err.message}`,
          answer: null,
          error: err,
        };
      }
      outcome = answer.kind === 'sent' ? 'sent' : 'pending';
      notes.push(
        `${plan_.priority.priority}${answer.kind === 'pending' ? ', waits for an officer' : ', aired at once'}; ${plan_.match.reasons.join('; ')}`,
      );
    }
    if (alert.msgType === 'Update') {
      for (const ref of alert.references)
        notes.push((await withdrawReferenced(ref, by, 'superseded', self)).line);
    }
    return { outcome, detail: [...notes, ...plan_.warnings].join('; '), answer };
  }

  return {
    async receive(xml, by) {
      const alert = deps.parser.parse(xml);
      const actionable =
        alert.status === 'Actual' && (alert.msgType === 'Alert' || alert.msgType === 'Update');
      const p = actionable ? plan(alert) : null;
      const key = {
        sender: alert.sender,
        identifier: alert.identifier,
        sent: alert.sent,
        msg_type: alert.msgType,
        status: alert.status,
        received_at: nowIso(),
        received_by: by.id,
        xml,
      };
      const stale = { ...key, stale_before: new Date(now() - STALE_MS).toISOString() };
      // Claimed before anything airs: a second copy arriving meanwhile is a duplicate.
      if (claim.run(key).changes === 0 && reclaim.run(stale).changes === 0) {
        const existing = byKey.get(alert.sender, alert.identifier)!;
        log.info({ sender: alert.sender, identifier: alert.identifier }, 'cap: duplicate alert ignored');
        return {
          httpStatus: 200,
          duplicate: true,
          outcome: existing.outcome,
          alert: toRecord(existing),
          announcement: existing.announcement_id ? announcements.get(existing.announcement_id) : null,
          approvalId: null,
          mapped: null,
          warnings: [],
        };
      }
      let result: Awaited<ReturnType<typeof act>>;
      try {
        result = await act(alert, p, by);
      } catch (err) {
        log.error({ err, sender: alert.sender, identifier: alert.identifier }, 'cap: alert failed');
        finish.run('failed', 'not aired: internal error', null, alert.sender, alert.identifier);
        throw err;
      }
      const announcement = result.answer?.announcement ?? null;
      finish.run(result.outcome, result.detail, announcement?.id ?? null, alert.sender, alert.identifier);
      const record = toRecord(byKey.get(alert.sender, alert.identifier)!);
      log.warn(
        {
          sender: alert.sender,
          identifier: alert.identifier,
          msgType: alert.msgType,
          outcome: result.outcome,
        },
        'cap: alert received',
      );
      if (result.error) {
        // The sender hears the announce service's reason (e.g. 503 tts_unavailable) and that the
        // alert is recorded: sent again once that is fixed, it is tried again.
        const e = result.error;
        throw new AppError(
          e.statusCode >= 500 ? e.statusCode : 422,
          e.code,
          `The alert is recorded (outcome "failed") but was not aired: ${e.message} Send it again once this is fixed; it will be tried again.`,
          { outcome: 'failed', alert: record },
        );
      }
      return {
        httpStatus: !result.answer ? 200 : result.answer.kind === 'sent' ? 201 : 202,
        duplicate: false,
        outcome: result.outcome,
        alert: record,
        announcement,
        approvalId: result.answer?.kind === 'pending' ? result.answer.approval.id : null,
        mapped: p?.target
          ? {
              priority: p.priority.priority,
              airsAtOnce: p.priority.airsAtOnce && result.answer?.kind !== 'pending',
              rule: p.priority.rule,
              target: p.target,
              areas: p.match.reasons,
            }
          : null,
        warnings: [...(p?.warnings ?? []), ...(result.answer?.warnings ?? [])],
      };
    },

    list(limit, offset) {
      const items = db
        .prepare<[number, number], Row>(
          `SELECT ${COLUMNS} FROM cap_alerts ORDER BY received_at DESC, rowid DESC LIMIT ? OFFSET ?`,
        )
        .all(limit, offset)
        .map(toRecord);
      const { n } = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM cap_alerts').get()!;
      return { items, total: n };
    },

    close() {
      deps.parser.close();
    },
  };
}
