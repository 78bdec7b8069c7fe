-- Lectern schema, SQLite. Timestamps are unix milliseconds; booleans are 0/1.

CREATE TABLE rooms (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    mode             TEXT NOT NULL,
    tier             TEXT NOT NULL,
    pin              TEXT NOT NULL,
    speaker_pin      TEXT NOT NULL,
    broadcast_hls    INTEGER NOT NULL CHECK (broadcast_hls IN (0, 1)),
    broadcast_record INTEGER NOT NULL CHECK (broadcast_record IN (0, 1)),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE INDEX rooms_created_at ON rooms (created_at, id);

CREATE TABLE members (
    room_id     TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    identity    TEXT NOT NULL,
    name        TEXT NOT NULL,
    permissions TEXT NOT NULL,
    tier        TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (room_id, identity)
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    hash       BLOB NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

-- AUTOINCREMENT so that ids are never reused: clients page chat history by id.
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id     TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    sender      TEXT NOT NULL DEFAULT '',
    sender_name TEXT NOT NULL DEFAULT '',
    recipient   TEXT NOT NULL DEFAULT '',
    kind        TEXT NOT NULL DEFAULT 'message',
    state       TEXT NOT NULL DEFAULT '',
    text        TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    deleted_at  BIGINT NULL
);

CREATE INDEX messages_room_id ON messages (room_id, id);

-- No foreign key: a recording's metadata outlives its room.
CREATE TABLE recordings (
    id          TEXT PRIMARY KEY,
    room_id     TEXT NOT NULL,
    status      TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT NULL,
    duration_ms BIGINT NOT NULL DEFAULT 0,
    size_bytes  BIGINT NOT NULL DEFAULT 0,
    location    TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);

CREATE INDEX recordings_room_id ON recordings (room_id);
