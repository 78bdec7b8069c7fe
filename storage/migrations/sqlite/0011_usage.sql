-- Usage and attendance (docs/api.md "Usage", "Attendance").
--
-- app_id is the app every row belongs to; until apps exist every row is
-- the 'default' app's.
--
-- usage_months: what one node counted for an app in a calendar month (UTC,
-- 'YYYY-MM'), added to at every flush: milliseconds of participants and
-- HLS viewers, and the node's highest concurrent counts. identities_pruned
-- keeps the count of active identities of a month whose identity rows were
-- pruned (node ''), so the month's figure survives the attendance retention.
CREATE TABLE usage_months (
    app_id            TEXT NOT NULL DEFAULT 'default',
    month             TEXT NOT NULL,
    node              TEXT NOT NULL,
    participant_ms    BIGINT NOT NULL DEFAULT 0,
    viewer_ms         BIGINT NOT NULL DEFAULT 0,
    peak_participants INTEGER NOT NULL DEFAULT 0,
    peak_viewers      INTEGER NOT NULL DEFAULT 0,
    peak_concurrent   INTEGER NOT NULL DEFAULT 0,
    identities_pruned BIGINT NOT NULL DEFAULT 0,
    updated_at        BIGINT NOT NULL,
    PRIMARY KEY (app_id, month, node)
);

-- The distinct identities that connected (as a participant, or as an HLS
-- viewer with a token) in an app in a month.
CREATE TABLE usage_identities (
    app_id   TEXT NOT NULL DEFAULT 'default',
    month    TEXT NOT NULL,
    identity TEXT NOT NULL,
    PRIMARY KEY (app_id, month, identity)
);

-- A session of a room: from the first participant or viewer arriving to
-- the room standing empty (ended_at 0 while it runs). Deleting the room
-- deletes its sessions.
CREATE TABLE attendance_sessions (
    id            TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL DEFAULT 'default',
    room_id       TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    node          TEXT NOT NULL DEFAULT '',
    started_at    BIGINT NOT NULL,
    ended_at      BIGINT NOT NULL DEFAULT 0,
    peak_audience INTEGER NOT NULL DEFAULT 0,
    broadcast     INTEGER NOT NULL DEFAULT 0 CHECK (broadcast IN (0, 1)),
    updated_at    BIGINT NOT NULL
);
CREATE INDEX attendance_sessions_room ON attendance_sessions (room_id, started_at);
CREATE INDEX attendance_sessions_ended ON attendance_sessions (ended_at);

-- One stay of one participant or viewer in a session (left_at 0 while
-- present); an identity that comes back has several.
CREATE TABLE attendance_entries (
    id         TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES attendance_sessions (id) ON DELETE CASCADE,
    identity   TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    role       TEXT NOT NULL,
    kind       TEXT NOT NULL DEFAULT '',
    joined_at  BIGINT NOT NULL,
    left_at    BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);
CREATE INDEX attendance_entries_session ON attendance_entries (session_id, joined_at);

-- How long an app keeps its attendance reports, in days (NULL: the server's
-- attendance_retention).
ALTER TABLE apps ADD COLUMN attendance_retention_days BIGINT NULL;
