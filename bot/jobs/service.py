"""Jobs from admission to delivered result: the queue caps, the store, the pool, and the bookkeeping of delivery."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.catalogue import _
from bot.errors import GenerationFailedError, QueueFullError, ServiceStoppingError, UserInputError
from bot.jobs.factory import build_request
from bot.jobs.results import FinishedGeneration, store_result
from bot.jobs.spec import Place, PreparedGeneration
from bot.render.grid import grid_png
from bot.store import SYSTEM, Actor, Database, EventDraft, ImageFiles, record
from bot.store.images import ImageRecord, images_of_job
from bot.store.jobs import (
    Admission,
    AdmissionRefused,
    Job,
    JobState,
    Shown,
    active_jobs_of,
    admit,
    count_active_jobs,
    get_job,
    get_job_in,
    insert_job,
    job_event,
    jobs_in_states,
    mark_delivery_pending,
    mark_job_deleted,
    recent_jobs_in_channel,
    recent_jobs_of,
    record_delivered,
    record_delivery_error,
    set_reply_message,
    transition_job,
    undelivered_jobs,
)
from bot.store.posts import PostKind, get_post, record_post
from bot.store.prompts import insert_prompt
from bot.store.sessions import open_stream
from gpu_worker import GenerationPool, JobHandle, PoolEvent, PoolHealth

log = logging.getLogger(__name__)


OutcomeListener = Callable[[int], Awaitable[None]]


@dataclass(frozen=True)
class QueueLimits:
    """How many active (queued or running) jobs one user, and everyone, may have; a per-user pause;
    and how many jobs one user may start in any minute."""

    per_user: int = 10
    total: int = 200
    cooldown_seconds: float = 0.0
    per_minute: int = 0
    images_per_user: int = 0


@dataclass
class QueuedGeneration:
    """A job that is persisted and handed to the pool."""

    job_id: int
    session_id: int
    prompt_id: int
    handle: JobHandle = field(repr=False)
    notes: tuple[str, ...] = ()
    # Resolved by the service once the job has ended: its stored images, or why it did not finish.
    outcome: asyncio.Future[FinishedGeneration] = field(repr=False, default=None)  # type: ignore[assignment]


@dataclass(frozen=True)
class QueuedJob:
    """One of a member's active jobs as the pool sees it now."""

    job: Job
    position: int | None  # jobs ahead of it in the queue; None when it is not waiting
    eta: float | None
    running: bool  # a worker has it (the job's own message says so too)


@dataclass(frozen=True)
class QueueStatus:
    """A user's active jobs (with their place in the queue and ETA), the queue's length and the pool's health."""

    jobs: list[QueuedJob]
    queue_length: int
    active_total: int
    health: PoolHealth


