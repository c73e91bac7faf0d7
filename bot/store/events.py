"""The append-only event log: every step anyone or anything takes in Salon."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import aiosqlite

from bot.store.database import Database, utc_now


@dataclass(frozen=True)
class Actor:
    """Who took a step: a Discord user (id as text) or Salon itself."""

    id: str
    name: str = ""


SYSTEM = Actor(id="system", name="Salon")


@dataclass(frozen=True)
class Event:
    """One row of the event log."""

    id: int
    occurred_at: str
    actor_id: str
    actor_name: str
    guild_id: str | None
    channel_id: str | None
    session_id: int | None
    kind: str
    subject_type: str | None
    subject_id: str | None
    payload: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: aiosqlite.Row) -> Event:
        """Return the event stored in `row`."""
        return cls(
            id=row["id"],
            occurred_at=row["occurred_at"],
            actor_id=row["actor_id"],
            actor_name=row["actor_name"],
            guild_id=row["guild_id"],
            channel_id=row["channel_id"],
            session_id=row["session_id"],
            kind=row["kind"],
            subject_type=row["subject_type"],
            subject_id=row["subject_id"],
            payload=json.loads(row["payload"]),
        )


async def append_event(
    conn: aiosqlite.Connection,
    *,
    actor: Actor,
    kind: str,
    guild_id: str | None = None,
    channel_id: str | None = None,
    session_id: int | None = None,
    subject: tuple[str, int | str] | None = None,
    payload: dict[str, Any] | None = None,
) -> int:
    """Append one event inside the caller's transaction and return its id.

    Events are written in the same transaction as the change they describe, so the log never
    claims a step that did not happen, nor misses one that did.
    """
    subject_type, subject_id = (subject[0], str(subject[1])) if subject else (None, None)
    cursor = await conn.execute(
        "INSERT INTO events (occurred_at, actor_id, actor_name, guild_id, channel_id, session_id,"
        " kind, subject_type, subject_id, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            utc_now(),
            actor.id,
            actor.name,
            guild_id,
            channel_id,
            session_id,
            kind,
            subject_type,
            subject_id,
            json.dumps(payload or {}, ensure_ascii=False, sort_keys=True),
        ),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


@dataclass(frozen=True)
class EventDraft:
    """An event before it is written: who took the step, what it was, where, about what, and its details."""

    actor: Actor
    kind: str
    guild_id: str | None = None
    channel_id: str | None = None
    session_id: int | None = None
    subject: tuple[str, int | str] | None = None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class Change:
    """One transaction of a service: its connection for the writes, and the events that describe them."""

    conn: aiosqlite.Connection
    events: list[EventDraft]

    def log(self, draft: EventDraft) -> None:
        """Add an event to this change (written after the change's writes, in the same transaction)."""
        self.events.append(draft)


@asynccontextmanager
async def record(db: Database, *drafts: EventDraft) -> AsyncIterator[Change]:
    """Yield a change whose writes and events commit together, or not at all: Salon's one way to log a step.

    Write with `change.conn`; the events given here, then those added with `change.log()`, are
    appended in that order once the block's writes are done, inside the same transaction. An error
    in the block keeps neither the writes nor the events.
    """
    async with db.transaction() as conn:
        change = Change(conn, list(drafts))
        yield change
        for draft in change.events:
            fields = asdict(draft)
            fields["actor"] = draft.actor
            await append_event(conn, **fields)


async def list_events(
    db: Database,
    *,
    session_id: int | None = None,
    channel_id: str | None = None,
    guild_id: str | None = None,
    actor_id: str | None = None,
    kinds: tuple[str, ...] = (),
    subjects: tuple[tuple[str, int | str], ...] = (),
    subject: tuple[str, int | str] | None = None,
    after_id: int = 0,
    limit: int = 1000,
    newest_first: bool = False,
) -> list[Event]:
    """Return events in the order they happened (or the latest `limit`, newest first), filtered by
    session, channel, guild, actor, kinds or subject (`subjects`: any of several)."""
    clauses = ["id > ?"]
    params: list[Any] = [after_id]
    # Column names are these literals, never caller text; the values are parameters.
    for column, value in (
        ("guild_id", guild_id),
        ("actor_id", actor_id),
        ("session_id", session_id),
        ("channel_id", channel_id),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if subjects:
        clauses.append("(" + " OR ".join("(subject_type = ? AND subject_id = ?)" for _ in subjects) + ")")
        params.extend(value for kind, key in subjects for value in (kind, str(key)))
    if kinds:
        clauses.append(f"kind IN ({', '.join('?' * len(kinds))})")
        params.extend(kinds)
    if subject is not None:
        clauses.append("subject_type = ? AND subject_id = ?")
        params.extend([subject[0], str(subject[1])])
    params.append(limit)
    rows = await db.fetchall(
        f"SELECT * FROM events WHERE {' AND '.join(clauses)} ORDER BY id {'DESC' if newest_first else ''} LIMIT ?",
        params,
    )
    return [Event.from_row(row) for row in rows]
