"""Sessions: a themed channel's ongoing stream, or a party."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from bot.store.database import Database, row_dict, utc_now
from bot.store.events import Actor, append_event


@dataclass(frozen=True)
class Session:
    """One row of `sessions`."""

    id: int
    kind: str
    guild_id: str | None
    channel_id: str
    thread_id: str | None
    title: str
    topic: str
    status: str
    created_by: str | None
    created_at: str
    ended_at: str | None

    @classmethod
    def from_row(cls, row: aiosqlite.Row) -> Session:
        """Return the session stored in `row`."""
        return cls(**row_dict(row))


async def open_stream(
    conn: aiosqlite.Connection, *, guild_id: str | None, channel_id: str, actor: Actor, title: str = ""
) -> int:
    """Return the id of the channel's open stream session, opening one (and logging it) if needed."""
    cursor = await conn.execute(
        "SELECT id FROM sessions WHERE channel_id = ? AND kind = 'stream' AND status = 'open'", (channel_id,)
    )
    row = await cursor.fetchone()
    await cursor.close()
    if row is not None:
        return int(row[0])
    cursor = await conn.execute(
        "INSERT INTO sessions (kind, guild_id, channel_id, title, created_by, created_at)"
        " VALUES ('stream', ?, ?, ?, ?, ?)",
        (guild_id, channel_id, title, actor.id, utc_now()),
    )
    session_id = cursor.lastrowid
    assert session_id is not None
    await append_event(
        conn,
        actor=actor,
        kind="session.opened",
        guild_id=guild_id,
        channel_id=channel_id,
        session_id=session_id,
        subject=("session", session_id),
        payload={"session_kind": "stream", "title": title},
    )
    return session_id


async def get_session(db: Database, session_id: int) -> Session | None:
    """Return the session with this id, or None."""
    row = await db.fetchone("SELECT * FROM sessions WHERE id = ?", (session_id,))
    return Session.from_row(row) if row else None


async def latest_session_in(db: Database, channel_id: str) -> Session | None:
    """Return the session held in a channel or thread: the party in that thread, else the channel's latest stream."""
    row = await db.fetchone(
        "SELECT * FROM sessions WHERE (kind = 'party' AND thread_id = ?) OR (kind = 'stream' AND channel_id = ?)"
        " ORDER BY kind = 'party' DESC, id DESC LIMIT 1",
        (channel_id, channel_id),
    )
    return Session.from_row(row) if row else None


async def insert_party_session(
    conn: aiosqlite.Connection, *, guild_id: str | None, channel_id: str, thread_id: str, topic: str, actor: Actor
) -> int:
    """Insert the session a party in `thread_id` records its steps in, and return its id."""
    cursor = await conn.execute(
        "INSERT INTO sessions (kind, guild_id, channel_id, thread_id, title, topic, created_by, created_at)"
        " VALUES ('party', ?, ?, ?, ?, ?, ?, ?)",
        (guild_id, channel_id, thread_id, topic, topic, actor.id, utc_now()),
    )
    session_id = cursor.lastrowid
    assert session_id is not None
    return session_id