class JobService:
    """Admit, persist, run and follow jobs to their delivered result, keeping store, files and pool consistent.

    Every feature (imagine, parties, regions) prepares a `PreparedGeneration` its own way and hands it
    here; the job is one typed record from then on, and the feature only presents its result.
    """

    def __init__(
        self, db: Database, files: ImageFiles, pool: GenerationPool, *, limits: QueueLimits | None = None
    ) -> None:
        self.db = db
        self.files = files
        self.pool = pool
        self.limits = limits or QueueLimits()
        # Jobs of this process that have not ended, so a button can cancel them and a display follow them.
        self._live: dict[int, QueuedGeneration] = {}
        self._runners: set[asyncio.Task[None]] = set()
        self._listeners: list[OutcomeListener] = []
        # Notified whenever a job ends, a result message is recorded or a delivery is given up, so
        # callers (the demo, tests, benchmarks) wait for one without polling.
        self._changed = asyncio.Condition()
        self._posted: set[str] = set()
        self._given_up: set[int] = set()
        self._closing = False
        pool.add_listener(self._on_pool_event)

    # --- queueing -----------------------------------------------------------------------------

    async def submit(
        self, actor: Actor, place: Place, prepared: PreparedGeneration, *, shown: Shown | None = None
    ) -> QueuedGeneration:
        """Persist a job for `prepared`, hand it to the pool and return it; raise if it cannot queue.

        The caps are checked in the transaction that inserts the job, so they hold under any
        number of concurrent requests. `shown` says where the result goes (default: the place).
        """
        if self._closing:
            raise ServiceStoppingError(_("Salon is restarting; please ask again in a minute."))
        spec = prepared.spec
        shown = shown or Shown(place.channel_id, place.rules_channel)
        admission = Admission(
            self.limits.per_user,
            self.limits.total,
            self.limits.cooldown_seconds,
            self.limits.per_minute,
            self.limits.images_per_user,
        )
        lineage = spec.lineage
        try:
            async with record(self.db) as change:
                await admit(change.conn, actor.id, admission, images=len(spec.render.seeds))
                session_id = prepared.session_id or await open_stream(
                    change.conn, guild_id=place.guild_id, channel_id=place.channel_id, actor=actor
                )
                prompt_id = await insert_prompt(
                    change.conn,
                    session_id=session_id,
                    author_id=actor.id,
                    text=spec.render.prompt,
                    negative_text=spec.render.negative_prompt,
                    parent_id=lineage.parent_prompt_id if lineage else None,
                )
                job_id = await insert_job(
                    change.conn,
                    session_id=session_id,
                    prompt_id=prompt_id,
                    requester_id=actor.id,
                    guild_id=place.guild_id,
                    shown=shown,
                    spec=spec,
                )
                change.log(
                    EventDraft(
                        actor=actor,
                        kind="job.queued",
                        guild_id=place.guild_id,
                        channel_id=place.channel_id,
                        session_id=session_id,
                        subject=("job", job_id),
                        payload={"prompt_id": prompt_id, "feature": spec.feature.value, **spec.facts()},
                    )
                )
        except AdmissionRefused as exc:
            raise QueueFullError(str(exc)) from exc
        job = await get_job(self.db, job_id)
        assert job is not None
        try:
            handle = await self.pool.submit(str(job_id), build_request(spec, self.files, requester=actor.id))
        except Exception as exc:
            await self._finish_failed(job_id, _("the generation pool refused the job: {exc}").format(exc=exc))
            raise GenerationFailedError(_("Salon could not queue this generation: {exc}").format(exc=exc)) from exc
        log.info("job %s queued in session %s", job_id, session_id)
        return self._run(QueuedGeneration(job_id, session_id, prompt_id, handle, spec.notes))

    def _run(self, queued: QueuedGeneration) -> QueuedGeneration:
        """Start the task that owns `queued` until it ends, and return it."""
        queued.outcome = asyncio.get_running_loop().create_future()
        # Nobody may wait on a job whose asker went away; don't warn about an unread failure.
        queued.outcome.add_done_callback(lambda future: future.cancelled() or future.exception())
        self._live[queued.job_id] = queued
        task = asyncio.create_task(self._follow(queued), name=f"salon-job-{queued.job_id}")
        self._runners.add(task)
        task.add_done_callback(self._runners.discard)
        return queued

    async def _follow(self, queued: QueuedGeneration) -> None:
        """Run a job to its end: record its start, store its images or its failure, tell the listeners."""
        handle = queued.handle
        started = asyncio.ensure_future(handle.started.wait())
        result = asyncio.ensure_future(handle.result())
        try:
            await asyncio.wait({started, result}, return_when=asyncio.FIRST_COMPLETED)
            if handle.started.is_set():
                await self._mark_running(queued.job_id)
            try:
                generated = await result
            except Exception as exc:
                await self._on_failure(queued, exc)
                return
            try:
                job = await get_job(self.db, queued.job_id)
                assert job is not None
                finished = await store_result(self.db, self.files, job, generated, queued.notes)
            except Exception as exc:
                log.exception("could not store the images of job %s", queued.job_id)
                await self._finish_failed(queued.job_id, _("Salon could not store the images: {exc}").format(exc=exc))
                queued.outcome.set_exception(
                    GenerationFailedError(_("Salon could not store the images: {exc}").format(exc=exc))
                )
                await self._tell(queued.job_id)
                return
            queued.outcome.set_result(finished)
            await self._tell(queued.job_id)
        finally:
            started.cancel()
            self._live.pop(queued.job_id, None)

    async def _on_failure(self, queued: QueuedGeneration, exc: Exception) -> None:
        if self._closing:
            # The pool stopped under the job: it stays in the store and is requeued by shutdown().
            queued.outcome.set_exception(
                ServiceStoppingError(
                    _("Salon is restarting; job #{job_id} is kept and will run when it is back.").format(
                        job_id=queued.job_id
                    )
                )
            )
            return
        message = str(exc) or type(exc).__name__
        state = JobState.CANCELLED if queued.handle.state == "cancelled" else JobState.FAILED
        await self._finish_failed(queued.job_id, message, state=state)
        queued.outcome.set_exception(
            GenerationFailedError(_("The generation did not finish: {message}").format(message=message))
        )
        await self._tell(queued.job_id)

    def add_outcome_listener(self, listener: OutcomeListener) -> None:
        """Call `await listener(job_id)` whenever a job of this process is generated, fails or is cancelled."""
        self._listeners.append(listener)

    async def _tell(self, job_id: int) -> None:
        await self._notify()
        for listener in self._listeners:
            try:
                await listener(job_id)
            except Exception:
                log.exception("an outcome listener failed on job %s", job_id)

    async def wait(self, queued: QueuedGeneration) -> FinishedGeneration:
        """Return a queued job once its images are stored; raise why it did not finish."""
        return await asyncio.shield(queued.outcome)

    async def shutdown(self, grace_seconds: float = 10.0) -> None:
        """Stop taking jobs, stop the pool and put every unfinished job back in the queue, logged.

        Nothing is lost: a job that was running when Salon stopped is `queued` again in the store,
        with a `job.suspended` event, so the next start can run it.
        """
        self._closing = True
        await self.pool.close()
        if self._runners:
            _unused, pending = await asyncio.wait(set(self._runners), timeout=grace_seconds)
            if pending:
                log.warning("%d jobs were still settling at shutdown", len(pending))
        for job in await jobs_in_states(self.db, (JobState.RUNNING,)):
            await self._move(job, JobState.QUEUED, "job.suspended", payload={"reason": "shutdown"})

    async def resume_pending(self) -> list[QueuedGeneration]:
        """Hand every unfinished job in the store to the pool again, oldest first, and return them.

        Called once at start-up, before the gateway connects, so a job created by this process is
        never mistaken for a leftover. Jobs running when the last process died are `job.suspended`,
        then each is `job.resumed`.
        """
        resumed = []
        for job in await jobs_in_states(self.db, (JobState.QUEUED, JobState.RUNNING)):
            if job.id in self._live:
                continue
            if job.state is JobState.RUNNING:
                ended = {"reason": "process ended"}  # machine-read: an event's payload
                await self._move(job, JobState.QUEUED, "job.suspended", payload=ended)
            try:
                request = build_request(job.spec, self.files, requester=job.requester_id)
                handle = await self.pool.submit(str(job.id), request)
            except (ValueError, OSError) as exc:
                await self._finish_failed(job.id, _("could not resume: {exc}").format(exc=exc))
                continue
            async with record(self.db) as change:
                change.log(job_event(job, "job.resumed"))
            resumed.append(self._run(QueuedGeneration(job.id, job.session_id, job.prompt_id, handle, job.spec.notes)))
        if resumed:
            log.info("resumed %d unfinished jobs", len(resumed))
        return resumed

    # --- pool events --------------------------------------------------------------------------

    def _on_pool_event(self, event: PoolEvent) -> None:
        """Record what happened to the workers in the event log (called on the loop, so spawn the write)."""
        if event.kind == "job_started":
            return  # the job's own follower records job.started, in order with its result
        task = asyncio.get_running_loop().create_task(self._record_pool_event(event))
        self._runners.add(task)
        task.add_done_callback(self._runners.discard)

    async def _record_pool_event(self, event: PoolEvent) -> None:
        if not self.db.is_open:
            return  # a pool outlives the service that listened to it (tests share one pool)
        payload = {"device": event.device, "attempt": event.attempt, "error": event.error, "exit_code": event.exit_code}
        try:
            async with record(self.db) as change:
                if event.kind == "job_retried":
                    for job_id in event.job_ids:
                        job = await get_job_in(change.conn, int(job_id))
                        if job is not None:
                            change.log(job_event(job, "job.retried", payload))
                else:
                    change.log(
                        EventDraft(
                            actor=SYSTEM,
                            kind=f"worker.{event.kind.removeprefix('worker_')}",
                            subject=("worker", event.device),
                            payload={**payload, "job_ids": [int(j) for j in event.job_ids]},
                        )
                    )
        except Exception:
            log.exception("could not record the pool event %s", event.kind)

    def health(self) -> PoolHealth:
        """Return whether the pool can generate now, and if not, why."""
        return self.pool.health()

    # --- delivery bookkeeping (the deliverer on Discord calls these) --------------------------

    async def undelivered(self) -> list[Job]:
        """Return jobs whose outcome has not been shown yet, oldest first."""
        return await undelivered_jobs(self.db)

    async def delivery_starting(self, job_id: int) -> None:
        """Note that an upload of a job's result starts now (a retry looks for it first)."""
        async with self.db.transaction() as conn:
            await mark_delivery_pending(conn, job_id)

    async def delivered(self, job: Job, message_id: str | None, channel_id: str | None, *, how: str) -> None:
        """Record that a job's outcome is shown in `message_id`, with a `job.delivered` event (exactly once)."""
        async with record(self.db) as change:
            current = await get_job_in(change.conn, job.id)
            if current is None or current.delivered_at is not None:
                return
            await record_delivered(change.conn, job.id, message_id)
            if message_id is not None and channel_id is not None and current.finished:
                await record_post(change.conn, message_id=message_id, channel_id=channel_id, job_id=job.id, kind="grid")
            payload = {"message_id": message_id, "how": how, "attempts": current.delivery_attempts}
            change.log(job_event(job, "job.delivered", payload))
        if message_id is not None:
            await self._announce_post(message_id)

    async def delivery_failed(self, job: Job, error: str, *, final: bool) -> None:
        """Record a failed delivery attempt; `final`: no more tries in this process (the next start retries)."""
        async with record(self.db) as change:
            await record_delivery_error(change.conn, job.id, error)
            change.log(job_event(job, "job.delivery_failed", {"error": error[:500], "final": final}))
        if final:
            self._given_up.add(job.id)
        await self._notify()

    async def record_reply(self, job_id: int, message_id: str) -> None:
        """Remember the Discord message that shows a job while it runs."""
        async with self.db.transaction() as conn:
            await set_reply_message(conn, job_id, message_id)

    # --- actions on results -------------------------------------------------------------------

    async def delete(self, actor: Actor, place: Place, job_id: int, *, may_moderate: bool) -> Job:
        """Hide a job (requester or moderator only) and return it; its history stays in the store."""
        job = await self.job_at(job_id, place)
        if actor.id != job.requester_id and not may_moderate:
            raise UserInputError(_("Only the person who asked for these images, or a moderator, can delete them."))
        async with record(self.db) as change:
            await mark_job_deleted(change.conn, job.id)
            change.log(job_event(job, "job.deleted", {"by_moderator": actor.id != job.requester_id}, actor=actor))
        return job

    async def cancel(self, actor: Actor, place: Place, job_id: int, *, may_moderate: bool) -> bool:
        """Stop a queued or running job (requester or moderator only); return False if it had ended."""
        job = await self.job_at(job_id, place, allow_deleted=True)
        if actor.id != job.requester_id and not may_moderate:
            raise UserInputError(_("Only the person who asked for this generation, or a moderator, can cancel it."))
        queued = self._live.get(job_id)
        if queued is None or job.state not in (JobState.QUEUED, JobState.RUNNING):
            return False
        async with record(self.db) as change:
            change.log(job_event(job, "job.cancel_requested", actor=actor))
        await queued.handle.cancel()
        return True

    def live(self, job_id: int) -> QueuedGeneration | None:
        """Return a job of this process that has not ended, or None."""
        return self._live.get(job_id)

    async def history(self, actor: Actor, guild_id: str | None, limit: int = 10) -> list[Job]:
        """Return a member's latest generations in a server, newest first (what `/history` lists)."""
        return await recent_jobs_of(self.db, actor.id, guild_id, limit)

    async def job_of_message(self, message_id: str, place: Place) -> tuple[Job, int | None]:
        """Return the job a Salon message shows (from `place`) and, for a picked image, its index in the grid.

        Raise `UserInputError` for any other message, saying what the command works on.
        """
        post = await get_post(self.db, message_id)
        if post is None:
            raise UserInputError(
                _("This message is not one of Salon's results: use it on a grid or an image Salon posted.")
            )
        job = await self.job_at(post.job_id, place)
        if post.image_id is None:
            return job, None
        images = await images_of_job(self.db, job.id)
        return job, next((n for n, image in enumerate(images) if image.id == post.image_id), None)

    async def recent_in(self, channel_id: str) -> list[Job]:
        """Return the latest results shown in a channel, newest first (what a job option offers)."""
        return await recent_jobs_in_channel(self.db, channel_id)

    async def queue_status(self, actor: Actor) -> QueueStatus:
        """Return the caller's active jobs with position and ETA, how long the queue is, and the pool's health."""
        jobs = await active_jobs_of(self.db, actor.id)
        rows = []
        for job in jobs:
            position = self.pool.position(str(job.id))
            live = self._live.get(job.id)
            started = live.handle.started.is_set() if live else job.state is JobState.RUNNING
            rows.append(QueuedJob(job, position, self.pool.eta(str(job.id)), position is None and started))
        return QueueStatus(rows, self.pool.queue_length(), await count_active_jobs(self.db), self.pool.health())

    async def record_post(
        self, job_id: int, message_id: str, channel_id: str, kind: PostKind, image_id: int | None = None
    ) -> None:
        """Remember a message that shows a job (its grid) or one image of it, so reactions find them."""
        async with self.db.transaction() as conn:
            await record_post(
                conn, message_id=message_id, channel_id=channel_id, job_id=job_id, kind=kind, image_id=image_id
            )
        await self._announce_post(message_id)

    async def _announce_post(self, message_id: str) -> None:
        """Wake whoever waits for `message_id` to be recorded."""
        self._posted.add(message_id)
        await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for_post(self, message_id: str) -> None:
        """Return once this process has recorded the result message `message_id`."""
        async with self._changed:
            await self._changed.wait_for(lambda: message_id in self._posted)

    async def wait_for_change(self) -> None:
        """Return at the next change this service announces (a job ended, a result shown or given up)."""
        async with self._changed:
            await self._changed.wait()

    async def wait_until_settled(self) -> None:
        """Return once no job is queued or running and every outcome is shown (or its delivery given up here)."""
        async with self._changed:
            while True:
                active = await count_active_jobs(self.db)
                waiting = [job for job in await undelivered_jobs(self.db) if job.id not in self._given_up]
                if active == 0 and not waiting:
                    return
                await self._changed.wait()

    async def job_at(self, job_id: int, place: Place | None, *, allow_deleted: bool = False) -> Job:
        """Return a job that may be acted on from `place`: same server, and shown in this channel or its parent.

        A button or reaction names a job by its id; a forged or copied id from another server or
        channel is refused in words, never acted on. `place=None` skips the check (the CLI, tests).
        """
        job = await get_job(self.db, job_id)
        if job is None or (job.deleted_at is not None and not allow_deleted):
            raise UserInputError(_("Job #{job_id} is gone: it was deleted or never existed.").format(job_id=job_id))
        if place is not None:
            here = {place.channel_id, place.rules_channel}
            if job.guild_id != place.guild_id or not ({job.channel_id, job.rules_channel_id} & here):
                raise UserInputError(
                    _("Job #{job_id} belongs to another channel; use the buttons where it was made.").format(
                        job_id=job_id
                    )
                )
        return job

    async def image_at(self, job: Job, idx: int) -> ImageRecord:
        """Return image `idx` (from 0) of a job, or raise `UserInputError` naming the images it has."""
        images = await images_of_job(self.db, job.id)
        if not images:
            raise UserInputError(_("Job #{id} has no images yet.").format(id=job.id))
        if not 0 <= idx < len(images):
            raise UserInputError(
                _("Job #{id} has images 1 to {count}; there is no image {idx}.").format(
                    id=job.id, count=len(images), idx=idx + 1
                )
            )
        return images[idx]

    async def job_with_images(self, job_id: int, place: Place | None = None) -> tuple[Job, list[ImageRecord]]:
        """Return a job and its images, or raise `UserInputError` if there is no such job (here)."""
        job = await self.job_at(job_id, place, allow_deleted=True)
        return job, await images_of_job(self.db, job_id)

    async def grid_png(self, job: Job, images: list[ImageRecord]) -> bytes:
        """Return the PNG of a job's grid, with its parameters, built off the event loop."""
        pngs = [self.files.read(image.sha256) for image in images]
        extra = {"job_id": job.id, "grid": True}
        return await asyncio.to_thread(grid_png, pngs, facts=job.spec.facts(), extra=extra)

    # --- state changes ------------------------------------------------------------------------

    async def _mark_running(self, job_id: int) -> None:
        job = await get_job(self.db, job_id)
        if job is not None and job.state is JobState.QUEUED:
            await self._move(job, JobState.RUNNING, "job.started", payload={"attempt": job.attempts + 1})

    async def _finish_failed(self, job_id: int, message: str, *, state: JobState = JobState.FAILED) -> None:
        job = await get_job(self.db, job_id)
        if job is not None and job.state in (JobState.QUEUED, JobState.RUNNING):
            await self._move(job, state, f"job.{state.value}", error=message, payload={"error": message})

    async def _move(
        self,
        job: Job,
        state: JobState,
        event_kind: str,
        *,
        error: str | None = None,
        payload: dict[str, object] | None = None,
    ) -> None:
        """Move a job to `state` and log why, in one transaction."""
        async with record(self.db) as change:
            await transition_job(change.conn, job.id, state, error=error)
            change.log(job_event(job, event_kind, payload))
