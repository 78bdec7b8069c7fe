-- Lectern schema, PostgreSQL. Timestamps are unix milliseconds.
-- Keys that are listed in order use COLLATE "C" so that PostgreSQL sorts them
-- byte by byte, as SQLite does, whatever the database's locale.

CREATE TABLE rooms (
    id               TEXT COLLATE "C" PRIMARY KEY,
    name             TEXT NOT NULL,
    mode             TEXT NOT NULL,
    tier             TEXT NOT NULL,
    pin              TEXT NOT NULL,
    speaker_pin      TEXT NOT NULL,
    broadcast_hls    BOOLEAN NOT NULL,
    broadcast_record BOOLEAN NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE INDEX rooms_created_at ON rooms (created_at, id);

CREATE TABLE members (
    room_id     TEXT COLLATE "C" NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    identity    TEXT COLLATE "C" NOT NULL,
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
    hash       BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE secrets (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE messages (
    id          BIGSERIAL PRIMARY KEY,
    room_id     TEXT COLLATE "C" NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
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
    id          TEXT COLLATE "C" PRIMARY KEY,
    room_id     TEXT COLLATE "C" NOT NULL,
    status      TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT NULL,
    duration_ms BIGINT NOT NULL DEFAULT 0,
    size_bytes  BIGINT NOT NULL DEFAULT 0,
    location    TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);

CREATE INDEX recordings_room_id ON recordings (room_id);
