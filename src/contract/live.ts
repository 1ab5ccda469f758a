/**
 * The live receiver stream's events (GET /api/receivers/events, Server-Sent Events), as the
 * controller writes them (src/http/receiver-events.ts) and the phone app reads them
 * (src/web/app/src/today/live.ts). Pure types, no imports: the app's own build includes this file.
 */

/** A village, as the snapshot names it. */
export interface LiveZone {
  id: string;
  name: string;
}

/** What Today shows of a receiver: the `receiver` event, and each of the snapshot's receivers. */
export interface LiveReceiver {
  id: string;
  name: string;
  zoneId: string | null;
  adoption: 'pending' | 'adopted';
  online: boolean;
  /** its last status (for an offline receiver: about when it went away) */
  lastSeen: string | null;
  volume: number | null;
  signal: { link: string; rssi: number | null } | null;
  nowPlaying: {
    bulletinId: string | null;
    /** the bulletin's title (null: not known) */
    title: string | null;
    priority: string;
    play: number;
    startedAt: string;
  } | null;
}

/** The first event of every stream: every receiver and village the officer may see. */
export interface LiveSnapshot {
  at: string;
  zones: LiveZone[];
  receivers: LiveReceiver[];
}

/** A receiver that left the officer's view (deleted, or moved out of their villages). */
export interface LiveRemoved {
  id: string;
}
