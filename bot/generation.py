"""The generation service: from a job spec to stored images, each job run to its end by the service.

Plain async Python with no Discord types, so the cogs, the CLI and the demo share it. A job is
persisted (with its events, inside the transaction that checked the caps) before anyone is told
it is queued. The service, not the coroutine that asked, owns every job until its images are
stored: when that coroutine goes away (a crash, a restart, a slow Discord) the job still finishes,
and its outcome is handed to the outcome listeners (the deliverer) to be shown exactly once.
"""

from __future__ import annotations

import asyncio
import io
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from PIL import Image

from bot.content_images import ContentImage, load_content_image
from bot.errors import GenerationFailedError, QueueFullError, ServiceStoppingError, UserInputError
from bot.jobs.factory import build_request
from bot.jobs.spec import ImagineOptions, Lineage, Origin
from bot.png_metadata import with_parameters
from bot.prompt_composer import (
    MAX_PROMPT_CHARS,
    MAX_SEED,
    MAX_SIDE,
    VARIATION_STRENGTH,
    GenerationDefaults,
    Place,
    PreparedGeneration,
    PromptComposer,
    StartImage,
)
from bot.prompting.styles import StyleCatalog, default_style_catalog
from bot.prompting.wildcards import Wildcards
from bot.regions.masks import keep_outside
from bot.store import SYSTEM, Actor, Database, ImageFiles, append_event
from bot.store.images import ImageRecord, images_of_job, insert_image
from bot.store.jobs import (
    Admission,
    AdmissionRefused,
    Job,
    JobState,
    Shown,
    active_jobs_of,
    admit,
    append_job_event,
    count_active_jobs,
    get_job,
    get_job_in,
    insert_job,
    jobs_in_states,
    mark_delivery_pending,
    mark_job_deleted,
    record_delivered,
    record_delivery_error,
    set_reply_message,
    transition_job,
    undelivered_jobs,
)
from bot.store.posts import PostKind, record_post
from bot.store.prompts import insert_prompt
from bot.store.sessions import open_stream
from bot.themes import DATA_DIR, ThemeService
from gpu_worker import GenerationPool, GenerationResult, JobHandle, PoolEvent, PoolHealth
from gpu_worker.grid import make_grid

log = logging.getLogger(__name__)

__all__ = [
    "MAX_PROMPT_CHARS",
    "MAX_SEED",
    "MAX_SIDE",
    "FinishedGeneration",
    "GenerationDefaults",
    "GenerationService",
    "ImagineOptions",
    "Place",
    "PreparedGeneration",
    "QueueLimits",
    "QueueStatus",
    "QueuedGeneration",
]

OutcomeListener = Callable[[int], Awaitable[None]]


@dataclass(frozen=True)
class QueueLimits:
    """How many active (queued or running) jobs one user, and everyone, may have; a per-user pause;
    and how many jobs one user may start in any minute."""

    per_user: int = 10
    total: int = 200
    cooldown_seconds: float = 0.0
    per_minute: int = 0


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
class FinishedGeneration:
    """A generated job: its row, its image rows and what to tell the user."""

    job: Job
    images: list[ImageRecord]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueueStatus:
    """A user's active jobs (with their place in the queue and ETA), the queue's length and the pool's health."""

    jobs: list[tuple[Job, int | None, float | None]]
    queue_length: int
    active_total: int
    health: PoolHealth


