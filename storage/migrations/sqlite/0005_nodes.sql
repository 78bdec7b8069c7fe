-- Node registry and room placement, for several nodes on one database.
--
-- Every node upserts its row every few seconds (heartbeat_at, its load); a
-- node whose heartbeat is older than the dead-after period is dead. A room's
-- media lives on one node: placements maps the room to it. Deleting a node
-- (a graceful leave) frees its rooms; so does deleting the room.
CREATE TABLE nodes (
    id           TEXT PRIMARY KEY,
    url          TEXT NOT NULL,
    rtsp_url     TEXT NOT NULL DEFAULT '',
    rooms        INTEGER NOT NULL DEFAULT 0,
    participants INTEGER NOT NULL DEFAULT 0,
    draining     INTEGER NOT NULL DEFAULT 0 CHECK (draining IN (0, 1)),
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);

CREATE TABLE placements (
    room_id   TEXT PRIMARY KEY REFERENCES rooms (id) ON DELETE CASCADE,
    node_id   TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    placed_at BIGINT NOT NULL
);

CREATE INDEX placements_node_id ON placements (node_id);
