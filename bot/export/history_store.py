"""Read-only queries for exports: which jobs and images a party, a channel window or a member's run holds."""

from __future__ import annotations

from bot.store.database import Database, row_dict
from bot.store.images import ImageRecord
from bot.store.jobs import Job


async def jobs_of_sessions(db: Database, session_ids: list[int]) -> list[Job]:
    """Return the finished, not deleted jobs of these sessions, oldest first."""
    if not session_ids:
        return []
    marks = ", ".join("?" * len(session_ids))
    rows = await db.fetchall(
        f"SELECT * FROM jobs WHERE session_id IN ({marks}) AND state IN ('generated', 'delivered')"
        " AND deleted_at IS NULL ORDER BY id",
        session_ids,
    )
    return [Job.from_row(row) for row in rows]


async def jobs_in_window(
    db: Database, *, channel_id: str | None = None, requester_id: str | None = None, since: str, until: str
) -> list[Job]:
    """Return finished, not deleted jobs of a channel or a member between two ISO times, oldest first."""
    clauses = ["state IN ('generated', 'delivered')", "deleted_at IS NULL", "created_at >= ?", "created_at < ?"]
    params: list[object] = [since, until]
    if channel_id is not None:
        clauses.append("channel_id = ?")
        params.append(channel_id)
    if requester_id is not None:
        clauses.append("requester_id = ?")
        params.append(requester_id)
    rows = await db.fetchall(f"SELECT * FROM jobs WHERE {' AND '.join(clauses)} ORDER BY id", params)
    return [Job.from_row(row) for row in rows]


async def images_of_jobs(db: Database, job_ids: list[int]) -> list[ImageRecord]:
    """Return the images of these jobs, by job then grid order."""
    if not job_ids:
        return []
    marks = ", ".join("?" * len(job_ids))
    rows = await db.fetchall(f"SELECT * FROM images WHERE job_id IN ({marks}) ORDER BY job_id, idx", job_ids)
    return [ImageRecord(**row_dict(row)) for row in rows]


async def actor_names(db: Database, actor_ids: list[str]) -> dict[str, str]:
    """Return the latest name the event log knows for each actor id (ids without one map to themselves)."""
    names = {actor_id: actor_id for actor_id in actor_ids}
    if not actor_ids:
        return names
    marks = ", ".join("?" * len(actor_ids))
    rows = await db.fetchall(
        f"SELECT actor_id, actor_name FROM events WHERE actor_id IN ({marks}) AND actor_name != '' ORDER BY id",
        actor_ids,
    )
    for actor_id, name in rows:
        names[str(actor_id)] = str(name)
    return names
