-- Salon's first schema. Every table keys Discord ids as TEXT (snowflakes exceed what JSON
-- consumers of exports can hold as numbers) and times as ISO-8601 UTC text ending in 'Z'.

-- A session is any stretch of shared work: the ongoing stream of a themed channel, or a party.
CREATE TABLE sessions (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('stream', 'party')),
    guild_id    TEXT,
    channel_id  TEXT NOT NULL,
    thread_id   TEXT,
    title       TEXT NOT NULL DEFAULT '',
    topic       TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'ended')),
    created_by  TEXT,
    created_at  TEXT NOT NULL,
    ended_at    TEXT
);
-- One open stream per channel: /imagine in a channel always lands in the same session.
CREATE UNIQUE INDEX sessions_one_open_stream ON sessions (channel_id) WHERE kind = 'stream' AND status = 'open';

-- Prompts form a lineage tree: a remix, variation or party refinement names its parent.
CREATE TABLE prompts (
    id              INTEGER PRIMARY KEY,
    session_id      INTEGER NOT NULL REFERENCES sessions (id),
    parent_id       INTEGER REFERENCES prompts (id),
    author_id       TEXT NOT NULL,
    text            TEXT NOT NULL,
    negative_text   TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL
);
CREATE INDEX prompts_session ON prompts (session_id, id);
CREATE INDEX prompts_parent ON prompts (parent_id);

-- Generation jobs. state moves queued -> running -> done | failed | cancelled (and back to queued
-- when a job is resumed after a restart); bot/store/jobs.py enforces the transitions.
CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY,
    session_id      INTEGER NOT NULL REFERENCES sessions (id),
    prompt_id       INTEGER NOT NULL REFERENCES prompts (id),
    requester_id    TEXT NOT NULL,
    guild_id        TEXT,
    channel_id      TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('txt2img', 'img2img', 'inpaint')),
    state           TEXT NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    params          TEXT NOT NULL CHECK (json_valid(params)),
    priority        INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    error           TEXT,
    reply_message_id TEXT,
    created_at      TEXT NOT NULL,
    started_at      TEXT,
    finished_at     TEXT
);
CREATE INDEX jobs_state ON jobs (state, id);
CREATE INDEX jobs_requester ON jobs (requester_id, state);

-- Image files live content-addressed under the data folder (images/ab/abcdef....png);
-- the row names the file by its SHA-256 and is committed only after the file is in place.
CREATE TABLE images (
    id          INTEGER PRIMARY KEY,
    job_id      INTEGER NOT NULL REFERENCES jobs (id),
    session_id  INTEGER NOT NULL REFERENCES sessions (id),
    prompt_id   INTEGER NOT NULL REFERENCES prompts (id),
    idx         INTEGER NOT NULL,
    seed        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (job_id, idx)
);
CREATE INDEX images_session ON images (session_id, id);
CREATE INDEX images_sha ON images (sha256);

-- One vote per voter per image and kind; a second click changes the value.
CREATE TABLE votes (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions (id),
    image_id    INTEGER NOT NULL REFERENCES images (id),
    voter_id    TEXT NOT NULL,
    kind        TEXT NOT NULL DEFAULT 'like',
    value       INTEGER NOT NULL CHECK (value IN (-1, 0, 1)),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (image_id, voter_id, kind)
);

-- Region marks: a cell of the lattice over an image that a member likes or dislikes.
CREATE TABLE region_marks (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions (id),
    image_id    INTEGER NOT NULL REFERENCES images (id),
    author_id   TEXT NOT NULL,
    lattice_rows INTEGER NOT NULL CHECK (lattice_rows > 0),
    lattice_cols INTEGER NOT NULL CHECK (lattice_cols > 0),
    row         INTEGER NOT NULL CHECK (row >= 0),
    col         INTEGER NOT NULL CHECK (col >= 0),
    mark        TEXT NOT NULL CHECK (mark IN ('like', 'dislike')),
    created_at  TEXT NOT NULL,
    CHECK (row < lattice_rows AND col < lattice_cols)
);
CREATE INDEX region_marks_image ON region_marks (image_id);

-- The append-only log of every step anyone or anything takes. Galleries, exports and replays
-- are built from it, so each row carries who, where, what and when, plus the subject it is about
-- (a job, image, prompt, ...) and a JSON payload with everything needed to tell the step later.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    actor_name  TEXT NOT NULL DEFAULT '',
    guild_id    TEXT,
    channel_id  TEXT,
    session_id  INTEGER REFERENCES sessions (id),
    kind        TEXT NOT NULL,
    subject_type TEXT,
    subject_id  TEXT,
    payload     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload))
);
CREATE INDEX events_session ON events (session_id, id);
CREATE INDEX events_channel ON events (channel_id, id);
CREATE INDEX events_kind ON events (kind, id);
CREATE INDEX events_subject ON events (subject_type, subject_id);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;
