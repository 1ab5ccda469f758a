/**
 * Each receiver's schedule document (contract/schedule.ts): the airings that concern it within the
 * horizon, with the assets they need and its zone's quiet hours as instants.
 *
 * A document is republished only when what it says changes (its digest leaves out the version, the
 * issue time and the horizon's moving edge) or when its horizon has run half down, so a fleet of a
 * thousand receivers is not re-sent its schedule every minute. Audio URLs expire on a fixed day
 * boundary after the last airing that uses them, so an unchanged schedule gives unchanged URLs.
 */
import { createHash } from 'node:crypto';
import { MAX_SCHEDULE_BYTES } from '../../contract/mqtt.js';
import type { ScheduleAsset, ScheduleDoc, ScheduledAiring, ScheduleItem } from '../../contract/schedule.js';
import type { AiringAudio } from './items.js';
import type { AiringRecord } from './repo.js';

const DAY = 86_400_000;

export interface DocInput {
  receiverId: string;
  airings: readonly AiringRecord[];
  quiet: readonly { start: number; end: number }[];
  from: number;
  until: number;
  prefetchMs: number;
  signedUrl: (audioId: string, expiresAt: Date) => string;
}

/** The document's content without version and issue time, and its digest. */
export function buildDocument(input: DocInput): {
  body: Omit<ScheduleDoc, 'version' | 'issuedAt'>;
  digest: string;
} {
  const assets = new Map<string, { audio: AiringAudio; lastUse: number }>();
  const use = (audio: AiringAudio, until: number) => {
    const known = assets.get(audio.sha256);
    if (!known || known.lastUse < until) assets.set(audio.sha256, { audio, lastUse: until });
  };
  const airings: ScheduledAiring[] = input.airings.map((a) => {
    const end = Date.parse(a.windowEnd);
    const items: ScheduleItem[] = a.items.map((item) => {
      if (item.kind === 'audio') {
        use(item, end);
        return { kind: 'audio', sha256: item.sha256, durationMs: item.durationMs };
      }
      if (item.kind === 'relay') {
        if (item.fallback) use(item.fallback, end);
        return {
          kind: 'relay',
          url: item.url,
          durationMs: item.durationMs,
          ...(item.fallback ? { fallback: item.fallback.sha256 } : {}),
        };
      }
      return { kind: 'pause', durationMs: item.durationMs };
    });
    return {
      id: a.id,
      programId: a.programId,
      title: a.title.slice(0, 120),
      at: a.at,
      priority: a.priority,
      items,
      graceMs: a.graceMs,
      late: a.late,
      resume: a.resume,
      ...(a.volume !== null ? { volume: a.volume } : {}),
    };
  });
  const assetList: ScheduleAsset[] = [...assets.values()]
    .sort((x, y) => (x.audio.sha256 < y.audio.sha256 ? -1 : 1))
    .map(({ audio, lastUse }) => ({
      sha256: audio.sha256,
      // a day boundary at least a day after the last use: stable while the schedule is
      url: input.signedUrl(audio.audioId, new Date((Math.floor(lastUse / DAY) + 2) * DAY)),
      size: audio.size,
      durationMs: audio.durationMs,
      mime: audio.mime,
    }));
  const quiet = input.quiet.map((q) => ({ start: iso(q.start), end: iso(q.end) }));
  const digest = createHash('sha256')
    .update(JSON.stringify({ airings, assets: assetList, quiet, prefetchMs: input.prefetchMs }))
    .digest('hex');
  return {
    body: {
      v: 1,
      type: 'schedule',
      receiverId: input.receiverId,
      from: iso(input.from),
      until: iso(input.until),
      assets: assetList,
      airings,
      quiet,
      prefetchMs: input.prefetchMs,
    },
    digest,
  };
}

/**
 * Seals the document with `seal`; while it is larger than MAX_SCHEDULE_BYTES, drops the last
 * airings and brings the horizon in to the first one dropped. Returns the sealed payload and the
 * document as sent.
 */
export function sealWithinLimit(
  body: Omit<ScheduleDoc, 'version' | 'issuedAt'>,
  version: number,
  issuedAt: string,
  seal: (doc: ScheduleDoc) => string,
): { payload: string; doc: ScheduleDoc } {
  let doc: ScheduleDoc = { ...body, version, issuedAt } as ScheduleDoc;
  let payload = seal(doc);
  while (Buffer.byteLength(payload) > MAX_SCHEDULE_BYTES && doc.airings.length > 0) {
    const keep = Math.max(0, Math.floor(doc.airings.length * 0.8));
    const dropped = doc.airings[keep]!;
    const airings = doc.airings.slice(0, keep);
    const needed = new Set(
      airings.flatMap((a) =>
        a.items.flatMap((i) =>
          i.kind === 'audio' ? [i.sha256] : i.kind === 'relay' && i.fallback ? [i.fallback] : [],
        ),
      ),
    );
    doc = { ...doc, airings, until: dropped.at, assets: doc.assets.filter((x) => needed.has(x.sha256)) };
    payload = seal(doc);
  }
  return { payload, doc };
}

const iso = (ms: number) => new Date(ms).toISOString();
