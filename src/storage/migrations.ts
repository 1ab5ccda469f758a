/**
 * Numbered schema migrations, applied in order at start inside one transaction each.
 * Never edit a migration that has shipped: add the next number.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'init',
    sql: `
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

CREATE TABLE users (
  id            TEXT PRIMARY KEY,
  username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
  password_hash TEXT NOT NULL,
  role          TEXT NOT NULL DEFAULT 'admin' CHECK (role IN ('admin', 'operator', 'viewer')),
  created_at    TEXT NOT NULL
) STRICT;

CREATE TABLE tokens (
  token_hash TEXT PRIMARY KEY,
  user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL
) STRICT;

CREATE TABLE zones (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  created_at TEXT NOT NULL
) STRICT;

CREATE TABLE receivers (
  id            TEXT PRIMARY KEY,
  name          TEXT NOT NULL,
  zone_id       TEXT REFERENCES zones(id) ON DELETE RESTRICT,
  adoption      TEXT NOT NULL DEFAULT 'pending' CHECK (adoption IN ('pending', 'adopted')),
  created_at    TEXT NOT NULL,
  adopted_at    TEXT,
  online        INTEGER NOT NULL DEFAULT 0,
  session       INTEGER,
  last_seen     TEXT,
  firmware      TEXT,
  volume        INTEGER,
  signal_link   TEXT,
  signal_rssi   INTEGER,
  clock_skew_ms INTEGER
) STRICT;
CREATE INDEX receivers_zone ON receivers(zone_id);

CREATE TABLE audio (
  id          TEXT PRIMARY KEY,
  sha256      TEXT NOT NULL UNIQUE,
  name        TEXT NOT NULL,
  mime        TEXT NOT NULL,
  container   TEXT,
  codec       TEXT,
  duration_ms INTEGER NOT NULL,
  bitrate     INTEGER,
  sample_rate INTEGER,
  channels    INTEGER,
  size        INTEGER NOT NULL,
  created_at  TEXT NOT NULL,
  created_by  TEXT,
  -- deleted audio keeps its row for the broadcast log; its file is gone
  deleted_at  TEXT
) STRICT;

CREATE TABLE bulletins (
  id         TEXT PRIMARY KEY,
  command_id TEXT NOT NULL UNIQUE,
  seq        INTEGER NOT NULL,
  title      TEXT NOT NULL,
  audio_id   TEXT NOT NULL REFERENCES audio(id) ON DELETE RESTRICT,
  priority   TEXT NOT NULL CHECK (priority IN ('normal', 'priority', 'emergency')),
  repeat     INTEGER NOT NULL,
  gap_ms     INTEGER NOT NULL,
  volume     INTEGER,
  target     TEXT NOT NULL,
  status     TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled', 'completed')),
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  created_by TEXT
) STRICT;
CREATE INDEX bulletins_created ON bulletins(created_at);

CREATE TABLE deliveries (
  bulletin_id TEXT NOT NULL REFERENCES bulletins(id) ON DELETE CASCADE,
  -- no foreign key: removing a receiver must not rewrite the broadcast history
  receiver_id TEXT NOT NULL,
  state       TEXT NOT NULL,
  reason      TEXT,
  detail      TEXT,
  play        INTEGER,
  attempts    INTEGER NOT NULL DEFAULT 0,
  sent_at     TEXT,
  updated_at  TEXT NOT NULL,
  PRIMARY KEY (bulletin_id, receiver_id)
) STRICT;
-- by receiver, for its history; not by state, which changes at every receiver report
CREATE INDEX deliveries_receiver ON deliveries(receiver_id);

-- as-run log: every progress report a receiver sent, as received
CREATE TABLE delivery_log (
  id          INTEGER PRIMARY KEY,
  bulletin_id TEXT NOT NULL REFERENCES bulletins(id) ON DELETE CASCADE,
  receiver_id TEXT NOT NULL,
  state       TEXT NOT NULL,
  reason      TEXT,
  at          TEXT NOT NULL,
  receiver_ts TEXT
) STRICT;
CREATE INDEX delivery_log_bulletin ON delivery_log(bulletin_id);

CREATE TABLE audit (
  id      INTEGER PRIMARY KEY,
  at      TEXT NOT NULL,
  user_id TEXT,
  action  TEXT NOT NULL,
  subject TEXT,
  detail  TEXT
) STRICT;
`,
  },
];
