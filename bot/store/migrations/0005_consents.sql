-- Issue 7: who agrees to have their images published in blog exports, and each guild's default.

CREATE TABLE consents (
    guild_id    TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    publish     INTEGER NOT NULL CHECK (publish IN (0, 1)),
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE guild_publishing (
    guild_id            TEXT PRIMARY KEY,
    publish_by_default  INTEGER NOT NULL CHECK (publish_by_default IN (0, 1)),
    updated_at          TEXT NOT NULL
);
