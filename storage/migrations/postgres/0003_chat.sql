-- Chat: a change sequence on messages, room chat settings, mutes.
--
-- seq orders every change to a room's chat: a new message takes the next value
-- of messages_id_seq as both its id and its seq; deleting it or changing its
-- Q&A state gives it a new seq. Clients resume a live stream after the last seq
-- they saw. Writers take a per-room advisory lock before drawing a value, so a
-- room's seqs commit in order across processes.
ALTER TABLE messages ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
UPDATE messages SET seq = id;
CREATE INDEX messages_room_seq ON messages (room_id, seq);
-- Slow mode looks up a sender's last message in a room.
CREATE INDEX messages_room_sender ON messages (room_id, sender, created_at);

ALTER TABLE rooms ADD COLUMN chat_questions BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE rooms ADD COLUMN chat_slow_mode_seconds INTEGER NOT NULL DEFAULT 0;

-- A muted identity may not post in the room until until_at.
CREATE TABLE chat_mutes (
    room_id    TEXT COLLATE "C" NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    identity   TEXT COLLATE "C" NOT NULL,
    until_at   BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, identity)
);
