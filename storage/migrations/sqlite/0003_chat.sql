-- Chat: a change sequence on messages, room chat settings, mutes.
--
-- seq orders every change to a room's chat: a new message takes the next value
-- as both its id and its seq; deleting it or changing its Q&A state gives it a
-- new seq. Clients resume a live stream after the last seq they saw. One
-- counter feeds ids and seqs, so a message's first seq equals its id.
ALTER TABLE messages ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET seq = id;
CREATE INDEX messages_room_seq ON messages (room_id, seq);
-- Slow mode looks up a sender's last message in a room.
CREATE INDEX messages_room_sender ON messages (room_id, sender, created_at);

-- The counter behind ids and seqs: one row. Writes are serialized on SQLite,
-- so incrementing it in the writing transaction hands out values in commit
-- order. It starts above every id AUTOINCREMENT ever gave out.
CREATE TABLE chat_seq (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO chat_seq (id, value) VALUES (1, MAX(
    COALESCE((SELECT MAX(id) FROM messages), 0),
    COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0)));

ALTER TABLE rooms ADD COLUMN chat_questions INTEGER NOT NULL DEFAULT 0 CHECK (chat_questions IN (0, 1));
ALTER TABLE rooms ADD COLUMN chat_slow_mode_seconds INTEGER NOT NULL DEFAULT 0;

-- A muted identity may not post in the room until until_at.
CREATE TABLE chat_mutes (
    room_id    TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    identity   TEXT NOT NULL,
    until_at   BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, identity)
);
