-- Room lock (docs/security.md "PIN guessing"): a moderator may lock a room
-- against new PIN joins; tokens already issued keep working.
ALTER TABLE rooms ADD COLUMN locked BOOLEAN NOT NULL DEFAULT FALSE;
