-- Room lock (docs/security.md "PIN guessing"): a moderator may lock a room
-- against new PIN joins; tokens already issued keep working.
ALTER TABLE rooms ADD COLUMN locked INTEGER NOT NULL DEFAULT 0 CHECK (locked IN (0, 1));
