/**
 * CAP 1.2 (OASIS Common Alerting Protocol, ITU-T X.1303) as loalang reads it: the parts of an
 * alert that decide whether, where and how urgently it airs. Element names follow the standard
 * (CAP-v1.2 §3.2); what loalang does not use (resources, parameters, signatures) is left out.
 */

import type { AnnouncementStatus } from '../announcements/types.js';

export const CAP_NAMESPACE = 'urn:oasis:names:tc:emergency:cap:1.2';

export const CAP_STATUSES = ['Actual', 'Exercise', 'System', 'Test', 'Draft'] as const;
export const CAP_MSG_TYPES = ['Alert', 'Update', 'Cancel', 'Ack', 'Error'] as const;
export const CAP_URGENCIES = ['Immediate', 'Expected', 'Future', 'Past', 'Unknown'] as const;
export const CAP_SEVERITIES = ['Extreme', 'Severe', 'Moderate', 'Minor', 'Unknown'] as const;
export const CAP_CERTAINTIES = ['Observed', 'Likely', 'Possible', 'Unlikely', 'Unknown'] as const;

export type CapStatus = (typeof CAP_STATUSES)[number];
export type CapMsgType = (typeof CAP_MSG_TYPES)[number];
export type CapUrgency = (typeof CAP_URGENCIES)[number];
export type CapSeverity = (typeof CAP_SEVERITIES)[number];
export type CapCertainty = (typeof CAP_CERTAINTIES)[number];

/** A (valueName, value) pair: geocode, eventCode. */
export interface CapPair {
  valueName: string;
  value: string;
}

/** One `<area>`: a description, and any number of polygons, circles and geocodes (§3.2.4). */
export interface CapArea {
  areaDesc: string;
  /** "lat,lon lat,lon …", WGS 84, the first and last point the same */
  polygons: string[];
  /** "lat,lon radius", the radius in kilometres */
  circles: string[];
  geocodes: CapPair[];
}

/** One `<info>`: the alert in one language (§3.2.2). */
export interface CapInfo {
  /** RFC 3066 language; en-US when absent (the schema's default) */
  language: string;
  categories: string[];
  event: string;
  urgency: CapUrgency;
  severity: CapSeverity;
  certainty: CapCertainty;
  headline: string | null;
  description: string | null;
  instruction: string | null;
  effective: string | null;
  onset: string | null;
  expires: string | null;
  senderName: string | null;
  areas: CapArea[];
}

/** An alert referenced by an Update, Cancel, Ack or Error: "sender,identifier,sent". */
export interface CapReference {
  sender: string;
  identifier: string;
  sent: string;
}

export interface CapAlert {
  identifier: string;
  sender: string;
  sent: string;
  status: CapStatus;
  msgType: CapMsgType;
  scope: string;
  note: string | null;
  references: CapReference[];
  infos: CapInfo[];
}

/**
 * What became of an alert (cap_alerts.outcome):
 * - sent: aired at once; pending: waits for an officer's approval;
 * - superseded / cancelled: a later Update or Cancel of the same source replaced or withdrew it;
 * - cancel_applied: a Cancel that cancelled what it references; unknown_reference: it referenced
 *   nothing this controller holds (or only what had ended);
 * - not_actual: status Exercise, System, Test or Draft: recorded, never aired;
 * - recorded: an Ack or Error message;
 * - no_area: none of its areas is one of this commune's villages;
 * - expired: its `expires` had passed when it arrived;
 * - failed: it could not be made into an announcement (e.g. no text-to-speech); the same alert
 *   sent again is tried again;
 * - processing: being handled right now.
 */
export const CAP_OUTCOMES = [
  'processing',
  'sent',
  'pending',
  'superseded',
  'cancelled',
  'cancel_applied',
  'unknown_reference',
  'not_actual',
  'recorded',
  'no_area',
  'expired',
  'failed',
] as const;
export type CapOutcome = (typeof CAP_OUTCOMES)[number];

/** A row of cap_alerts, as the API shows it. */
export interface CapAlertRecord {
  sender: string;
  identifier: string;
  sent: string;
  msgType: string;
  status: string;
  receivedAt: string;
  /** the account (alert source) it came through */
  receivedBy: string | null;
  outcome: CapOutcome;
  detail: string | null;
  announcementId: string | null;
  /** where its announcement stands now (an officer may have approved, rejected or cancelled it) */
  announcementStatus: AnnouncementStatus | null;
}
