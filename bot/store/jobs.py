"""Generation jobs and their state machine."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiosqlite

from bot.store.database import Database, row_dict, utc_now
from bot.store.events import SYSTEM, Actor, append_event


class JobState(StrEnum):
    """Where a generation job is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


# RUNNING -> QUEUED is how a job is resumed after a restart or retried after a worker crash.
ALLOWED_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED, JobState.FAILED}),
    JobState.RUNNING: frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED, JobState.QUEUED}),
    JobState.DONE: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}
ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING)


class InvalidJobTransition(Exception):
    """A job was asked to move to a state its current state does not lead to."""


@dataclass(frozen=True)
class Job:
    """One row of `jobs`; `params` holds the full generation request as JSON."""

    id: int
    session_id: int
    prompt_id: int
    requester_id: str
    guild_id: str | None
    channel_id: str
    kind: str
    state: JobState
    params: dict[str, Any]
    priority: int
    attempts: int
    error: str | None
    reply_message_id: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    parent_job_id: int | None = None
    source_image_id: int | None = None
    deleted_at: str | None = None

    @classmethod
    def from_row(cls, row: aiosqlite.Row) -> Job:
        """Return the job stored in `row`."""
        values = row_dict(row)
        values["state"] = JobState(values["state"])
        values["params"] = json.loads(values["params"])
        return cls(**values)


async def insert_job(
    conn: aiosqlite.Connection,
    *,
    session_id: int,
    prompt_id: int,
    requester_id: str,
    guild_id: str | None,
    channel_id: str,
    kind: str,
    params: dict[str, Any],
    priority: int = 0,
    parent_job_id: int | None = None,
    source_image_id: int | None = None,
) -> int:
    """Insert a queued job inside the caller's transaction and return its id."""
    cursor = await conn.execute(
        "INSERT INTO jobs (session_id, prompt_id, requester_id, guild_id, channel_id, kind, params,"
        " priority, parent_job_id, source_image_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            session_id,
            prompt_id,
            requester_id,
            guild_id,
            channel_id,
            kind,
            json.dumps(params, sort_keys=True),
            priority,
            parent_job_id,
            source_image_id,
            utc_now(),
        ),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def transition_job(
    conn: aiosqlite.Connection, job_id: int, new_state: JobState, *, error: str | None = None
) -> JobState:
    """Move a job to `new_state` inside the caller's transaction and return its previous state."""
    cursor = await conn.execute("SELECT state FROM jobs WHERE id = ?", (job_id,))
    row = await cursor.fetchone()
    await cursor.close()
    if row is None:
        raise InvalidJobTransition(f"job {job_id} does not exist")
    old_state = JobState(row[0])
    if new_state not in ALLOWED_TRANSITIONS[old_state]:
        raise InvalidJobTransition(f"job {job_id} cannot go from {old_state} to {new_state}")
    now = utc_now()
    if new_state is JobState.RUNNING:
        await conn.execute(
            "UPDATE jobs SET state = ?, started_at = ?, attempts = attempts + 1 WHERE id = ?",
            (new_state.value, now, job_id),
        )
    elif new_state is JobState.QUEUED:
        await conn.execute("UPDATE jobs SET state = ?, started_at = NULL WHERE id = ?", (new_state.value, job_id))
    else:
        await conn.execute(
            "UPDATE jobs SET state = ?, finished_at = ?, error = ? WHERE id = ?",
            (new_state.value, now, error, job_id),
        )
    return old_state


async def set_reply_message(conn: aiosqlite.Connection, job_id: int, message_id: str) -> None:
    """Remember which Discord message shows this job's progress and result."""
    await conn.execute("UPDATE jobs SET reply_message_id = ? WHERE id = ?", (message_id, job_id))


async def get_job(db: Database, job_id: int) -> Job | None:
    """Return the job with this id, or None."""
    row = await db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
    return Job.from_row(row) if row else None


async def jobs_in_states(db: Database, states: tuple[JobState, ...]) -> list[Job]:
    """Return the jobs in any of `states`, oldest first."""
    marks = ", ".join("?" * len(states))
    rows = await db.fetchall(
        f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY id",
        [state.value for state in states],
    )
    return [Job.from_row(row) for row in rows]


async def count_active_jobs(db: Database, requester_id: str | None = None) -> int:
    """Return how many jobs are queued or running, overall or for one requester."""
    if requester_id is None:
        row = await db.fetchone("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')")
    else:
        row = await db.fetchone(
            "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running') AND requester_id = ?",
            (requester_id,),
        )
    return int(row[0]) if row else 0


async def mark_job_deleted(conn: aiosqlite.Connection, job_id: int) -> None:
    """Hide a job from galleries and listings; its rows and events stay as history."""
    await conn.execute("UPDATE jobs SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL", (utc_now(), job_id))


async def active_jobs_of(db: Database, requester_id: str) -> list[Job]:
    """Return a requester's queued and running jobs, oldest first."""
    rows = await db.fetchall(
        "SELECT * FROM jobs WHERE state IN ('queued', 'running') AND requester_id = ? ORDER BY id", (requester_id,)
    )
    return [Job.from_row(row) for row in rows]


async def append_job_event(
    conn: aiosqlite.Connection,
    job: Job,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    actor: Actor = SYSTEM,
    subject: tuple[str, int | str] | None = None,
) -> None:
    """Append an event about a job (or one of its images), placed where the job is: guild, channel, session."""
    await append_event(
        conn,
        actor=actor,
        kind=kind,
        guild_id=job.guild_id,
        channel_id=job.channel_id,
        session_id=job.session_id,
        subject=subject or ("job", job.id),
        payload=payload,
    )
