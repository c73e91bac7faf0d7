"""Rows of generated images; the files themselves are in `ImageFiles`."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from bot.store.database import Database, row_dict, utc_now


@dataclass(frozen=True)
class ImageRecord:
    """One row of `images`."""

    id: int
    job_id: int
    session_id: int
    prompt_id: int
    idx: int
    seed: int
    sha256: str
    width: int
    height: int
    created_at: str
    journey_sha256: str | None = None  # its denoising journey (a GIF), when one was recorded


async def insert_image(
    conn: aiosqlite.Connection,
    *,
    job_id: int,
    session_id: int,
    prompt_id: int,
    idx: int,
    seed: int,
    sha256: str,
    width: int,
    height: int,
    journey_sha256: str | None = None,
) -> int:
    """Insert an image row (its file must already be written) and return its id."""
    cursor = await conn.execute(
        "INSERT INTO images (job_id, session_id, prompt_id, idx, seed, sha256, width, height, created_at,"
        " journey_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (job_id, session_id, prompt_id, idx, seed, sha256, width, height, utc_now(), journey_sha256),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def images_of_job(db: Database, job_id: int) -> list[ImageRecord]:
    """Return a job's images in grid order."""
    rows = await db.fetchall("SELECT * FROM images WHERE job_id = ? ORDER BY idx", (job_id,))
    return [ImageRecord(**row_dict(row)) for row in rows]


async def get_image(db: Database, image_id: int) -> ImageRecord | None:
    """Return the image with this id, or None."""
    row = await db.fetchone("SELECT * FROM images WHERE id = ?", (image_id,))
    return ImageRecord(**row_dict(row)) if row else None
