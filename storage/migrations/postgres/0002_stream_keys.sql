-- Stream keys: one per room, the RTSP/WHIP credential of an encoder.
CREATE TABLE stream_keys (
    room_id    TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES rooms (id) ON DELETE CASCADE,
    stream_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
