/** SQL for zones (villages, thôn) and receivers. Rows in, plain objects out. */
import type { Db } from '../../storage/db.js';

export interface Zone {
  id: string;
  name: string;
  createdAt: string;
  receiverCount: number;
  onlineCount: number;
}

export interface NowPlaying {
  commandId: string;
  bulletinId?: string | undefined;
  priority: 'normal' | 'priority' | 'emergency';
  play: number;
  startedAt: string;
}

export interface Receiver {
  id: string;
  name: string;
  zoneId: string | null;
  adoption: 'pending' | 'adopted';
  createdAt: string;
  adoptedAt: string | null;
  online: boolean;
  session: number | null;
  lastSeen: string | null;
  firmware: string | null;
  volume: number | null;
  signal: { link: string; rssi: number | null } | null;
  nowPlaying: NowPlaying | null;
  clockSkewMs: number | null;
  /** the codecs its last online status said it plays (null: none said, MP3 is assumed) */
  codecs: string[] | null;
  /** whether it holds live MQTT credentials (the password itself is never shown again) */
  hasCredentials: boolean;
  credentialsIssuedAt: string | null;
  /** where it stands (WGS 84), for CAP alerts' polygon and circle areas; null: not given */
  position: Position | null;
}

/** A point in WGS 84 degrees. */
export interface Position {
  lat: number;
  lon: number;
}

interface ReceiverRow {
  id: string;
  name: string;
  zone_id: string | null;
  adoption: 'pending' | 'adopted';
  created_at: string;
  adopted_at: string | null;
  online: number;
  session: number | null;
  last_seen: string | null;
  firmware: string | null;
  volume: number | null;
  signal_link: string | null;
  signal_rssi: number | null;
  clock_skew_ms: number | null;
  codecs: string | null;
  credentials_issued_at: string | null;
  lat: number | null;
  lon: number | null;
}

/** The stored JSON list of codecs, or null (none said, or unreadable). */
function parseCodecs(text: string | null): string[] | null {
  if (!text) return null;
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) && v.length > 0 && v.every((c) => typeof c === 'string') ? v : null;
  } catch {
    return null;
  }
}

function toReceiver(r: ReceiverRow): Receiver {
  return {
    id: r.id,
    name: r.name,
    zoneId: r.zone_id,
    adoption: r.adoption,
    createdAt: r.created_at,
    adoptedAt: r.adopted_at,
    online: r.online === 1,
    session: r.session,
    lastSeen: r.last_seen,
    firmware: r.firmware,
    volume: r.volume,
    signal: r.signal_link ? { link: r.signal_link, rssi: r.signal_rssi } : null,
    // what plays now is volatile: the fleet keeps it in memory and lays it over the row
    nowPlaying: null,
    clockSkewMs: r.clock_skew_ms,
    codecs: parseCodecs(r.codecs),
    hasCredentials: r.credentials_issued_at !== null,
    credentialsIssuedAt: r.credentials_issued_at,
    position: r.lat !== null && r.lon !== null ? { lat: r.lat, lon: r.lon } : null,
  };
}

export interface StatusUpdate {
  id: string;
  online: boolean;
  session: number | null;
  lastSeen: string;
  firmware: string | null;
  volume: number | null;
  signalLink: string | null;
  signalRssi: number | null;
  clockSkewMs: number | null;
  /** JSON list, when the status listed them (null keeps what was stored) */
  codecs?: string | null;
}

