"""The generation service: from a user's prompt to stored images and a grid, every step logged.

Plain async Python with no Discord types, so the cogs, the CLI and the demo share it. A job is
persisted (with its events) before anyone is told it is queued; images are written to disk before
the rows that name them are committed.
"""

from __future__ import annotations

import asyncio
import io
import logging
import random
from dataclasses import asdict, dataclass, field, fields

import aiosqlite
from PIL import Image

from bot.errors import GenerationFailedError, QueueFullError, ServiceStoppingError, UserInputError
from bot.store import SYSTEM, Actor, Database, ImageFiles, append_event
from bot.store.images import ImageRecord, images_of_job, insert_image
from bot.store.jobs import (
    Job,
    JobState,
    count_active_jobs,
    get_job,
    insert_job,
    jobs_in_states,
    set_reply_message,
    transition_job,
)
from bot.store.prompts import insert_prompt
from bot.store.sessions import open_stream
from gpu_worker import GenerationPool, GenerationRequest, GenerationResult, JobHandle
from gpu_worker.grid import make_grid

log = logging.getLogger(__name__)

MAX_PROMPT_CHARS = 1000
MAX_SEED = 2**32 - 1
MAX_SIDE = 2048


@dataclass(frozen=True)
class GenerationDefaults:
    """The parameters a generation takes when the user does not choose them."""

    model: str = "tiny"
    width: int = 512
    height: int = 512
    steps: int = 25
    guidance: float = 7.0
    scheduler: str = "euler"
    count: int = 4
    max_count: int = 9


@dataclass(frozen=True)
class QueueLimits:
    """How many active (queued or running) jobs one user, and everyone, may have."""

    per_user: int = 10
    total: int = 200


@dataclass(frozen=True)
class Place:
    """Where on Discord a generation was asked for."""

    guild_id: str | None
    channel_id: str


@dataclass(frozen=True)
class ImagineOptions:
    """What a user asked for; None means "the default"."""

    prompt: str
    negative_prompt: str = ""
    seed: int | None = None
    count: int | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None


@dataclass
class QueuedGeneration:
    """A job that is persisted and handed to the pool."""

    job_id: int
    session_id: int
    prompt_id: int
    request: GenerationRequest
    handle: JobHandle = field(repr=False)


