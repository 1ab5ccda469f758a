/** API shapes several screens share (as GET /api/zones and GET /api/receivers answer them). */
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
