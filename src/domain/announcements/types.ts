/**
 * Urgent announcements (issue 9): the one call an officer (or a CAP alert) makes to get a message
 * out of every horn. Content is a recording or an uploaded file already in the library, or typed
 * text read by text-to-speech; it becomes a bulletin with everything bulletins have, sent as the
 * small speech renditions receivers can play.
 *
 * This file is the interface other parts (CAP input, the HTTP routes, the phone UI) build on; the
 * service is in service.ts.
 */
import type { Principal } from '../../auth/roles.js';
import type { Priority } from '../../contract/mqtt.js';
import type { Approval } from '../approvals/service.js';
import type { BulletinTarget } from '../bulletins/repo.js';
import type { BulletinDetail } from '../bulletins/service.js';

/** Vietnamese voices every TTS provider offers: Northern (Hà Nội), Central (Huế), Southern (Sài Gòn). */
export const VOICES = ['north', 'central', 'south'] as const;
export type Voice = (typeof VOICES)[number];

/** What is said: audio in the library, or text for TTS. */
export type AnnouncementContent =
  | { kind: 'audio'; audioId: string }
  | {
      kind: 'text';
      text: string;
      /** default 'north' */
      voice?: Voice | undefined;
      /** 0.5–2, default 1 */
      speed?: number | undefined;
    };

export interface AnnounceInput {
  title?: string | undefined;
  content: AnnouncementContent;
  target: BulletinTarget;
  /** default 'emergency' */
  priority?: Priority | undefined;
  /** plays, default 2 for an emergency (1 otherwise) */
  repeat?: number | undefined;
  /** seconds between plays, default 5 */
  gapSeconds?: number | undefined;
  /** 0–100; absent keeps each receiver's own volume */
  volume?: number | undefined;
  expiresAt?: string | undefined;
  expiresInSeconds?: number | undefined;
  /** the confirmation of an emergency to every village (the sender's PIN, or a confirmation token) */
  confirm?: { pin?: string | undefined; token?: string | undefined } | undefined;
}

/** Where an announcement came from, and how it must go out. */
export interface AnnounceOptions {
  source?: 'officer' | 'cap';
  /** file it for an officer's approval whatever the sender's roles (a CAP alert that waits) */
  requireApproval?: boolean | undefined;
}

export type AnnouncementStatus = 'pending' | 'sent' | 'rejected' | 'cancelled' | 'withdrawn';

/** One receiver in the reach report, in words an officer reads. */
export type ReachState = 'heard' | 'playing' | 'not_yet' | 'failed';

export interface Announcement {
  id: string;
  source: 'officer' | 'cap';
  title: string;
  status: AnnouncementStatus;
  text: string | null;
  voice: Voice | null;
  audioId: string | null;
  bulletinId: string | null;
  approvalId: string | null;
  createdBy: string | null;
  createdAt: string;
}

export type AnnounceResult =
  | { kind: 'sent'; announcement: Announcement; bulletin: BulletinDetail }
  | { kind: 'pending'; announcement: Announcement; approval: Approval };

export interface AnnouncementService {
  /** Makes the audio (TTS when text), then sends it now or files it for approval. */
  create(input: AnnounceInput, by: Principal, options?: AnnounceOptions): Promise<AnnounceResult>;
  get(id: string): Announcement;
  /** Cancels a sent announcement (its bulletin), or withdraws one still waiting for approval. */
  cancel(id: string, by: Principal): Promise<Announcement>;
}
