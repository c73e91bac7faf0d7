-- Issue 4: themed channels, guild blocklists, the messages that show jobs, and job lineage.

-- A channel's theme shapes every generation in it. `theme` is the whole theme as JSON (template,
-- negative prompt, defaults, allowed models, required and banned words); one row per channel.
CREATE TABLE channel_themes (
    channel_id  TEXT PRIMARY KEY,
    guild_id    TEXT,
    name        TEXT NOT NULL,
    theme       TEXT NOT NULL CHECK (json_valid(theme)),
    set_by      TEXT NOT NULL,
    set_at      TEXT NOT NULL
);

-- Terms a guild's moderators refuse in prompts (matched as whole words, case-insensitively).
CREATE TABLE guild_blocklist (
    guild_id    TEXT NOT NULL,
    term        TEXT NOT NULL,
    added_by    TEXT NOT NULL,
    added_at    TEXT NOT NULL,
    PRIMARY KEY (guild_id, term)
);

-- Every Discord message that shows a job: its grid, or one image of it picked at full size.
-- Reactions on a message find their job and image here.
CREATE TABLE posts (
    message_id  TEXT PRIMARY KEY,
    channel_id  TEXT NOT NULL,
    job_id      INTEGER NOT NULL REFERENCES jobs (id),
    image_id    INTEGER REFERENCES images (id),
    kind        TEXT NOT NULL CHECK (kind IN ('grid', 'image')),
    created_at  TEXT NOT NULL
);
CREATE INDEX posts_job ON posts (job_id);

-- Rerolls, variations and remixes name the job they came from (and the image, for a variation);
-- a deleted job keeps its rows and events, but is no longer shown.
ALTER TABLE jobs ADD COLUMN parent_job_id INTEGER REFERENCES jobs (id);
ALTER TABLE jobs ADD COLUMN source_image_id INTEGER REFERENCES images (id);
ALTER TABLE jobs ADD COLUMN deleted_at TEXT;
