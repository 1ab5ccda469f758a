/**
 * The as-run log (GET /api/asrun) and its daily summary (GET /api/asrun/summary) as the controller
 * answers them (src/domain/programs/asrun.ts, src/http/routes/asrun.ts) and the phone app reads
 * them (Today's "just aired", the as-run screen). No imports: the app's own build includes this file.
 */

export type Outcome = 'aired' | 'cut' | 'missed' | 'pending' | 'unknown';

/** What one receiver did with one airing or bulletin. */
export interface AsRunRow {
  kind: 'airing' | 'bulletin';
  /** airing or bulletin id */
  id: string;
  title: string;
  programId: string | null;
  priority: string;
  receiverId: string;
  zoneId: string | null;
  /** scheduled start (airings) or creation (bulletins), UTC */
  scheduled: string;
  started: string | null;
  ended: string | null;
  outcome: Outcome;
  reason: string | null;
  /** the receiver's state for it (airing: scheduled … ended; bulletin: its delivery state) */
  state: string;
  /** set by a deadline, not by a report */
  concluded: boolean;
  /** sha256 of what the receiver reported it played (one per item played to its end) */
  sha256: string[];
}

/** One village's local day: how many (item, receiver) pairs ended in each outcome. */
export type AsRunDay = { date: string; zoneId: string | null } & Record<Outcome, number>;
