-- Recordings are listed per room, newest first.
DROP INDEX recordings_room_id;
CREATE INDEX recordings_room_started ON recordings (room_id, started_at, id);
