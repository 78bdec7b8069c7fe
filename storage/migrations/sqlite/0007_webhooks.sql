-- Webhook outbox: events waiting to be delivered to the server's webhook URL.
--
-- seq orders the events; a room's events are delivered in seq order, one at
-- a time (only the lowest seq of a room may be claimed). A node claims a row
-- by setting claimed_until (a lease) and claimed_by; a delivered row is
-- deleted, a failed one gets attempts + 1 and a later next_at.
CREATE TABLE webhook_outbox (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id      TEXT NOT NULL UNIQUE,
    event_type    TEXT NOT NULL,
    room_id       TEXT NOT NULL,
    body          BLOB NOT NULL,
    created_at    BIGINT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    claimed_by    TEXT NOT NULL DEFAULT '',
    last_error    TEXT NOT NULL DEFAULT ''
);

CREATE INDEX webhook_outbox_room_seq ON webhook_outbox (room_id, seq);
CREATE INDEX webhook_outbox_next_at ON webhook_outbox (next_at);