class GenerationService:
    """Return queued and finished generations, keeping store, files and pool consistent."""

    def __init__(
        self,
        db: Database,
        files: ImageFiles,
        pool: GenerationPool,
        *,
        defaults: GenerationDefaults | None = None,
        limits: QueueLimits | None = None,
        themes: ThemeService | None = None,
        styles: StyleCatalog | None = None,
        wildcards: Wildcards | None = None,
    ) -> None:
        self.db = db
        self.files = files
        self.pool = pool
        self.defaults = defaults or GenerationDefaults()
        self.limits = limits or QueueLimits()
        self.themes = themes or ThemeService(db)
        self.composer = PromptComposer(
            self.defaults,
            self.themes,
            styles or default_style_catalog(),
            wildcards or Wildcards(DATA_DIR / "wildcards"),
            files,
        )
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

    # --- composing ----------------------------------------------------------------------------

    async def prepare(
        self,
        actor: Actor,
        place: Place,
        options: ImagineOptions,
        *,
        content: ContentImage | None = None,
        lineage: Lineage | None = None,
        origin: Origin = Origin.FRESH,
    ) -> PreparedGeneration:
        """Return the checked spec for a grid from `options`, or raise `UserInputError` naming the limit.

        Quick (a few reads of the store), so a cog can check input before it defers and refuse privately.
        """
        return await self.composer.compose(actor.id, place, options, content=content, lineage=lineage, origin=origin)

    # --- queueing -----------------------------------------------------------------------------

    async def submit(
        self, actor: Actor, place: Place, prepared: PreparedGeneration, *, shown: Shown | None = None
    ) -> QueuedGeneration:
        """Persist a job for `prepared`, hand it to the pool and return it; raise if it cannot queue.

        The caps are checked in the transaction that inserts the job, so they hold under any
        number of concurrent requests. `shown` says where the result goes (default: the place).
        """
        if self._closing:
            raise ServiceStoppingError("Salon is restarting; please ask again in a minute.")
        spec = prepared.spec
        shown = shown or Shown(place.channel_id, place.rules_channel)
        admission = Admission(
            self.limits.per_user, self.limits.total, self.limits.cooldown_seconds, self.limits.per_minute
        )
        lineage = spec.lineage
        try:
            async with self.db.transaction() as conn:
                await admit(conn, actor.id, admission)
                session_id = prepared.session_id or await open_stream(
                    conn, guild_id=place.guild_id, channel_id=place.channel_id, actor=actor
                )
                prompt_id = await insert_prompt(
                    conn,
                    session_id=session_id,
                    author_id=actor.id,
                    text=spec.render.prompt,
                    negative_text=spec.render.negative_prompt,
                    parent_id=lineage.parent_prompt_id if lineage else None,
                )
                job_id = await insert_job(
                    conn,
                    session_id=session_id,
                    prompt_id=prompt_id,
                    requester_id=actor.id,
                    guild_id=place.guild_id,
                    shown=shown,
                    spec=spec,
                )
                await append_event(
                    conn,
                    actor=actor,
                    kind="job.queued",
                    guild_id=place.guild_id,
                    channel_id=place.channel_id,
                    session_id=session_id,
                    subject=("job", job_id),
                    payload={"prompt_id": prompt_id, "feature": spec.feature.value, **spec.facts()},
                )
        except AdmissionRefused as exc:
            raise QueueFullError(str(exc)) from exc
        job = await get_job(self.db, job_id)
        assert job is not None
        try:
            handle = await self.pool.submit(str(job_id), build_request(spec, self.files, requester=actor.id))
        except Exception as exc:
            await self._finish_failed(job_id, f"the generation pool refused the job: {exc}")
            raise GenerationFailedError(f"Salon could not queue this generation: {exc}") from exc
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
                finished = await self._store_result(queued, generated)
            except Exception as exc:
                log.exception("could not store the images of job %s", queued.job_id)
                await self._finish_failed(queued.job_id, f"Salon could not store the images: {exc}")
                queued.outcome.set_exception(GenerationFailedError(f"Salon could not store the images: {exc}"))
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
                ServiceStoppingError(f"Salon is restarting; job #{queued.job_id} is kept and will run when it is back.")
            )
            return
        message = str(exc) or type(exc).__name__
        state = JobState.CANCELLED if queued.handle.state == "cancelled" else JobState.FAILED
        await self._finish_failed(queued.job_id, message, state=state)
        queued.outcome.set_exception(GenerationFailedError(f"The generation did not finish: {message}"))
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
            _, pending = await asyncio.wait(set(self._runners), timeout=grace_seconds)
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
                await self._move(job, JobState.QUEUED, "job.suspended", payload={"reason": "process ended"})
            try:
                request = build_request(job.spec, self.files, requester=job.requester_id)
                handle = await self.pool.submit(str(job.id), request)
            except (ValueError, OSError) as exc:
                await self._finish_failed(job.id, f"could not resume: {exc}")
                continue
            async with self.db.transaction() as conn:
                await append_job_event(conn, job, "job.resumed")
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
            async with self.db.transaction() as conn:
                if event.kind == "job_retried":
                    for job_id in event.job_ids:
                        job = await get_job_in(conn, int(job_id))
                        if job is not None:
                            await append_job_event(conn, job, "job.retried", payload)
                else:
                    await append_event(
                        conn,
                        actor=SYSTEM,
                        kind=f"worker.{event.kind.removeprefix('worker_')}",
                        subject=("worker", event.device),
                        payload={**payload, "job_ids": [int(j) for j in event.job_ids]},
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
        async with self.db.transaction() as conn:
            current = await get_job_in(conn, job.id)
            if current is None or current.delivered_at is not None:
                return
            await record_delivered(conn, job.id, message_id)
            if message_id is not None and channel_id is not None and current.finished:
                await record_post(conn, message_id=message_id, channel_id=channel_id, job_id=job.id, kind="grid")
            payload = {"message_id": message_id, "how": how, "attempts": current.delivery_attempts}
            await append_job_event(conn, job, "job.delivered", payload)
        if message_id is not None:
            await self._announce_post(message_id)

    async def delivery_failed(self, job: Job, error: str, *, final: bool) -> None:
        """Record a failed delivery attempt; `final`: no more tries in this process (the next start retries)."""
        async with self.db.transaction() as conn:
            await record_delivery_error(conn, job.id, error)
            await append_job_event(conn, job, "job.delivery_failed", {"error": error[:500], "final": final})
        if final:
            self._given_up.add(job.id)
        await self._notify()

    async def record_reply(self, job_id: int, message_id: str) -> None:
        """Remember the Discord message that shows a job while it runs."""
        async with self.db.transaction() as conn:
            await set_reply_message(conn, job_id, message_id)

    # --- actions on results -------------------------------------------------------------------

    async def reroll(
        self,
        actor: Actor,
        place: Place,
        job_id: int,
        *,
        prompt: str | None = None,
        negative_prompt: str | None = None,
    ) -> PreparedGeneration:
        """Return a new generation with a job's options and new seeds (a remix when a prompt is given).

        The options go through the composer again, so the channel's theme and blocklist apply as
        they are now; the prompt lineage records where the new prompt came from.
        """
        job = await self.job_at(job_id, place)
        options = job.spec.options
        origin = Origin.REROLL
        if prompt is not None or negative_prompt is not None:
            origin = Origin.REMIX
            options = replace(
                options,
                prompt=options.prompt if prompt is None else prompt,
                negative_prompt=options.negative_prompt if negative_prompt is None else negative_prompt,
            )
        options = replace(options, seed=None)
        content = None
        if job.spec.content_sha256:
            content = load_content_image("the content image", self.files.read(job.spec.content_sha256))
        lineage = Lineage(job.id, job.prompt_id, job.source_image_id)
        return await self.composer.compose(actor.id, place, options, content=content, lineage=lineage, origin=origin)

    async def vary(self, actor: Actor, place: Place, job_id: int, idx: int) -> PreparedGeneration:
        """Return variations of one image of a job: image-to-image from it at low strength, new seeds."""
        job = await self.job_at(job_id, place)
        image = await self._image_at(job, idx)
        count = len(job.spec.render.seeds)
        start = StartImage(image.sha256, image.width, image.height, VARIATION_STRENGTH)
        options = replace(job.spec.options, seed=random.randint(0, MAX_SEED - count), count=count)
        lineage = Lineage(job.id, job.prompt_id, image.id, source_idx=idx, source_seed=image.seed)
        return await self.composer.compose(
            actor.id, place, options, start=start, lineage=lineage, origin=Origin.VARIATION
        )

    async def pick(self, actor: Actor, place: Place, job_id: int, idx: int) -> tuple[Job, ImageRecord, bytes]:
        """Return one image of a job at full size (its PNG, with parameters), logging who picked it."""
        job = await self.job_at(job_id, place)
        image = await self._image_at(job, idx)
        async with self.db.transaction() as conn:
            payload = {"job_id": job.id, "idx": idx, "seed": image.seed}
            await append_job_event(conn, job, "image.picked", payload, actor=actor, subject=("image", image.id))
        return job, image, self.files.read(image.sha256)

    async def delete(self, actor: Actor, place: Place, job_id: int, *, may_moderate: bool) -> Job:
        """Hide a job (requester or moderator only) and return it; its history stays in the store."""
        job = await self.job_at(job_id, place)
        if actor.id != job.requester_id and not may_moderate:
            raise UserInputError("Only the person who asked for these images, or a moderator, can delete them.")
        async with self.db.transaction() as conn:
            await mark_job_deleted(conn, job.id)
            await append_job_event(
                conn, job, "job.deleted", {"by_moderator": actor.id != job.requester_id}, actor=actor
            )
        return job

    async def cancel(self, actor: Actor, place: Place, job_id: int, *, may_moderate: bool) -> bool:
        """Stop a queued or running job (requester or moderator only); return False if it had ended."""
        job = await self.job_at(job_id, place, allow_deleted=True)
        if actor.id != job.requester_id and not may_moderate:
            raise UserInputError("Only the person who asked for this generation, or a moderator, can cancel it.")
        queued = self._live.get(job_id)
        if queued is None or job.state not in (JobState.QUEUED, JobState.RUNNING):
            return False
        async with self.db.transaction() as conn:
            await append_job_event(conn, job, "job.cancel_requested", actor=actor)
        await queued.handle.cancel()
        return True

    def live(self, job_id: int) -> QueuedGeneration | None:
        """Return a job of this process that has not ended, or None."""
        return self._live.get(job_id)

    async def queue_status(self, actor: Actor) -> QueueStatus:
        """Return the caller's active jobs with position and ETA, how long the queue is, and the pool's health."""
        jobs = await active_jobs_of(self.db, actor.id)
        rows = [(job, self.pool.position(str(job.id)), self.pool.eta(str(job.id))) for job in jobs]
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
            raise UserInputError(f"Job #{job_id} is gone: it was deleted or never existed.")
        if place is not None:
            here = {place.channel_id, place.rules_channel}
            if job.guild_id != place.guild_id or not ({job.channel_id, job.rules_channel_id} & here):
                raise UserInputError(f"Job #{job_id} belongs to another channel; use the buttons where it was made.")
        return job

    async def _image_at(self, job: Job, idx: int) -> ImageRecord:
        images = await images_of_job(self.db, job.id)
        if not images:
            raise UserInputError(f"Job #{job.id} has no images yet.")
        if not 0 <= idx < len(images):
            raise UserInputError(f"Job #{job.id} has images 1 to {len(images)}; there is no image {idx + 1}.")
        return images[idx]

    async def job_with_images(self, job_id: int, place: Place | None = None) -> tuple[Job, list[ImageRecord]]:
        """Return a job and its images, or raise `UserInputError` if there is no such job (here)."""
        job = await self.job_at(job_id, place, allow_deleted=True)
        return job, await images_of_job(self.db, job_id)

    async def grid_png(self, job: Job, images: list[ImageRecord]) -> bytes:
        """Return the PNG of a job's grid, with its parameters, built off the event loop."""
        pngs = [self.files.read(image.sha256) for image in images]

        def render() -> bytes:
            grid = make_grid([Image.open(io.BytesIO(png)).convert("RGB") for png in pngs])
            buffer = io.BytesIO()
            grid.save(buffer, format="PNG")
            return with_parameters(buffer.getvalue(), job.spec.facts(), None, {"job_id": job.id, "grid": True})

        return await asyncio.to_thread(render)

    # --- state changes ------------------------------------------------------------------------

    async def _mark_running(self, job_id: int) -> None:
        job = await get_job(self.db, job_id)
        if job is not None and job.state is JobState.QUEUED:
            await self._move(job, JobState.RUNNING, "job.started", payload={"attempt": job.attempts + 1})

    async def _store_result(self, queued: QueuedGeneration, result: GenerationResult) -> FinishedGeneration:
        # Files first (content-addressed, atomic), rows after: a crash between the two leaves an
        # unreferenced file, never a row that names a missing file.
        job = await get_job(self.db, queued.job_id)
        assert job is not None
        render = job.spec.render
        facts = job.spec.facts()
        init_sha, mask_sha = render.init_image_sha256, render.mask_sha256
        images = result.images

        def encode() -> tuple[list[bytes], list[tuple[int, int]]]:
            pngs = images
            if render.keep_unmasked and mask_sha and init_sha:
                pngs = [self._keep_unmasked(png, init_sha, mask_sha) for png in pngs]
            # Each file carries its own parameters (prompt, seed, ...) in PNG text chunks.
            pngs = [
                with_parameters(png, facts, seed, {"job_id": job.id, "idx": idx})
                for idx, (png, seed) in enumerate(zip(pngs, result.seeds, strict=True))
            ]
            return pngs, [Image.open(io.BytesIO(png)).size for png in pngs]

        pngs, sizes = await asyncio.to_thread(encode)
        hashes = [self.files.write(png) for png in pngs]
        journeys: list[str | None] = [self.files.write(gif, ".gif") for gif in result.journey_gifs]
        journeys += [None] * (len(hashes) - len(journeys))
        notes = list(queued.notes)
        if result.dropped_text:
            notes.append(f"Too long for the text encoder, so this part was left out: {result.dropped_text}")
        async with self.db.transaction() as conn:
            for idx, (sha256, seed, (width, height), journey) in enumerate(
                zip(hashes, result.seeds, sizes, journeys, strict=True)
            ):
                image_id = await insert_image(
                    conn,
                    job_id=job.id,
                    session_id=job.session_id,
                    prompt_id=job.prompt_id,
                    idx=idx,
                    seed=seed,
                    sha256=sha256,
                    width=width,
                    height=height,
                    journey_sha256=journey,
                )
                await append_event(
                    conn,
                    actor=SYSTEM,
                    kind="image.created",
                    guild_id=job.guild_id,
                    channel_id=job.channel_id,
                    session_id=job.session_id,
                    subject=("image", image_id),
                    payload={"job_id": job.id, "idx": idx, "seed": seed, "sha256": sha256, "journey_sha256": journey},
                )
            await transition_job(conn, job.id, JobState.GENERATED)
            await append_job_event(
                conn,
                job,
                "job.generated",
                {
                    "images": len(hashes),
                    "seconds": round(result.timings.get("total", 0.0), 3),
                    "dropped_text": result.dropped_text,
                    "notes": notes,
                },
            )
        done = await get_job(self.db, job.id)
        assert done is not None
        return FinishedGeneration(done, await images_of_job(self.db, job.id), tuple(notes))

    def _keep_unmasked(self, png: bytes, source_sha256: str, mask_sha256: str) -> bytes:
        """Return an inpainted image whose pixels outside the mask are the source's, exactly.

        The VAE round trip changes every pixel a little; a region edit promises that liked cells stay.
        """
        source = Image.open(io.BytesIO(self.files.read(source_sha256))).convert("RGB")
        mask = Image.open(io.BytesIO(self.files.read(mask_sha256))).convert("L")
        edited = Image.open(io.BytesIO(png)).convert("RGB")
        buffer = io.BytesIO()
        keep_outside(source, edited, mask).save(buffer, format="PNG")
        return buffer.getvalue()

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
        async with self.db.transaction() as conn:
            await transition_job(conn, job.id, state, error=error)
            await append_job_event(conn, job, event_kind, payload)
