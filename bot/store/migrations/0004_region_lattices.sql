-- Issue 6: the messages that show a lattice over a result, and each member's marking mode there.

CREATE TABLE lattice_posts (
    message_id  TEXT PRIMARY KEY,
    channel_id  TEXT NOT NULL,
    job_id      INTEGER NOT NULL REFERENCES jobs (id),
    rows        INTEGER NOT NULL CHECK (rows BETWEEN 1 AND 5),
    cols        INTEGER NOT NULL CHECK (cols BETWEEN 1 AND 5),
    created_at  TEXT NOT NULL
);
CREATE INDEX lattice_posts_channel ON lattice_posts (channel_id, created_at);

-- Reactions and select menus mark in the member's current mode (like until they switch).
CREATE TABLE region_modes (
    job_id      INTEGER NOT NULL REFERENCES jobs (id),
    user_id     TEXT NOT NULL,
    mode        TEXT NOT NULL CHECK (mode IN ('like', 'dislike')),
    PRIMARY KEY (job_id, user_id)
);