export function createFleetRepo(db: Db) {
  const zoneSelect = `SELECT z.id, z.name, z.created_at AS createdAt,
      (SELECT count(*) FROM receivers r WHERE r.zone_id = z.id) AS receiverCount,
      (SELECT count(*) FROM receivers r WHERE r.zone_id = z.id AND r.online = 1) AS onlineCount
    FROM zones z`;
  // A receiver with its live credentials' issue time (receiver_credentials keeps revoked rows too).
  const receiverSelect = `SELECT r.*, c.created_at AS credentials_issued_at FROM receivers r
    LEFT JOIN receiver_credentials c ON c.receiver_id = r.id AND c.revoked_at IS NULL`;
  const stmts = {
    zones: db.prepare<[], Zone>(`${zoneSelect} ORDER BY z.name COLLATE NOCASE`),
    zone: db.prepare<[string], Zone>(`${zoneSelect} WHERE z.id = ?`),
    insertZone: db.prepare('INSERT INTO zones (id, name, created_at) VALUES (?, ?, ?)'),
    renameZone: db.prepare('UPDATE zones SET name = ? WHERE id = ?'),
    deleteZone: db.prepare('DELETE FROM zones WHERE id = ?'),
    receivers: db.prepare<[], ReceiverRow>(`${receiverSelect} ORDER BY r.zone_id, r.id`),
    receiver: db.prepare<[string], ReceiverRow>(`${receiverSelect} WHERE r.id = ?`),
    rights: db.prepare<[string], { adoption: 'pending' | 'adopted'; zone_id: string | null }>(
      'SELECT adoption, zone_id FROM receivers WHERE id = ?',
    ),
    adoptedIds: db.prepare<[], { id: string }>(`SELECT id FROM receivers WHERE adoption = 'adopted'`),
    adoptedIdsInZones: db.prepare<[string], { id: string }>(
      `SELECT id FROM receivers WHERE adoption = 'adopted' AND zone_id IN (SELECT value FROM json_each(?))`,
    ),
    insertReceiver: db.prepare(
      `INSERT INTO receivers (id, name, zone_id, adoption, created_at, adopted_at) VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    updateReceiver: db.prepare(
      'UPDATE receivers SET name = ?, zone_id = ?, adoption = ?, adopted_at = ?, volume = coalesce(?, volume) WHERE id = ?',
    ),
    deleteReceiver: db.prepare('DELETE FROM receivers WHERE id = ?'),
    setPosition: db.prepare('UPDATE receivers SET lat = ?, lon = ? WHERE id = ?'),
    resetSession: db.prepare('UPDATE receivers SET session = NULL, online = 0 WHERE id = ?'),
    status: db.prepare(
      `UPDATE receivers SET online = ?, session = ?, last_seen = ?, firmware = coalesce(?, firmware),
         volume = coalesce(?, volume), signal_link = coalesce(?, signal_link), signal_rssi = coalesce(?, signal_rssi),
         clock_skew_ms = coalesce(?, clock_skew_ms), codecs = coalesce(?, codecs) WHERE id = ?`,
    ),
    counts: db.prepare<[], { total: number; online: number; pending: number }>(
      `SELECT count(*) AS total, coalesce(sum(online), 0) AS online,
         coalesce(sum(adoption = 'pending'), 0) AS pending FROM receivers`,
    ),
    pendingCount: db.prepare<[], { n: number }>(
      `SELECT count(*) AS n FROM receivers WHERE adoption = 'pending'`,
    ),
  };

  return {
    listZones: (): Zone[] => stmts.zones.all(),
    getZone: (id: string): Zone | null => stmts.zone.get(id) ?? null,
    insertZone: (id: string, name: string, at: string) => stmts.insertZone.run(id, name, at),
    renameZone: (id: string, name: string) => stmts.renameZone.run(name, id),
    deleteZone: (id: string) => stmts.deleteZone.run(id),

    listReceivers: (): Receiver[] => stmts.receivers.all().map(toReceiver),
    getReceiver: (id: string): Receiver | null => {
      const r = stmts.receiver.get(id);
      return r ? toReceiver(r) : null;
    },
    /** adoption and zone only: what the broker needs, without the rest of the row */
    rights: (id: string) => stmts.rights.get(id) ?? null,
    adoptedIds: (): string[] => stmts.adoptedIds.all().map((r) => r.id),
    adoptedIdsInZones: (zoneIds: string[]): string[] =>
      stmts.adoptedIdsInZones.all(JSON.stringify(zoneIds)).map((r) => r.id),
    insertReceiver: (r: Pick<Receiver, 'id' | 'name' | 'zoneId' | 'adoption' | 'createdAt' | 'adoptedAt'>) =>
      stmts.insertReceiver.run(r.id, r.name, r.zoneId, r.adoption, r.createdAt, r.adoptedAt),
    updateReceiver: (
      r: Pick<Receiver, 'id' | 'name' | 'zoneId' | 'adoption' | 'adoptedAt'> & { volume?: number },
    ) => stmts.updateReceiver.run(r.name, r.zoneId, r.adoption, r.adoptedAt, r.volume ?? null, r.id),
    deleteReceiver: (id: string) => stmts.deleteReceiver.run(id),
    setPosition: (id: string, p: Position | null) =>
      stmts.setPosition.run(p?.lat ?? null, p?.lon ?? null, id),
    /** Forgets the receiver's session history (new credentials: a new device, or a cleaned one). */
    resetSession: (id: string) => stmts.resetSession.run(id),
    applyStatus: (s: StatusUpdate) =>
      stmts.status.run(
        s.online ? 1 : 0,
        s.session,
        s.lastSeen,
        s.firmware,
        s.volume,
        s.signalLink,
        s.signalRssi,
        s.clockSkewMs,
        s.codecs ?? null,
        s.id,
      ),
    counts: () => stmts.counts.get()!,
    pendingCount: () => stmts.pendingCount.get()!.n,
  };
}
export type FleetRepo = ReturnType<typeof createFleetRepo>;
