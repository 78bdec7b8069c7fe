-- Apps (docs/api.md "Apps"): one server serves several apps, each with its
-- own rooms, API keys, tokens and limits. Every row of a room (members, chat,
-- stream key, recordings, revocations) belongs to the room's app through the
-- room's key: a room of the default app keeps its ID as its key, a room of
-- another app has the key "<app>~<id>" ('~' is in no app or room ID). So the
-- installation that existed before apps is the app 'default', unchanged.
--
-- A limit of NULL means no limit.
CREATE TABLE apps (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    max_rooms           BIGINT NULL,
    max_participants    BIGINT NULL,
    max_hls_viewers     BIGINT NULL,
    max_recording_bytes BIGINT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
-- The default app is made when the installation upgrades (or is new).
INSERT INTO apps (id, name, created_at, updated_at)
    VALUES ('default', 'Default', (extract(epoch FROM now()) * 1000)::bigint, (extract(epoch FROM now()) * 1000)::bigint);

ALTER TABLE rooms ADD COLUMN app_id TEXT NOT NULL DEFAULT 'default';
CREATE INDEX rooms_app_created_at ON rooms (app_id, created_at, id);

-- An API key is an app's admin key, or (operator) a server operator key,
-- which manages apps and is also an admin key of the default app. The keys
-- of the previous release, its admin keys, become operator keys.
ALTER TABLE api_keys ADD COLUMN app_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE api_keys ADD COLUMN operator BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE api_keys SET operator = TRUE;
CREATE INDEX api_keys_app_id ON api_keys (app_id);

-- A stream key sent in clear (WHIP, RTSP Basic) decides the app of the room
-- it addresses: the server finds the room that holds it.
CREATE INDEX stream_keys_stream_key ON stream_keys (stream_key);
