/**
 * Urgent announcements: the officer's (or a CAP alert's) one call. Text goes through TTS (cached),
 * the audio gets its small speech renditions for 4G, then it is a bulletin — sent now, or filed
 * for approval by the rules every bulletin follows (an editor's content; an emergency to every
 * village needs the sender's PIN or a second officer; a CAP alert that waits for an officer).
 *
 * The reach report reads the bulletin's deliveries (what receivers reported). A sweeper fires the
 * "not yet heard" webhook once per announcement, when some receivers have still not played it
 * ANNOUNCE_WEBHOOK_AFTER_S after it went out.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Principal } from '../../auth/roles.js';
import { AppError, badRequest, notFound } from '../../errors.js';
import { type Db, nowIso } from '../../storage/db.js';
import type { Approval, ApprovalService, BulletinRequest } from '../approvals/service.js';
import { type AudioLibrary, type AudioRecord, assertPlayable } from '../audio/library.js';
import type { BulletinService } from '../bulletins/service.js';
import { resolveTargets } from '../bulletins/targets.js';
import type { Fleet } from '../fleet/fleet.js';
import { buildReach, type ReachReport } from './reach.js';
import type {
  AnnounceInput,
  Announcement,
  AnnouncementService,
  AnnouncementStatus,
  AnnounceOptions,
  AnnounceResult,
  Voice,
} from './types.js';
import { sendWebhook, type WebhookTarget } from './webhook.js';

/** What makes speech from text (src/domain/tts). */
export interface SpeechMaker {
  synthesize(input: {
    text: string;
    voice: Voice;
    speed: number;
    userId?: string | undefined;
  }): Promise<{ audio: AudioRecord; cached: boolean; spoken: string; synthMs: number }>;
}

/** What makes the small speech renditions of an audio (src/domain/audio/renditions.ts). */
export interface RenditionMaker {
  /** makes them once; resolves when they exist; throws AppError 415 when the audio cannot be decoded */
  ensure(audioId: string): Promise<unknown>;
}

/** How long each step of an announcement took, for the officer and the benchmark. */
export interface AnnounceTimings {
  /** TTS, 0 when cached or not text */
  synthMs: number;
  ttsCached: boolean | null;
  /** making (or finding) the speech renditions */
  renditionMs: number;
  /** total time of the call until the bulletin was handed to the dispatcher (or filed) */
  totalMs: number;
}

export type AnnounceAnswer = AnnounceResult & {
  timings: AnnounceTimings;
  /** things the officer should know that did not stop the announcement */
  warnings: string[];
  /** the text read aloud after normalisation, when it was text */
  spoken: string | null;
};

export interface AnnouncementServiceFull extends AnnouncementService {
  create(input: AnnounceInput, by: Principal, options?: AnnounceOptions): Promise<AnnounceAnswer>;
  list(limit: number, offset: number): { items: Announcement[]; total: number };
  /** The reach report of a sent announcement (empty while it waits for approval). */
  reach(id: string): { announcement: Announcement; report: ReachReport; expiresAt: string | null };
  /** Fires due webhooks (the sweeper calls it; tests may too). */
  sweep(): Promise<void>;
  start(): void;
  close(): void;
}

interface Row {
  id: string;
  source: 'officer' | 'cap';
  title: string;
  text: string | null;
  voice: string | null;
  audio_id: string | null;
  request: string;
  bulletin_id: string | null;
  approval_id: string | null;
  status: AnnouncementStatus;
  created_by: string | null;
  created_at: string;
  alert_due_at: string | null;
  alert_sent_at: string | null;
}

const toAnnouncement = (r: Row): Announcement => ({
  id: r.id,
  source: r.source,
  title: r.title,
  status: r.status,
  text: r.text,
  voice: (r.voice as Voice | null) ?? null,
  audioId: r.audio_id,
  bulletinId: r.bulletin_id,
  approvalId: r.approval_id,
  createdBy: r.created_by,
  createdAt: r.created_at,
});

/** The first words of a text, as a title. */
export function titleFrom(text: string, max = 80): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat.length <= max) return flat;
  const cut = flat.slice(0, max);
  const space = cut.lastIndexOf(' ');
  return `${(space > max / 2 ? cut.slice(0, space) : cut).trimEnd()}…`;
}

const SWEEP_MS = 2000;

