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
  {
    version: 2,
    name: 'security',
    sql: `
-- Several roles per user (a commune head may edit and approve), an optional zone scope, a PIN for
-- confirming emergency broadcasts, and per-account lockout after failed logins.
ALTER TABLE users ADD COLUMN roles TEXT NOT NULL DEFAULT '[]';
UPDATE users SET roles = json_array(role);
ALTER TABLE users DROP COLUMN role;
ALTER TABLE users ADD COLUMN display_name TEXT;
-- JSON array of zone ids; NULL: every zone
ALTER TABLE users ADD COLUMN zones TEXT;
ALTER TABLE users ADD COLUMN pin_hash TEXT;
ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until TEXT;
ALTER TABLE users ADD COLUMN disabled_at TEXT;

-- login sessions: bearer (API clients) or cookie (the web UI, which also needs the CSRF token)
ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'bearer';
ALTER TABLE tokens ADD COLUMN ip TEXT;

-- long-lived tokens for integrations; only their sha256 is kept
CREATE TABLE api_tokens (
  id           TEXT PRIMARY KEY,
  name         TEXT NOT NULL,
  token_hash   TEXT NOT NULL UNIQUE,
  user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at   TEXT NOT NULL,
  expires_at   TEXT,
  last_used_at TEXT,
  revoked_at   TEXT
) STRICT;

-- per-device MQTT credentials, issued at adoption; the hash is Mosquitto's own PBKDF2-SHA512
-- format, so the same row serves the embedded broker, Mosquitto's password file and EMQX's HTTP auth
CREATE TABLE receiver_credentials (
  receiver_id   TEXT PRIMARY KEY,
  username      TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  created_at    TEXT NOT NULL,
  revoked_at    TEXT
) STRICT;

-- content waiting for a second officer: an editor's bulletin, or an emergency to every village
CREATE TABLE approvals (
  id          TEXT PRIMARY KEY,
  kind        TEXT NOT NULL CHECK (kind IN ('bulletin')),
  reason      TEXT NOT NULL CHECK (reason IN ('editor', 'emergency_all')),
  request     TEXT NOT NULL,
  title       TEXT NOT NULL,
  priority    TEXT NOT NULL,
  status      TEXT NOT NULL DEFAULT 'pending'
              CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn', 'expired')),
  created_by  TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  expires_at  TEXT NOT NULL,
  decided_by  TEXT,
  decided_at  TEXT,
  note        TEXT,
  bulletin_id TEXT
) STRICT;
CREATE INDEX approvals_status ON approvals(status, created_at);

ALTER TABLE bulletins ADD COLUMN approved_by TEXT;

-- the audit log is append-only: no UPDATE or DELETE, through the API or any other code path
ALTER TABLE audit ADD COLUMN ip TEXT;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
`,
  },
  {
    version: 3,
    name: 'truthful-stops',
    sql: `
-- A stop (a bulletin's cancel, a zone stop, the all-stop) is a fact of its own: what was asked, by
-- whom, until when, and how far it has reached each receiver. Deliveries it covers show 'stopping'
-- until the receiver confirms; a restart re-sends it to every receiver that has not confirmed.
CREATE TABLE stops (
  id            TEXT PRIMARY KEY,
  seq           INTEGER NOT NULL,
  kind          TEXT NOT NULL CHECK (kind IN ('cancel', 'stop')),
  bulletin_id   TEXT,
  target        TEXT NOT NULL,
  created_at    TEXT NOT NULL,
  created_by    TEXT,
  expires_at    TEXT NOT NULL,
  -- when the broker first acknowledged it; NULL while the broker was unreachable
  handed_off_at TEXT
) STRICT;
CREATE INDEX stops_created ON stops(created_at);
CREATE INDEX stops_expires ON stops(expires_at);

CREATE TABLE stop_receivers (
  stop_id      TEXT NOT NULL REFERENCES stops(id) ON DELETE CASCADE,
  receiver_id  TEXT NOT NULL,
  state        TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'confirmed', 'refused', 'expired')),
  reason       TEXT,
  attempts     INTEGER NOT NULL DEFAULT 0,
  sent_at      TEXT,
  confirmed_at TEXT,
  PRIMARY KEY (stop_id, receiver_id)
) STRICT;

-- the command id of the copy this receiver was offered last (a re-offer after a failed download
-- carries a new id); NULL: the bulletin's own command id
ALTER TABLE deliveries ADD COLUMN command_id TEXT;
ALTER TABLE deliveries ADD COLUMN reoffers INTEGER NOT NULL DEFAULT 0;
-- 1 when the controller concluded the final state (the clock, a deadline, a stop's confirmation)
-- rather than the receiver reporting it: a later report of what really happened corrects it
ALTER TABLE deliveries ADD COLUMN concluded INTEGER NOT NULL DEFAULT 0;
CREATE INDEX deliveries_command ON deliveries(command_id) WHERE command_id IS NOT NULL;

-- the as-run log keeps the receiver's own word next to the delivery state it led to
ALTER TABLE delivery_log ADD COLUMN event TEXT;
ALTER TABLE delivery_log ADD COLUMN play INTEGER;
ALTER TABLE delivery_log ADD COLUMN detail TEXT;
-- events are at-least-once: a report sent again (after a lost acknowledgement) is one line, not two
CREATE UNIQUE INDEX delivery_log_report
  ON delivery_log(bulletin_id, receiver_id, event, coalesce(play, 0), receiver_ts) WHERE event IS NOT NULL;
`,
  },
  {
    version: 4,
    name: 'schedules',
    sql: `
-- A program (chương trình): items, targets, priority and recurrence. 'source' says who owns it: the
-- API, or a site file of the schedules folder (then 'source_file' names it and the API refuses edits).
CREATE TABLE programs (
  id          TEXT PRIMARY KEY,
  title       TEXT NOT NULL,
  -- the approved definition that airs (JSON of ProgramInput); NULL until first approved
  body        TEXT,
  -- an edit waiting for approval (JSON of ProgramInput), with its approval id
  pending     TEXT,
  approval_id TEXT,
  version     INTEGER NOT NULL DEFAULT 0,
  source      TEXT NOT NULL CHECK (source IN ('api', 'file')),
  source_file TEXT,
  created_at  TEXT NOT NULL,
  created_by  TEXT,
  updated_at  TEXT NOT NULL,
  updated_by  TEXT,
  deleted_at  TEXT
) STRICT;

-- Airings are facts: one per program and local date (the occurrence key), so a program can never
-- air twice for one occurrence, whatever restarts or edits happen. Airings in the future follow the
-- program's edits; once their instant has passed, they are never rewritten.
CREATE TABLE airings (
  id              TEXT PRIMARY KEY,
  program_id      TEXT NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
  occurrence      TEXT NOT NULL,
  program_version INTEGER NOT NULL,
  title           TEXT NOT NULL,
  priority        TEXT NOT NULL CHECK (priority IN ('normal', 'priority', 'emergency')),
  -- scheduled start (UTC ISO) and local wall-clock start in the station's zone
  at              TEXT NOT NULL,
  local           TEXT NOT NULL,
  -- nothing of it plays after this instant: at + planned duration + grace
  window_end      TEXT NOT NULL,
  duration_ms     INTEGER NOT NULL,
  -- the items as they will air (resolved audio, sha256, durations), JSON
  items           TEXT NOT NULL,
  -- problems found while resolving (an audio name not in the library), JSON array
  problems        TEXT NOT NULL DEFAULT '[]',
  target          TEXT NOT NULL,
  grace_ms        INTEGER NOT NULL,
  late            TEXT NOT NULL,
  resume          TEXT NOT NULL,
  volume          INTEGER,
  status          TEXT NOT NULL DEFAULT 'scheduled'
                  CHECK (status IN ('scheduled', 'cancelled', 'suspended')),
  -- set when an officer moved this one airing (its instant no longer follows the program)
  shifted         INTEGER NOT NULL DEFAULT 0,
  adjusted        TEXT,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL,
  UNIQUE (program_id, occurrence)
) STRICT;
CREATE INDEX airings_at ON airings(at);

-- Each receiver's readiness and outcome for an airing, from its reports (or a deadline passing,
-- then concluded = 1 and a later report corrects it).
CREATE TABLE airing_receivers (
  airing_id   TEXT NOT NULL REFERENCES airings(id) ON DELETE CASCADE,
  receiver_id TEXT NOT NULL,
  state       TEXT NOT NULL,
  outcome     TEXT,
  reason      TEXT,
  ready_at    TEXT,
  started_at  TEXT,
  ended_at    TEXT,
  concluded   INTEGER NOT NULL DEFAULT 0,
  updated_at  TEXT NOT NULL,
  PRIMARY KEY (airing_id, receiver_id)
) STRICT;
CREATE INDEX airing_receivers_receiver ON airing_receivers(receiver_id);

-- as-run log of airings: every report a receiver sent about an airing, item by item
CREATE TABLE airing_log (
  id          INTEGER PRIMARY KEY,
  airing_id   TEXT NOT NULL REFERENCES airings(id) ON DELETE CASCADE,
  receiver_id TEXT NOT NULL,
  item        INTEGER,
  state       TEXT NOT NULL,
  reason      TEXT,
  outcome     TEXT,
  at          TEXT NOT NULL,
  receiver_ts TEXT,
  received_at TEXT NOT NULL,
  offset_ms   INTEGER,
  resumed     INTEGER,
  fallback    INTEGER,
  sha256      TEXT,
  by_id       TEXT
) STRICT;
-- reports are at-least-once: one sent again is one line
CREATE UNIQUE INDEX airing_log_report
  ON airing_log(airing_id, receiver_id, coalesce(item, -1), state, coalesce(offset_ms, -1), at);
CREATE INDEX airing_log_at ON airing_log(at);

-- the schedule document each receiver was sent last, and the version it acknowledged
CREATE TABLE receiver_schedules (
  receiver_id     TEXT PRIMARY KEY,
  version         INTEGER NOT NULL,
  digest          TEXT NOT NULL,
  sent_at         TEXT NOT NULL,
  -- the end of the document's horizon: a new copy goes out when half of it has run down
  horizon_until   TEXT NOT NULL,
  airings         INTEGER NOT NULL,
  applied_version INTEGER,
  applied_at      TEXT,
  rejected_reason TEXT
) STRICT;

-- the approval queue holds programs too: an editor's program, or a change to one, waits there
CREATE TABLE approvals_v4 (
  id          TEXT PRIMARY KEY,
  kind        TEXT NOT NULL CHECK (kind IN ('bulletin', 'program')),
  reason      TEXT NOT NULL CHECK (reason IN ('editor', 'emergency_all')),
  request     TEXT NOT NULL,
  title       TEXT NOT NULL,
  priority    TEXT NOT NULL,
  status      TEXT NOT NULL DEFAULT 'pending'
              CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn', 'expired')),
  created_by  TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  expires_at  TEXT NOT NULL,
  decided_by  TEXT,
  decided_at  TEXT,
  note        TEXT,
  bulletin_id TEXT,
  program_id  TEXT
) STRICT;
INSERT INTO approvals_v4 (id, kind, reason, request, title, priority, status, created_by, created_at,
  expires_at, decided_by, decided_at, note, bulletin_id)
  SELECT id, kind, reason, request, title, priority, status, created_by, created_at, expires_at,
    decided_by, decided_at, note, bulletin_id FROM approvals;
DROP TABLE approvals;
ALTER TABLE approvals_v4 RENAME TO approvals;
CREATE INDEX approvals_status ON approvals(status, created_at);

-- quiet hours (giờ yên tĩnh) per zone, local times; and a zone's schedule suspended until an instant
CREATE TABLE zone_schedule (
  zone_id         TEXT PRIMARY KEY,
  quiet           TEXT NOT NULL DEFAULT '[]',
  suspended_until TEXT,
  source_file     TEXT
) STRICT;
`,
  },
  {
    version: 5,
    name: 'announcements',
    sql: `
-- urgent announcements (issue 9). Speech renditions: a low-bitrate mono copy of an audio per codec,
-- stored by content in the same audio store; the row of the audio keeps what was uploaded.
CREATE TABLE audio_renditions (
  audio_id    TEXT NOT NULL REFERENCES audio(id) ON DELETE CASCADE,
  codec       TEXT NOT NULL,
  mime        TEXT NOT NULL,
  sha256      TEXT NOT NULL,
  size        INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  bitrate     INTEGER,
  sample_rate INTEGER,
  channels    INTEGER,
  encode_ms   INTEGER,
  created_at  TEXT NOT NULL,
  PRIMARY KEY (audio_id, codec)
) STRICT;

-- where an audio came from ('upload', 'recording', 'tts'); a browser recording that had to be
-- remuxed keeps the bytes that arrived (original_sha256, in the audio store) beside the playable copy
ALTER TABLE audio ADD COLUMN source TEXT NOT NULL DEFAULT 'upload';
ALTER TABLE audio ADD COLUMN original_sha256 TEXT;
ALTER TABLE audio ADD COLUMN original_mime TEXT;

-- text-to-speech: one synthesis per (provider, voice, speed, normalised text); the text kept beside it
CREATE TABLE tts_cache (
  key         TEXT PRIMARY KEY,
  provider    TEXT NOT NULL,
  voice       TEXT NOT NULL,
  speed       REAL NOT NULL,
  text        TEXT NOT NULL,
  spoken      TEXT NOT NULL,
  audio_id    TEXT NOT NULL REFERENCES audio(id) ON DELETE CASCADE,
  synth_ms    INTEGER,
  created_at  TEXT NOT NULL,
  created_by  TEXT
) STRICT;

-- receivers: optional position (CAP polygon and circle areas) and the codecs they said they play
ALTER TABLE receivers ADD COLUMN lat REAL;
ALTER TABLE receivers ADD COLUMN lon REAL;
ALTER TABLE receivers ADD COLUMN codecs TEXT;

-- an announcement: one officer's (or one CAP alert's) urgent message, a bulletin once it is sent
CREATE TABLE announcements (
  id            TEXT PRIMARY KEY,
  source        TEXT NOT NULL CHECK (source IN ('officer', 'cap')),
  title         TEXT NOT NULL,
  text          TEXT,
  voice         TEXT,
  audio_id      TEXT REFERENCES audio(id) ON DELETE RESTRICT,
  request       TEXT NOT NULL,
  bulletin_id   TEXT,
  approval_id   TEXT,
  status        TEXT NOT NULL DEFAULT 'sent'
                CHECK (status IN ('pending', 'sent', 'rejected', 'cancelled', 'withdrawn')),
  created_by    TEXT,
  created_at    TEXT NOT NULL,
  -- the "not reached" webhook: when it is due, and when it fired
  alert_due_at  TEXT,
  alert_sent_at TEXT
) STRICT;
CREATE INDEX announcements_created ON announcements(created_at);
CREATE INDEX announcements_bulletin ON announcements(bulletin_id);

-- CAP 1.2 alerts received: the same (sender, identifier) twice is ignored; Update and Cancel act
-- on the announcement of the alert they reference
CREATE TABLE cap_alerts (
  sender          TEXT NOT NULL,
  identifier      TEXT NOT NULL,
  sent            TEXT NOT NULL,
  msg_type        TEXT NOT NULL,
  status          TEXT NOT NULL,
  received_at     TEXT NOT NULL,
  received_by     TEXT,
  outcome         TEXT NOT NULL,
  detail          TEXT,
  announcement_id TEXT,
  xml             TEXT NOT NULL,
  PRIMARY KEY (sender, identifier)
) STRICT;

-- the approval queue holds CAP alerts that wait for an officer (reason 'cap_alert')
CREATE TABLE approvals_v5 (
  id          TEXT PRIMARY KEY,
  kind        TEXT NOT NULL CHECK (kind IN ('bulletin', 'program')),
  reason      TEXT NOT NULL CHECK (reason IN ('editor', 'emergency_all', 'cap_alert')),
  request     TEXT NOT NULL,
  title       TEXT NOT NULL,
  priority    TEXT NOT NULL,
  status      TEXT NOT NULL DEFAULT 'pending'
              CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn', 'expired')),
  created_by  TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  expires_at  TEXT NOT NULL,
  decided_by  TEXT,
  decided_at  TEXT,
  note        TEXT,
  bulletin_id TEXT,
  program_id  TEXT
) STRICT;
INSERT INTO approvals_v5 SELECT id, kind, reason, request, title, priority, status, created_by,
  created_at, expires_at, decided_by, decided_at, note, bulletin_id, program_id FROM approvals;
DROP TABLE approvals;
ALTER TABLE approvals_v5 RENAME TO approvals;
CREATE INDEX approvals_status ON approvals(status, created_at);
`,
  },
  {
    version: 6,
    name: 'idempotency keys',
    sql: `
-- answers to requests sent with an Idempotency-Key (src/http/idempotency.ts): a retry with the same
-- key gets the stored answer instead of a second broadcast. Per officer; kept 24 hours.
CREATE TABLE idempotency_keys (
  user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  key         TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  status      INTEGER NOT NULL,
  body        TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  expires_at  TEXT NOT NULL,
  PRIMARY KEY (user_id, key)
) STRICT;
CREATE INDEX idempotency_keys_expires ON idempotency_keys(expires_at);
`,
  },
  {
    version: 7,
    name: 'suspension window',
    sql: `
-- a village's schedule suspended over a window [suspended_from, suspended_until) (from NULL: from
-- now on), with the officer's reason
ALTER TABLE zone_schedule ADD COLUMN suspended_from TEXT;
ALTER TABLE zone_schedule ADD COLUMN suspend_reason TEXT;
`,
  },
];
