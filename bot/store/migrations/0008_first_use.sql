-- Issue 19: the first time a member uses Salon in a server, they get a hint about /help (once).

CREATE TABLE member_first_use (
    guild_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    first_used_at TEXT NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);
