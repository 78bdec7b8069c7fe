-- Media policy per room (docs/api.md "Media policy"): the sources a room
-- refuses and whether it refuses simulcast. Stored as what is refused, so
-- existing rooms (and every room made without a policy) take everything.
-- A member's extra_sources are sources it may send although its room
-- refuses them (the host's screen in a room that takes none).
ALTER TABLE rooms ADD COLUMN refused_sources TEXT NOT NULL DEFAULT '';
ALTER TABLE rooms ADD COLUMN no_simulcast INTEGER NOT NULL DEFAULT 0 CHECK (no_simulcast IN (0, 1));
ALTER TABLE members ADD COLUMN extra_sources TEXT NOT NULL DEFAULT '';
