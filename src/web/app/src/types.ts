/**
 * API shapes several screens share (as GET /api/zones, GET /api/receivers and GET /api/approvals
 * answer them; the parts the app reads).
 */
import type { LiveReceiver } from '../../../contract/live';

export interface Zone {
  id: string;
  name: string;
}

/** A receiver as GET /api/receivers answers it: the live stream's view, without the title. */
export interface Receiver extends Omit<LiveReceiver, 'nowPlaying'> {
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
