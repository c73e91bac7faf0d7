"""Generation jobs: their rows, their state machine from request to delivered result, and admission.

A job is queued, runs, is generated (its images are stored) and is delivered (its result is shown
on Discord); or it fails or is cancelled, and then the failure is shown (`delivered_at`). The
spec is decoded once, here, when the row is read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import aiosqlite

from bot.catalogue import _
from bot.jobs.codec import decode_spec, encode_spec
from bot.jobs.spec import Feature, JobSpec
from bot.store.database import Database, parse_utc, row_dict, utc_iso, utc_now
from bot.store.events import SYSTEM, Actor, EventDraft


class JobState(StrEnum):
    """Where a generation job is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    GENERATED = "generated"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


# RUNNING -> QUEUED is how a job is resumed after a restart or retried after a worker crash.
ALLOWED_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED, JobState.FAILED}),
    JobState.RUNNING: frozenset({JobState.GENERATED, JobState.FAILED, JobState.CANCELLED, JobState.QUEUED}),
    JobState.GENERATED: frozenset({JobState.DELIVERED}),
    JobState.DELIVERED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}
ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING)
# Jobs whose images exist: generated (maybe not shown yet) or delivered.
FINISHED_STATES = (JobState.GENERATED, JobState.DELIVERED)
ENDED_UNSUCCESSFULLY = (JobState.FAILED, JobState.CANCELLED)


class InvalidJobTransition(Exception):
    """A job was asked to move to a state its current state does not lead to."""


@dataclass(frozen=True)
class Job:
    """One row of `jobs`, its spec decoded."""

    id: int
    session_id: int
    prompt_id: int
    requester_id: str
    guild_id: str | None
    channel_id: str
    rules_channel_id: str
    feature: Feature
    kind: str
    state: JobState
    spec: JobSpec
    priority: int
    attempts: int
    error: str | None
    reply_message_id: str | None
    result_message_id: str | None
    interaction_app_id: str | None
    interaction_token: str | None = field(repr=False)
    interaction_expires_at: str | None
    delivery_pending_at: str | None
    delivery_attempts: int
    delivery_error: str | None
    delivered_at: str | None
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
        values["feature"] = Feature(values["feature"])
        values["spec"] = decode_spec(values["spec"])
        return cls(**values)

    @property
    def finished(self) -> bool:
        """Return whether the job's images exist (generated or delivered)."""
        return self.state in FINISHED_STATES

    def interaction_token_valid(self, now: datetime, margin: timedelta = timedelta(seconds=30)) -> bool:
        """Return whether the interaction's token may still edit the reply (with a safety margin)."""
        if not self.interaction_token or not self.interaction_expires_at:
            return False
        expires = parse_utc(self.interaction_expires_at)
        return now + margin < expires


@dataclass(frozen=True)
class Shown:
    """Where a job is shown: the channel or thread, and the interaction that asked, while its token lives."""

    channel_id: str
    rules_channel_id: str
    interaction_app_id: str | None = None
    interaction_token: str | None = field(default=None, repr=False)
    interaction_expires_at: str | None = None
    # The interaction's reply ("Salon is thinking…"), which is edited into the result.
    reply_message_id: str | None = None


@dataclass(frozen=True)
class Admission:
    """The caps a new job must fit, checked in the transaction that inserts it."""

    per_user: int
    total: int
    cooldown_seconds: float = 0.0
    per_minute: int = 0  # jobs one member may start in any minute, rerolls and variations too (0: no limit)
    images_per_user: int = 0  # images one member may have waiting or running, all jobs together (0: no limit)


class AdmissionRefused(Exception):
    """A cap or the cooldown refused a job; the message says which and when to try again."""