@dataclass(frozen=True)
class FinishedGeneration:
    """A done job: its row, its image rows and the grid that shows them."""

    job: Job
    images: list[ImageRecord]
    grid_png: bytes


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
    ) -> None:
        self.db = db
        self.files = files
        self.pool = pool
        self.defaults = defaults or GenerationDefaults()
        self.limits = limits or QueueLimits()
        self._closing = False
        self._waiting: set[int] = set()
        self._all_settled = asyncio.Event()
        self._all_settled.set()

    def prepare(self, actor: Actor, place: Place, options: ImagineOptions) -> GenerationRequest:
        """Return the generation request for `options`, or raise `UserInputError` naming the limit.

        Pure and quick, so a cog can check input before it defers and refuse privately.
        """
        prompt = options.prompt.strip()
        if not prompt:
            raise UserInputError("The prompt is empty: describe the image you want.")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise UserInputError(f"The prompt has {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}.")
        if len(options.negative_prompt) > MAX_PROMPT_CHARS:
            raise UserInputError(f"The negative prompt is limited to {MAX_PROMPT_CHARS} characters.")
        count = self.defaults.count if options.count is None else options.count
        if not 1 <= count <= self.defaults.max_count:
            raise UserInputError(f"You asked for {count} images; choose 1 to {self.defaults.max_count}.")
        if options.seed is not None and not 0 <= options.seed <= MAX_SEED:
            raise UserInputError(f"The seed must be between 0 and {MAX_SEED}.")
        width = options.width or self.defaults.width
        height = options.height or self.defaults.height
        for name, side in (("width", width), ("height", height)):
            if not 64 <= side <= MAX_SIDE or side % 8:
                raise UserInputError(f"The {name} is {side}; use a multiple of 8 from 64 to {MAX_SIDE}.")
        steps = options.steps or self.defaults.steps
        if not 1 <= steps <= 150:
            raise UserInputError(f"You asked for {steps} steps; choose 1 to 150.")
        guidance = self.defaults.guidance if options.guidance is None else options.guidance
        if not 0.0 <= guidance <= 30.0:
            raise UserInputError(f"The guidance is {guidance}; choose 0 to 30.")
        # Seeds are consecutive from the first, so "seed 42, image 3" is easy to reproduce alone.
        first_seed = random.randint(0, MAX_SEED - count) if options.seed is None else options.seed
        seeds = tuple((first_seed + i) % (MAX_SEED + 1) for i in range(count))
        return GenerationRequest(
            kind="txt2img",
            prompt=prompt,
            negative_prompt=options.negative_prompt.strip(),
            seeds=seeds,
            width=width,
            height=height,
            steps=steps,
            guidance=guidance,
            scheduler=self.defaults.scheduler,
            model=self.defaults.model,
            requester=actor.id,
            # Fair shares are per channel: one party thread or one themed channel is one session.
            session=f"channel:{place.channel_id}",
        )

    async def submit(self, actor: Actor, place: Place, request: GenerationRequest) -> QueuedGeneration:
        """Persist a job for `request`, hand it to the pool and return it; raise if it cannot queue."""
        if self._closing:
            raise ServiceStoppingError("Salon is restarting; please ask again in a minute.")
        if await count_active_jobs(self.db, actor.id) >= self.limits.per_user:
            raise QueueFullError(
                f"You already have {self.limits.per_user} generations waiting or running; "
                "wait for one to finish before asking for more."
            )
        if await count_active_jobs(self.db) >= self.limits.total:
            raise QueueFullError(
                f"Salon's queue is full ({self.limits.total} generations); please try again in a minute."
            )
        async with self.db.transaction() as conn:
            session_id = await open_stream(conn, guild_id=place.guild_id, channel_id=place.channel_id, actor=actor)
            prompt_id = await insert_prompt(
                conn,
                session_id=session_id,
                author_id=actor.id,
                text=request.prompt,
                negative_text=request.negative_prompt,
            )
            params = _request_params(request)
            job_id = await insert_job(
                conn,
                session_id=session_id,
                prompt_id=prompt_id,
                requester_id=actor.id,
                guild_id=place.guild_id,
                channel_id=place.channel_id,
                kind=request.kind,
                params=params,
            )
            await append_event(
                conn,
                actor=actor,
                kind="job.queued",
                guild_id=place.guild_id,
                channel_id=place.channel_id,
                session_id=session_id,
                subject=("job", job_id),
                payload={"prompt_id": prompt_id, **params},
            )
        try:
            handle = await self.pool.submit(str(job_id), request)
        except Exception as exc:
            await self._finish_failed(job_id, f"the generation pool refused the job: {exc}")
            raise GenerationFailedError(f"Salon could not queue this generation: {exc}") from exc
        log.info("job %s queued in session %s", job_id, session_id)
        return QueuedGeneration(job_id, session_id, prompt_id, request, handle)

    async def wait(self, queued: QueuedGeneration) -> FinishedGeneration:
        """Await a queued job, store its images and return them with their grid."""
        self._waiting.add(queued.job_id)
        self._all_settled.clear()
        try:
            return await self._wait(queued)
        finally:
            self._waiting.discard(queued.job_id)
            if not self._waiting:
                self._all_settled.set()

    async def _wait(self, queued: QueuedGeneration) -> FinishedGeneration:
        await self._mark_running(queued.job_id)
        try:
            result = await queued.handle.result()
        except Exception as exc:
            if self._closing:
                # The pool stopped under the job: it stays in the store and is requeued by shutdown().
                raise ServiceStoppingError(
                    f"Salon is restarting; job #{queued.job_id} is kept and will run when it is back."
                ) from exc
            message = str(exc) or type(exc).__name__
            state = JobState.CANCELLED if queued.handle.state == "cancelled" else JobState.FAILED
            await self._finish_failed(queued.job_id, message, state=state)
            raise GenerationFailedError(f"The generation did not finish: {message}") from exc
        return await self._store_result(queued, result)

    async def shutdown(self, grace_seconds: float = 10.0) -> None:
        """Stop taking jobs, stop the pool and put every unfinished job back in the queue, logged.

        Nothing is lost: a job that was running when Salon stopped is `queued` again in the store,
        with a `job.suspended` event, so the next start can run it.
        """
        self._closing = True
        await self.pool.close()
        try:
            await asyncio.wait_for(self._all_settled.wait(), grace_seconds)
        except TimeoutError:
            log.warning("jobs %s were still settling at shutdown", sorted(self._waiting))
        for job in await jobs_in_states(self.db, (JobState.RUNNING,)):
            await self._move(job, JobState.QUEUED, "job.suspended", payload={"reason": "shutdown"})

    async def resume_pending(self) -> list[QueuedGeneration]:
        """Hand every unfinished job in the store to the pool again, oldest first, and return them.

        Called once at start-up: jobs queued before a restart (or running when the process died)
        run now instead of being lost. Each is logged as `job.resumed`.
        """
        resumed = []
        for job in await jobs_in_states(self.db, (JobState.QUEUED, JobState.RUNNING)):
            if job.state is JobState.RUNNING:
                await self._move(job, JobState.QUEUED, "job.suspended", payload={"reason": "process ended"})
            fields = {name: value for name, value in job.params.items() if name in _REQUEST_FIELDS}
            request = GenerationRequest(**{**fields, "seeds": tuple(job.params["seeds"])})
            try:
                handle = await self.pool.submit(str(job.id), request)
            except ValueError as exc:
                await self._finish_failed(job.id, f"could not resume: {exc}")
                continue
            async with self.db.transaction() as conn:
                await _log_job_event(conn, job, "job.resumed")
            resumed.append(QueuedGeneration(job.id, job.session_id, job.prompt_id, request, handle))
        if resumed:
            log.info("resumed %d unfinished jobs", len(resumed))
        return resumed

    async def record_reply(self, job_id: int, message_id: str) -> None:
        """Remember the Discord message that shows a job, so later steps can find it."""
        async with self.db.transaction() as conn:
            await set_reply_message(conn, job_id, message_id)

    async def job_with_images(self, job_id: int) -> tuple[Job, list[ImageRecord]]:
        """Return a job and its images, or raise `UserInputError` if there is no such job."""
        job = await get_job(self.db, job_id)
        if job is None:
            raise UserInputError(f"There is no job #{job_id}; it may have been removed.")
        return job, await images_of_job(self.db, job_id)

    async def _mark_running(self, job_id: int) -> None:
        job = await get_job(self.db, job_id)
        if job is not None and job.state is JobState.QUEUED:
            await self._move(job, JobState.RUNNING, "job.started")

    async def _store_result(self, queued: QueuedGeneration, result: GenerationResult) -> FinishedGeneration:
        # Files first (content-addressed, atomic), rows after: a crash between the two leaves an
        # unreferenced file, never a row that names a missing file.
        decoded = [Image.open(io.BytesIO(png)) for png in result.images]
        hashes = [self.files.write(png) for png in result.images]
        job = await get_job(self.db, queued.job_id)
        assert job is not None
        async with self.db.transaction() as conn:
            for idx, (sha256, seed, image) in enumerate(zip(hashes, result.seeds, decoded, strict=True)):
                image_id = await insert_image(
                    conn,
                    job_id=job.id,
                    session_id=job.session_id,
                    prompt_id=job.prompt_id,
                    idx=idx,
                    seed=seed,
                    sha256=sha256,
                    width=image.width,
                    height=image.height,
                )
                await append_event(
                    conn,
                    actor=SYSTEM,
                    kind="image.created",
                    guild_id=job.guild_id,
                    channel_id=job.channel_id,
                    session_id=job.session_id,
                    subject=("image", image_id),
                    payload={"job_id": job.id, "idx": idx, "seed": seed, "sha256": sha256},
                )
            await transition_job(conn, job.id, JobState.DONE)
            await _log_job_event(
                conn, job, "job.done", {"images": len(hashes), "seconds": round(result.timings.get("total", 0.0), 3)}
            )
        grid = make_grid([image.convert("RGB") for image in decoded])
        buffer = io.BytesIO()
        grid.save(buffer, format="PNG")
        done = await get_job(self.db, job.id)
        assert done is not None
        return FinishedGeneration(done, await images_of_job(self.db, job.id), buffer.getvalue())

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
            await _log_job_event(conn, job, event_kind, payload)


async def _log_job_event(
    conn: aiosqlite.Connection, job: Job, kind: str, payload: dict[str, object] | None = None
) -> None:
    """Append an event by Salon itself about a job, placed where the job is."""
    await append_event(
        conn,
        actor=SYSTEM,
        kind=kind,
        guild_id=job.guild_id,
        channel_id=job.channel_id,
        session_id=job.session_id,
        subject=("job", job.id),
        payload=payload,
    )


_REQUEST_FIELDS = frozenset(field.name for field in fields(GenerationRequest))


def _request_params(request: GenerationRequest) -> dict[str, object]:
    """Return the JSON-safe parameters of a request (images are stored elsewhere, not inline)."""
    params = asdict(request)
    for key in ("init_image", "mask_image"):
        params.pop(key, None)
    params["seeds"] = list(request.seeds)
    return params
