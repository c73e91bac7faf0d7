"""The Discord messages that show jobs: a grid, or one image picked from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import aiosqlite

from bot.store.database import Database, row_dict, utc_now

PostKind = Literal["grid", "image"]


@dataclass(frozen=True)
class Post:
    """One row of `posts`: which job (and, for a picked image, which image) a message shows."""

    message_id: str
    channel_id: str
    job_id: int
    image_id: int | None
    kind: str
    created_at: str


async def record_post(
    conn: aiosqlite.Connection,
    *,
    message_id: str,
    channel_id: str,
    job_id: int,
    kind: PostKind,
    image_id: int | None = None,
) -> None:
    """Remember that a message shows a job (or one of its images); posting twice keeps the first row."""
    await conn.execute(
        "INSERT OR IGNORE INTO posts (message_id, channel_id, job_id, image_id, kind, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (message_id, channel_id, job_id, image_id, kind, utc_now()),
    )


async def get_post(db: Database, message_id: str) -> Post | None:
    """Return what a message shows, or None if it is not one of Salon's result messages."""
    row = await db.fetchone("SELECT * FROM posts WHERE message_id = ?", (message_id,))
    return Post(**row_dict(row)) if row else None


async def posts_of_job(db: Database, job_id: int) -> list[Post]:
    """Return every message that shows a job, oldest first."""
    rows = await db.fetchall("SELECT * FROM posts WHERE job_id = ? ORDER BY created_at, message_id", (job_id,))
    return [Post(**row_dict(row)) for row in rows]
