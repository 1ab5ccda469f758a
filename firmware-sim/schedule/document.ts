/**
 * Taking a schedule document (docs/protocol.md §13.2): verified like a command (signed envelope,
 * trusted key, signature over the arrival topic), decoded against `scheduleDocSchema` with the
 * schedule's own size limit, meant for this receiver, and not older than the one held.
 *
 * What a receiver keeps of its schedule survives a restart (`ScheduleMemory`): a firmware keeps it
 * in flash, so a reboot neither loses the day's airings nor plays one twice.
 */
import type { KeyObject } from 'node:crypto';
import { MAX_SCHEDULE_BYTES, type ScheduleDoc, scheduleDocSchema } from '../../src/contract/schedule.js';
import { open } from '../../src/contract/signing.js';

/** Why a document was refused, as the `reason` of a `rejected` schedule report. */
export type DocRefusal = 'unsigned' | 'unknown_key' | 'bad_signature' | 'wrong_topic' | 'invalid' | 'stale';

export type DocVerdict =
  | { ok: true; doc: ScheduleDoc; same: boolean }
  | { ok: false; reason: DocRefusal; error: string; version?: number };

/**
 * Checks a payload that arrived on the receiver's schedule topic. `held` is the version of the
 * document in force (null: none). `same` is true for the version already held (the retained copy
 * again after a reconnection): acknowledged, nothing changes.
 */
export function verifyScheduleDoc(
  trusted: ReadonlyMap<string, KeyObject>,
  topic: string,
  receiverId: string,
  payload: Buffer,
  held: number | null,
  /** deliberate violations (../breaks.ts): skip the signature check, or the receiver id check */
  lax: { forged?: boolean; otherReceiver?: boolean } = {},
): DocVerdict {
  const opened = open(trusted, topic, scheduleDocSchema, payload, MAX_SCHEDULE_BYTES);
  if (!opened.ok && lax.forged && opened.reason !== 'malformed' && opened.reason !== 'invalid') {
    const doc = unverified(payload);
    if (doc) return { ok: true, doc, same: held !== null && doc.version === held };
  }
  if (!opened.ok) {
    const reason = opened.reason === 'malformed' ? 'invalid' : opened.reason;
    const verdict: DocVerdict = { ok: false, reason, error: opened.error };
    // The version an unverified payload claims is used for that report only, so the controller
    // can tell which document was refused (as with the command ids of refused commands).
    const version = opened.reason === 'malformed' ? undefined : claimedVersion(payload);
    if (version !== undefined) verdict.version = version;
    return verdict;
  }
  const doc = opened.value;
  if (doc.receiverId !== receiverId && !lax.otherReceiver)
    return {
      ok: false,
      reason: 'wrong_topic',
      error: `document for receiver ${doc.receiverId}`,
      version: doc.version,
    };
  if (held !== null && doc.version < held)
    return {
      ok: false,
      reason: 'stale',
      error: `version ${doc.version} is older than the ${held} held`,
      version: doc.version,
    };
  return { ok: true, doc, same: held !== null && doc.version === held };
}

/** The document in a payload whose envelope did not verify (the `accept-forged-schedule` break). */
function unverified(payload: Buffer): ScheduleDoc | null {
  try {
    const outer = JSON.parse(payload.toString('utf8')) as { body?: unknown };
    const body = typeof outer.body === 'string' ? JSON.parse(outer.body) : outer;
    const doc = scheduleDocSchema.safeParse(body);
    return doc.success ? doc.data : null;
  } catch {
    return null;
  }
}

/** The version a payload claims (inside an envelope's body, or at the top of plain JSON), if usable. */
function claimedVersion(payload: Buffer): number | undefined {
  try {
    const outer = JSON.parse(payload.toString('utf8')) as { body?: unknown; version?: unknown };
    const body = typeof outer.body === 'string' ? (JSON.parse(outer.body) as { version?: unknown }) : outer;
    const v = body?.version;
    return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What a receiver keeps across restarts: the document in force and the airings already dealt
 * with (started, or reported missed), each until its window has closed. An airing id in
 * `handled` never plays again, whatever document or restart brings it back.
 */
export class ScheduleMemory {
  doc: ScheduleDoc | null = null;
  /** airing id → controller-time instant after which it may be forgotten (its window end) */
  readonly #handled = new Map<string, number>();

  get version(): number | null {
    return this.doc?.version ?? null;
  }

  isHandled(airingId: string): boolean {
    return this.#handled.has(airingId);
  }

  markHandled(airingId: string, until: number): void {
    this.#handled.set(airingId, until);
  }

  /** Forgets every airing dealt with (only the `volatile-aired` break: a firmware without storage). */
  forgetHandled(): void {
    this.#handled.clear();
  }

  /** Forgets ids whose window closed more than `keepMs` before `now` and that no document lists. */
  prune(now: number, keepMs: number): void {
    const listed = new Set(this.doc?.airings.map((a) => a.id) ?? []);
    for (const [id, until] of this.#handled)
      if (until + keepMs < now && !listed.has(id)) this.#handled.delete(id);
  }
}
