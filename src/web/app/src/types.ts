/**
 * API shapes several screens share (as GET /api/zones, GET /api/receivers and GET /api/approvals
 * answer them; the parts the app reads).
 */
export interface Zone {
  id: string;
  name: string;
}

export interface Receiver {
  id: string;
  name: string;
  zoneId: string | null;
  adoption: 'pending' | 'adopted';
  online: boolean;
  /** its last status (for an offline receiver: about when it went away) */
  lastSeen: string | null;
  volume: number | null;
  signal: { link: string; rssi: number | null } | null;
  nowPlaying: { bulletinId?: string; priority: string; play: number; startedAt: string } | null;
}

/** Circular 39's three levels. */
export type Priority = 'normal' | 'priority' | 'emergency';

/** A request waiting for (or decided by) a second officer. */
export interface Approval {
  id: string;
  kind: 'bulletin' | 'program';
  reason: string;
  title: string;
  priority: Priority;
  status: string;
  createdBy: string;
  /** the requester's full name, else username (null: the account is gone) */
  createdByName: string | null;
  createdAt: string;
  request: { programId?: string; target?: { zones?: string[]; all?: boolean } } & Record<string, unknown>;
}