async def admit(conn: aiosqlite.Connection, requester_id: str, admission: Admission, images: int = 1) -> None:
    """Raise `AdmissionRefused` unless `requester_id` may add a job of `images` images now (inside the
    inserting transaction).

    Run under BEGIN IMMEDIATE, so concurrent submissions are serialised by SQLite's write lock and
    a cap holds however many arrive at once.
    """
    cursor = await conn.execute(
        "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running') AND requester_id = ?", (requester_id,)
    )
    mine = (await cursor.fetchone())[0]  # type: ignore[index]
    await cursor.close()
    if mine >= admission.per_user:
        raise AdmissionRefused(
            _(
                "You already have {per_user} generations waiting or running (the limit per "
                "member); you can ask again as soon as one of them finishes."
            ).format(per_user=admission.per_user)
        )
    if admission.images_per_user > 0:
        cursor = await conn.execute(
            "SELECT COALESCE(SUM(json_array_length(spec, '$.render.seeds')), 0) FROM jobs"
            " WHERE state IN ('queued', 'running') AND requester_id = ?",
            (requester_id,),
        )
        waiting = (await cursor.fetchone())[0]  # type: ignore[index]
        await cursor.close()
        if waiting + images > admission.images_per_user:
            raise AdmissionRefused(
                _(
                    "You have {waiting} images waiting or running and asked for {images} more; the limit per "
                    "member is {limit}. Ask for fewer, or again once some have finished."
                ).format(waiting=waiting, images=images, limit=admission.images_per_user)
            )
    cursor = await conn.execute("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')")
    everyone = (await cursor.fetchone())[0]  # type: ignore[index]
    await cursor.close()
    if everyone >= admission.total:
        raise AdmissionRefused(
            _("Salon's queue is full ({total} generations waiting or running); try again in a minute.").format(
                total=admission.total
            )
        )
    if admission.per_minute > 0:
        now = datetime.now(UTC)
        window_start = utc_iso(now - timedelta(minutes=1))
        cursor = await conn.execute(
            "SELECT created_at FROM jobs WHERE requester_id = ? AND created_at > ? ORDER BY created_at DESC LIMIT ?",
            (requester_id, window_start, admission.per_minute),
        )
        recent = [row[0] for row in await cursor.fetchall()]
        await cursor.close()
        if len(recent) >= admission.per_minute:
            # The oldest of the last `per_minute` leaves the window first; then one more may start.
            frees_at = parse_utc(recent[-1]) + timedelta(minutes=1)
            raise AdmissionRefused(
                _(
                    "You started {per_minute} generations in the last minute, the limit per member "
                    "(rerolls, variations and remixes count too). You can go on in {value} s."
                ).format(per_minute=admission.per_minute, value=max(1, math.ceil((frees_at - now).total_seconds())))
            )
    if admission.cooldown_seconds > 0:
        cursor = await conn.execute("SELECT MAX(created_at) FROM jobs WHERE requester_id = ?", (requester_id,))
        last = (await cursor.fetchone())[0]  # type: ignore[index]
        await cursor.close()
        if last:
            since = datetime.now(UTC) - parse_utc(last)
            wait = admission.cooldown_seconds - since.total_seconds()
            if wait > 0:
                raise AdmissionRefused(
                    _(
                        "Slow down: one generation every {cooldown_seconds:g} s per member. Try again in {value} s."
                    ).format(cooldown_seconds=admission.cooldown_seconds, value=max(1, round(wait)))
                )


