"""Votes on images: one per voter, image and kind; a second vote changes the value."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from bot.store.database import Database, utc_now


@dataclass(frozen=True)
class ImageTally:
    """Likes and dislikes of one image for one kind of vote."""

    image_id: int
    likes: int
    dislikes: int


async def set_vote(
    conn: aiosqlite.Connection, *, session_id: int, image_id: int, voter_id: str, kind: str, value: int
) -> int | None:
    """Set a voter's vote (1 like, -1 dislike, 0 none) and return the previous value, or None if new."""
    cursor = await conn.execute(
        "SELECT value FROM votes WHERE image_id = ? AND voter_id = ? AND kind = ?", (image_id, voter_id, kind)
    )
    row = await cursor.fetchone()
    await cursor.close()
    now = utc_now()
    if row is None:
        await conn.execute(
            "INSERT INTO votes (session_id, image_id, voter_id, kind, value, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (session_id, image_id, voter_id, kind, value, now, now),
        )
        return None
    await conn.execute(
        "UPDATE votes SET value = ?, updated_at = ? WHERE image_id = ? AND voter_id = ? AND kind = ?",
        (value, now, image_id, voter_id, kind),
    )
    return int(row[0])


async def vote_in(conn: aiosqlite.Connection, *, image_id: int, voter_id: str, kind: str) -> int | None:
    """Return a voter's current value for an image inside the caller's transaction, or None."""
    cursor = await conn.execute(
        "SELECT value FROM votes WHERE image_id = ? AND voter_id = ? AND kind = ?", (image_id, voter_id, kind)
    )
    row = await cursor.fetchone()
    await cursor.close()
    return int(row[0]) if row else None


async def get_vote(db: Database, *, image_id: int, voter_id: str, kind: str) -> int | None:
    """Return a voter's current value for an image, or None if they never voted."""
    row = await db.fetchone(
        "SELECT value FROM votes WHERE image_id = ? AND voter_id = ? AND kind = ?", (image_id, voter_id, kind)
    )
    return int(row[0]) if row else None


async def tally_images(db: Database, image_ids: list[int], kind: str) -> dict[int, ImageTally]:
    """Return likes and dislikes per image (images without votes count zero)."""
    tallies = {image_id: ImageTally(image_id, 0, 0) for image_id in image_ids}
    if not image_ids:
        return tallies
    marks = ", ".join("?" * len(image_ids))
    rows = await db.fetchall(
        "SELECT image_id, SUM(value = 1), SUM(value = -1) FROM votes"
        f" WHERE kind = ? AND image_id IN ({marks}) GROUP BY image_id",
        [kind, *image_ids],
    )
    for image_id, likes, dislikes in rows:
        tallies[int(image_id)] = ImageTally(int(image_id), int(likes or 0), int(dislikes or 0))
    return tallies
