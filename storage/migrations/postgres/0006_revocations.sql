-- Revocation (docs/security.md "Revocation").
--
-- generations holds one counter per scope: a room ID, or '*tokens' for the
-- revoked token IDs. Every change that can narrow what a token allows in a
-- room (a member created, changed or deleted, an identity revoked or banned,
-- the room deleted) bumps the room's counter in the same transaction; every
-- node compares it with the counter it cached. No foreign key: a deleted
-- room's counter must survive, so that caches see the deletion.
CREATE TABLE generations (
    scope      TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    generation BIGINT NOT NULL
);

-- One token revoked by its ID (every room it names). The row is useless once
-- the token would have expired anyway; expires_at says when that is at the
-- latest.
CREATE TABLE token_revocations (
    token_id   TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

-- Per identity in a room: tokens issued at or before revoked_at (milliseconds;
-- compared with the token's whole-second iat) no longer work there (an admin
-- revoked them, or the member was deleted); until banned_until no token of
-- the identity works there.
CREATE TABLE identity_revocations (
    room_id      TEXT COLLATE "C" NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    identity     TEXT COLLATE "C" NOT NULL,
    revoked_at   BIGINT NOT NULL DEFAULT 0,
    banned_until BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, identity)
);
