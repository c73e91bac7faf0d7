"""Rows of region marks: one per member, image and lattice cell (a new mark replaces the old one)."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from bot.store.database import Database, row_dict, utc_now


@dataclass(frozen=True)
class RegionMark:
    """One member's mark on one cell of one image."""

    id: int
    session_id: int
    image_id: int
    author_id: str
    lattice_rows: int
    lattice_cols: int
    row: int
    col: int
    mark: str
    created_at: str


async def set_mark(
    conn: aiosqlite.Connection,
    *,
    session_id: int,
    image_id: int,
    author_id: str,
    rows: int,
    cols: int,
    row: int,
    col: int,
    mark: str | None,
) -> str | None:
    """Set (or with None clear) a member's mark on a cell; return the mark it had before, or None."""
    cursor = await conn.execute(
        "SELECT mark FROM region_marks WHERE image_id = ? AND author_id = ? AND lattice_rows = ? AND lattice_cols = ?"
        " AND row = ? AND col = ?",
        (image_id, author_id, rows, cols, row, col),
    )
    previous = await cursor.fetchone()
    await cursor.close()
    await conn.execute(
        "DELETE FROM region_marks WHERE image_id = ? AND author_id = ? AND lattice_rows = ? AND lattice_cols = ?"
        " AND row = ? AND col = ?",
        (image_id, author_id, rows, cols, row, col),
    )
    if mark is not None:
        await conn.execute(
            "INSERT INTO region_marks (session_id, image_id, author_id, lattice_rows, lattice_cols, row, col, mark,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (session_id, image_id, author_id, rows, cols, row, col, mark, utc_now()),
        )
    return str(previous[0]) if previous else None


async def marks_on(db: Database, image_ids: list[int], rows: int, cols: int) -> list[RegionMark]:
    """Return every mark on these images for a lattice size, oldest first."""
    if not image_ids:
        return []
    marks = ", ".join("?" * len(image_ids))
    found = await db.fetchall(
        f"SELECT * FROM region_marks WHERE image_id IN ({marks}) AND lattice_rows = ? AND lattice_cols = ? ORDER BY id",
        [*image_ids, rows, cols],
    )
    return [RegionMark(**row_dict(row)) for row in found]


@dataclass(frozen=True)
class LatticePost:
    """A message that shows the lattice over a job's images."""

    message_id: str
    channel_id: str
    job_id: int
    rows: int
    cols: int
    created_at: str


async def record_lattice_post(
    conn: aiosqlite.Connection, *, message_id: str, channel_id: str, job_id: int, rows: int, cols: int
) -> None:
    """Remember a lattice message."""
    await conn.execute(
        "INSERT OR REPLACE INTO lattice_posts (message_id, channel_id, job_id, rows, cols, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (message_id, channel_id, job_id, rows, cols, utc_now()),
    )


async def get_lattice_post(db: Database, message_id: str) -> LatticePost | None:
    """Return the lattice shown by a message, or None."""
    row = await db.fetchone("SELECT * FROM lattice_posts WHERE message_id = ?", (message_id,))
    return LatticePost(**row_dict(row)) if row else None


async def latest_lattice_post(db: Database, channel_id: str) -> LatticePost | None:
    """Return the lattice opened most recently in a channel, or None."""
    row = await db.fetchone(
        "SELECT * FROM lattice_posts WHERE channel_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 1", (channel_id,)
    )
    return LatticePost(**row_dict(row)) if row else None


async def set_mode(conn: aiosqlite.Connection, *, job_id: int, user_id: str, mode: str) -> None:
    """Set a member's marking mode for a job's lattice."""
    await conn.execute(
        "INSERT INTO region_modes (job_id, user_id, mode) VALUES (?, ?, ?)"
        " ON CONFLICT (job_id, user_id) DO UPDATE SET mode = excluded.mode",
        (job_id, user_id, mode),
    )


async def get_mode(db: Database, job_id: int, user_id: str) -> str:
    """Return a member's marking mode for a job's lattice (like until they switch)."""
    row = await db.fetchone("SELECT mode FROM region_modes WHERE job_id = ? AND user_id = ?", (job_id, user_id))
    return str(row[0]) if row else "like"


async def count_marks_by(conn: aiosqlite.Connection, session_id: int, author_id: str) -> int:
    """Return how many cells a member has marked in a session (inside the caller's transaction)."""
    cursor = await conn.execute(
        "SELECT COUNT(*) FROM region_marks WHERE session_id = ? AND author_id = ?", (session_id, author_id)
    )
    (count,) = await cursor.fetchone()  # type: ignore[misc]
    await cursor.close()
    return int(count)
