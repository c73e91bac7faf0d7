-- /audit reads a server's latest events, and one member's in it, newest first.
CREATE INDEX events_guild ON events (guild_id, id);
CREATE INDEX events_guild_actor ON events (guild_id, actor_id, id);