export function createAnnouncementService(deps: {
  db: Db;
  log: Logger;
  fleet: Fleet;
  audio: AudioLibrary;
  bulletins: BulletinService;
  approvals: ApprovalService;
  tts?: SpeechMaker | null;
  renditions?: RenditionMaker | null;
  webhook?: (WebhookTarget & { afterS: number }) | null;
  /** the webhook's retry plan (tests shorten it) */
  webhookRetry?: { attempts?: number; firstWaitMs?: number; timeoutMs?: number };
}): AnnouncementServiceFull {
  const { db, log, fleet } = deps;
  const byId = db.prepare<[string], Row>('SELECT * FROM announcements WHERE id = ?');
  const insert = db.prepare(
    `INSERT INTO announcements (id, source, title, text, voice, audio_id, request, bulletin_id,
       approval_id, status, created_by, created_at, alert_due_at)
     VALUES (@id, @source, @title, @text, @voice, @audio_id, @request, @bulletin_id, @approval_id,
       @status, @created_by, @created_at, @alert_due_at)`,
  );
  const setState = db.prepare(
    `UPDATE announcements SET status = @status, bulletin_id = @bulletin_id,
       alert_due_at = coalesce(alert_due_at, @alert_due_at) WHERE id = @id`,
  );
  const due = db.prepare<[string], Row>(
    `SELECT * FROM announcements WHERE status = 'sent' AND alert_sent_at IS NULL
       AND alert_due_at IS NOT NULL AND alert_due_at <= ? ORDER BY alert_due_at LIMIT 50`,
  );
  const markAlerted = db.prepare('UPDATE announcements SET alert_sent_at = ? WHERE id = ?');
  const page = db.prepare<[number, number], { id: string }>(
    'SELECT id FROM announcements ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?',
  );
  const total = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM announcements');
  const webhookDueAt = (fromMs: number): string | null =>
    deps.webhook ? new Date(fromMs + deps.webhook.afterS * 1000).toISOString() : null;

  /**
   * The row, brought up to date with its approval: approved → sent (with its bulletin), rejected,
   * withdrawn or expired → said so.
   */
  function fresh(id: string): Row {
    const row = byId.get(id);
    if (!row) throw notFound('Announcement', id);
    if (row.status !== 'pending' || !row.approval_id) return row;
    let approval: Approval;
    try {
      approval = deps.approvals.get(row.approval_id);
    } catch {
      return row;
    }
    const next: AnnouncementStatus | null =
      approval.status === 'approved' && approval.bulletinId
        ? 'sent'
        : approval.status === 'rejected'
          ? 'rejected'
          : approval.status === 'withdrawn' || approval.status === 'expired'
            ? 'withdrawn'
            : null;
    if (!next) return row;
    setState.run({
      id,
      status: next,
      bulletin_id: approval.bulletinId,
      alert_due_at: next === 'sent' ? webhookDueAt(Date.now()) : null,
    });
    return byId.get(id)!;
  }

  async function makeAudio(
    input: AnnounceInput,
    by: Principal,
  ): Promise<{ audio: AudioRecord; synthMs: number; ttsCached: boolean | null; spoken: string | null }> {
    const c = input.content;
    if (c.kind === 'audio') {
      const audio = deps.audio.get(c.audioId);
      if (!audio) throw badRequest('unknown_audio', `Audio "${c.audioId}" does not exist; upload it first.`);
      return { audio, synthMs: 0, ttsCached: null, spoken: null };
    }
    if (!deps.tts) {
      throw new AppError(503, 'tts_unavailable', 'Text-to-speech is not available on this controller.');
    }
    const r = await deps.tts.synthesize({
      text: c.text,
      voice: c.voice ?? 'north',
      speed: c.speed ?? 1,
      userId: by.id,
    });
    return { audio: r.audio, synthMs: r.cached ? 0 : r.synthMs, ttsCached: r.cached, spoken: r.spoken };
  }

  async function create(input: AnnounceInput, by: Principal, options: AnnounceOptions = {}) {
    const t0 = performance.now();
    const priority = input.priority ?? 'emergency';
    // Cheap checks first: a target that reaches nobody must not cost a synthesis.
    resolveTargets(fleet, input.target);
    const warnings: string[] = [];
    const made = await makeAudio(input, by);
    const { audio } = made;
    assertPlayable(audio);
    const r0 = performance.now();
    if (deps.renditions) {
      try {
        await deps.renditions.ensure(audio.id);
      } catch (err) {
        if (!(err instanceof AppError) || err.statusCode >= 500) throw err;
        // The original still plays everywhere it played before: an alert is never held back for it.
        warnings.push(`Sent as uploaded, without the small 4G copies: ${err.message}`);
        log.warn({ audioId: audio.id, code: err.code }, 'announcements: no speech renditions');
      }
    }
    const renditionMs = performance.now() - r0;
    const text = input.content.kind === 'text' ? input.content.text : null;
    const title = input.title ?? (text ? titleFrom(text) : audio.name);
    const request: BulletinRequest = {
      title,
      audioId: audio.id,
      target: input.target,
      priority,
      repeat: input.repeat ?? (priority === 'emergency' ? 2 : 1),
      gapSeconds: input.gapSeconds ?? 5,
      volume: input.volume,
      expiresAt: input.expiresAt,
      expiresInSeconds: input.expiresInSeconds,
    };
    const id = randomUUID();
    const base = {
      id,
      source: options.source ?? 'officer',
      title,
      text,
      voice: input.content.kind === 'text' ? (input.content.voice ?? 'north') : null,
      audio_id: audio.id,
      request: JSON.stringify(request),
      created_by: by.id,
      created_at: nowIso(),
    };
    let result: AnnounceResult;
    if (options.requireApproval) {
      const approval = deps.approvals.fileAlert(request, by);
      insert.run({
        ...base,
        bulletin_id: null,
        approval_id: approval.id,
        status: 'pending',
        alert_due_at: null,
      });
      result = { kind: 'pending', announcement: toAnnouncement(byId.get(id)!), approval };
    } else {
      const sent = await deps.approvals.submit(request, by, input.confirm);
      if (sent.kind === 'sent') {
        insert.run({
          ...base,
          bulletin_id: sent.bulletin.id,
          approval_id: null,
          status: 'sent',
          alert_due_at: webhookDueAt(Date.now()),
        });
        result = { kind: 'sent', announcement: toAnnouncement(byId.get(id)!), bulletin: sent.bulletin };
      } else {
        insert.run({
          ...base,
          bulletin_id: null,
          approval_id: sent.approval.id,
          status: 'pending',
          alert_due_at: null,
        });
        result = { kind: 'pending', announcement: toAnnouncement(byId.get(id)!), approval: sent.approval };
      }
    }
    const timings: AnnounceTimings = {
      synthMs: Math.round(made.synthMs),
      ttsCached: made.ttsCached,
      renditionMs: Math.round(renditionMs),
      totalMs: Math.round(performance.now() - t0),
    };
    log.warn(
      { announcementId: id, kind: result.kind, priority, by: by.username, source: base.source, timings },
      'announcement made',
    );
    return { ...result, timings, warnings, spoken: made.spoken };
  }

  function reach(id: string) {
    const row = fresh(id);
    const announcement = toAnnouncement(row);
    if (!row.bulletin_id) {
      return { announcement, report: buildReach([], new Map(), () => false), expiresAt: null };
    }
    const b = deps.bulletins.get(row.bulletin_id, true);
    const zoneNames = new Map(fleet.listZones().map((z) => [z.id, z.name]));
    return {
      announcement,
      report: buildReach(b.deliveries ?? [], zoneNames, (rid) => fleet.isOnline(rid)),
      expiresAt: b.expiresAt,
    };
  }

  let sweeping = false;
  async function sweep(): Promise<void> {
    if (!deps.webhook || sweeping) return;
    sweeping = true;
    try {
      for (const row of due.all(nowIso())) {
        markAlerted.run(nowIso(), row.id); // once, even if the POST fails after its retries
        const { announcement, report, expiresAt } = reach(row.id);
        const unreached = report.villages.flatMap((v) =>
          v.receivers
            .filter((r) => r.reach !== 'heard')
            .map((r) => ({
              receiverId: r.id,
              name: r.name,
              zoneId: v.zoneId,
              village: v.name,
              reach: r.reach,
              state: r.state,
              reason: r.reason,
              online: r.online,
            })),
        );
        if (unreached.length === 0) continue;
        const payload = {
          event: 'announcement.unreached',
          announcement: { ...announcement, expiresAt },
          counts: report.counts,
          villages: report.villages
            .filter((v) => v.counts.heard < v.counts.total)
            .map((v) => ({ zoneId: v.zoneId, name: v.name, counts: v.counts })),
          unreached,
          at: nowIso(),
        };
        const sent = await sendWebhook(deps.webhook, 'announcement.unreached', payload, deps.webhookRetry);
        log[sent.ok ? 'info' : 'error'](
          { announcementId: row.id, unreached: unreached.length, ...sent },
          sent.ok ? 'announcements: webhook delivered' : 'announcements: webhook failed',
        );
      }
    } finally {
      sweeping = false;
    }
  }

  let timer: NodeJS.Timeout | null = null;
  return {
    create,
    get: (id) => toAnnouncement(fresh(id)),
    list(limit, offset) {
      const rows = page.all(limit, offset);
      return { items: rows.map((r) => toAnnouncement(fresh(r.id))), total: total.get()!.n };
    },
    reach,
    async cancel(id, by) {
      const row = fresh(id);
      if (row.status === 'pending' && row.approval_id) {
        deps.approvals.withdraw(row.approval_id, by);
        setState.run({ id, status: 'withdrawn', bulletin_id: null, alert_due_at: null });
      } else if (row.status === 'sent' && row.bulletin_id) {
        const b = deps.bulletins.get(row.bulletin_id, false);
        if (b.status === 'active') await deps.bulletins.cancel(row.bulletin_id, by.id);
        setState.run({ id, status: 'cancelled', bulletin_id: row.bulletin_id, alert_due_at: null });
      } else {
        throw new AppError(
          409,
          'not_active',
          `This announcement is already ${row.status}; nothing to cancel.`,
        );
      }
      log.warn({ announcementId: id, by: by.username }, 'announcement cancelled');
      return toAnnouncement(byId.get(id)!);
    },
    sweep,
    start() {
      if (!deps.webhook) return;
      timer = setInterval(() => void sweep(), SWEEP_MS);
      timer.unref();
    },
    close() {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}