async def insert_job(
    conn: aiosqlite.Connection,
    *,
    session_id: int,
    prompt_id: int,
    requester_id: str,
    guild_id: str | None,
    shown: Shown,
    spec: JobSpec,
) -> int:
    """Insert a queued job inside the caller's transaction and return its id."""
    lineage = spec.lineage
    cursor = await conn.execute(
        "INSERT INTO jobs (session_id, prompt_id, requester_id, guild_id, channel_id, rules_channel_id, feature,"
        " kind, spec, priority, parent_job_id, source_image_id, interaction_app_id, interaction_token,"
        " interaction_expires_at, reply_message_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            session_id,
            prompt_id,
            requester_id,
            guild_id,
            shown.channel_id,
            shown.rules_channel_id,
            spec.feature.value,
            spec.kind,
            encode_spec(spec),
            spec.render.priority,
            lineage.parent_job_id if lineage else None,
            lineage.source_image_id if lineage else None,
            shown.interaction_app_id,
            shown.interaction_token,
            shown.interaction_expires_at,
            shown.reply_message_id,
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
    elif new_state is JobState.DELIVERED:
        await conn.execute(
            "UPDATE jobs SET state = ?, delivered_at = ?, interaction_token = NULL WHERE id = ?",
            (new_state.value, now, job_id),
        )
    else:
        await conn.execute(
            "UPDATE jobs SET state = ?, finished_at = ?, error = ? WHERE id = ?",
            (new_state.value, now, error, job_id),
        )
    return old_state


async def set_reply_message(conn: aiosqlite.Connection, job_id: int, message_id: str) -> None:
    """Remember which Discord message shows this job while it runs."""
    await conn.execute("UPDATE jobs SET reply_message_id = ? WHERE id = ?", (message_id, job_id))


async def mark_delivery_pending(conn: aiosqlite.Connection, job_id: int) -> None:
    """Note that an upload of this job's result is about to start (its answer may be lost)."""
    await conn.execute(
        "UPDATE jobs SET delivery_pending_at = ?, delivery_attempts = delivery_attempts + 1 WHERE id = ?",
        (utc_now(), job_id),
    )


async def record_delivered(conn: aiosqlite.Connection, job_id: int, result_message_id: str | None) -> None:
    """Record that a job's outcome is shown: a generated job becomes delivered, a failed one is marked shown."""
    cursor = await conn.execute("SELECT state FROM jobs WHERE id = ?", (job_id,))
    row = await cursor.fetchone()
    await cursor.close()
    if row is not None and row[0] == JobState.GENERATED.value:
        await transition_job(conn, job_id, JobState.DELIVERED)
    await conn.execute(
        "UPDATE jobs SET delivered_at = COALESCE(delivered_at, ?), result_message_id = ?, delivery_error = NULL,"
        " delivery_pending_at = NULL, interaction_token = NULL WHERE id = ?",
        (utc_now(), result_message_id, job_id),
    )


async def record_delivery_error(conn: aiosqlite.Connection, job_id: int, error: str) -> None:
    """Record why the last delivery attempt of a job failed (it is tried again at the next start)."""
    await conn.execute("UPDATE jobs SET delivery_error = ? WHERE id = ?", (error[:500], job_id))


async def get_job(db: Database, job_id: int) -> Job | None:
    """Return the job with this id, or None."""
    row = await db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
    return Job.from_row(row) if row else None


async def get_job_in(conn: aiosqlite.Connection, job_id: int) -> Job | None:
    """Return a job read inside the caller's transaction (so a check and its change cannot interleave)."""
    cursor = await conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,))
    row = await cursor.fetchone()
    await cursor.close()
    return Job.from_row(row) if row else None


async def jobs_in_states(db: Database, states: tuple[JobState, ...]) -> list[Job]:
    """Return the jobs in any of `states`, oldest first."""
    marks = ", ".join("?" * len(states))
    rows = await db.fetchall(
        f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY id",
        [state.value for state in states],
    )
    return [Job.from_row(row) for row in rows]


async def undelivered_jobs(db: Database) -> list[Job]:
    """Return jobs whose outcome nobody has been shown yet: generated, or failed/cancelled unannounced."""
    rows = await db.fetchall(
        "SELECT * FROM jobs WHERE state = 'generated'"
        " OR (state IN ('failed', 'cancelled') AND delivered_at IS NULL) ORDER BY id"
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


async def recent_jobs_of(db: Database, requester_id: str, guild_id: str | None, limit: int = 10) -> list[Job]:
    """Return a requester's latest jobs in a server (not deleted), newest first."""
    rows = await db.fetchall(
        "SELECT * FROM jobs WHERE requester_id = ? AND guild_id IS ? AND deleted_at IS NULL ORDER BY id DESC LIMIT ?",
        (requester_id, guild_id, limit),
    )
    return [Job.from_row(row) for row in rows]


async def recent_jobs_in_channel(db: Database, channel_id: str, limit: int = 25) -> list[Job]:
    """Return the latest delivered jobs shown in a channel (not deleted), newest first."""
    rows = await db.fetchall(
        "SELECT * FROM jobs WHERE channel_id = ? AND state = 'delivered' AND deleted_at IS NULL"
        " ORDER BY id DESC LIMIT ?",
        (channel_id, limit),
    )
    return [Job.from_row(row) for row in rows]


def job_event(
    job: Job,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    actor: Actor = SYSTEM,
    subject: tuple[str, int | str] | None = None,
) -> EventDraft:
    """Return an event about a job (or one of its images), placed where the job is: guild, channel, session."""
    return EventDraft(
        actor=actor,
        kind=kind,
        guild_id=job.guild_id,
        channel_id=job.channel_id,
        session_id=job.session_id,
        subject=subject or ("job", job.id),
        payload=payload or {},
    )
