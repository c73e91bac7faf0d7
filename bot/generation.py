"""The generation service: from a user's prompt to stored images and a grid, every step logged.

Plain async Python with no Discord types, so the cogs, the CLI and the demo share it. A job is
persisted (with its events) before anyone is told it is queued; images are written to disk before
the rows that name them are committed.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import math
import random
from dataclasses import asdict, dataclass, field, fields, replace

from PIL import Image

from bot.content_images import ContentImage
from bot.errors import GenerationFailedError, QueueFullError, ServiceStoppingError, UserInputError
from bot.png_metadata import with_parameters
from bot.prompt_composer import (
    MAX_PROMPT_CHARS,
    MAX_SEED,
    MAX_SIDE,
    VARIATION_STRENGTH,
    GenerationDefaults,
    ImagineOptions,
    Lineage,
    Place,
    PreparedGeneration,
    PromptComposer,
)
from bot.prompting.styles import StyleCatalog, default_style_catalog
from bot.prompting.wildcards import Wildcards
from bot.regions.masks import keep_outside
from bot.store import SYSTEM, Actor, Database, ImageFiles, append_event
from bot.store.images import ImageRecord, images_of_job, insert_image
from bot.store.jobs import (
    Job,
    JobState,
    active_jobs_of,
    append_job_event,
    count_active_jobs,
    get_job,
    insert_job,
    jobs_in_states,
    mark_job_deleted,
    set_reply_message,
    transition_job,
)
from bot.store.posts import PostKind, record_post
from bot.store.prompts import insert_prompt
from bot.store.sessions import open_stream
from bot.themes import DATA_DIR, ThemeService
from gpu_worker import GenerationPool, GenerationRequest, GenerationResult, JobHandle
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


@dataclass(frozen=True)
class QueueLimits:
    """How many active (queued or running) jobs one user, and everyone, may have."""

    per_user: int = 10
    total: int = 200


@dataclass
class QueuedGeneration:
    """A job that is persisted and handed to the pool."""

    job_id: int
    session_id: int
    prompt_id: int
    request: GenerationRequest
    handle: JobHandle = field(repr=False)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class FinishedGeneration:
    """A done job: its row, its image rows, the grid that shows them, and what to tell the user."""

    job: Job
    images: list[ImageRecord]
    grid_png: bytes
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueueStatus:
    """A user's active jobs (with their place in the queue and ETA) and the whole queue's length."""

    jobs: list[tuple[Job, int | None, float | None]]
    queue_length: int
    active_total: int


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
        )
        # Jobs of this process that have not ended, so a button can cancel them.
        self._live: dict[int, QueuedGeneration] = {}
        # Notified whenever a result message is recorded, so callers can wait for one without polling.
        self._posts_changed = asyncio.Condition()
        self._posted: set[str] = set()
        self._closing = False
        self._waiting: set[int] = set()
        self._all_settled = asyncio.Event()
        self._all_settled.set()

    async def prepare(
        self,
        actor: Actor,
        place: Place,
        options: ImagineOptions,
        *,
        content: ContentImage | None = None,
        lineage: Lineage | None = None,
    ) -> PreparedGeneration:
        """Return the checked request for `options`, or raise `UserInputError` naming the limit.

        Quick (a few reads of the store), so a cog can check input before it defers and refuse privately.
        """
        content_sha256 = hashlib.sha256(content.png).hexdigest() if content is not None else None
        return await self.composer.compose(
            actor.id, place, options, content=content, content_sha256=content_sha256, lineage=lineage
        )

    async def submit(self, actor: Actor, place: Place, prepared: PreparedGeneration) -> QueuedGeneration:
        """Persist a job for `prepared`, hand it to the pool and return it; raise if it cannot queue."""
        request = prepared.request
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
        if request.init_image is not None:
            # The content image's file first, then the rows that name it (resume and reroll read it back).
            self.files.write(request.init_image)
        lineage = prepared.lineage
        async with self.db.transaction() as conn:
            session_id = prepared.session_id or await open_stream(
                conn, guild_id=place.guild_id, channel_id=place.channel_id, actor=actor
            )
            prompt_id = await insert_prompt(
                conn,
                session_id=session_id,
                author_id=actor.id,
                text=request.prompt,
                negative_text=request.negative_prompt,
                parent_id=lineage.parent_prompt_id if lineage else None,
            )
            params = {**_request_params(request), **prepared.params()}
            job_id = await insert_job(
                conn,
                session_id=session_id,
                prompt_id=prompt_id,
                requester_id=actor.id,
                guild_id=place.guild_id,
                channel_id=place.channel_id,
                kind=request.kind,
                params=params,
                priority=request.priority,
                parent_job_id=lineage.parent_job_id if lineage else None,
                source_image_id=lineage.source_image_id if lineage else None,
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
        queued = QueuedGeneration(job_id, session_id, prompt_id, request, handle, prepared.notes)
        self._track(queued)
        return queued

    def _track(self, queued: QueuedGeneration) -> None:
        self._live[queued.job_id] = queued
        queued.handle.add_done_callback(lambda _: self._live.pop(queued.job_id, None))

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
            try:
                request = self._request_of(job)
                handle = await self.pool.submit(str(job.id), request)
            except (ValueError, OSError) as exc:
                await self._finish_failed(job.id, f"could not resume: {exc}")
                continue
            async with self.db.transaction() as conn:
                await append_job_event(conn, job, "job.resumed")
            queued = QueuedGeneration(job.id, job.session_id, job.prompt_id, request, handle)
            self._track(queued)
            resumed.append(queued)
        if resumed:
            log.info("resumed %d unfinished jobs", len(resumed))
        return resumed

    def _request_of(self, job: Job) -> GenerationRequest:
        """Return the request stored with a job, its init image read back from the files."""
        values = {name: value for name, value in job.params.items() if name in _REQUEST_FIELDS}
        values["seeds"] = tuple(job.params["seeds"])
        # JSON keeps tuples as lists; the scheduler hashes regions to batch alike jobs together.
        values["regions"] = tuple(tuple(region) for region in job.params.get("regions", ()))
        sha256 = job.params.get("init_image_sha256")
        if sha256:
            values["init_image"] = self.files.read(sha256)
        mask_sha256 = job.params.get("mask_sha256")
        if mask_sha256:
            values["mask_image"] = self.files.read(mask_sha256)
        return GenerationRequest(**values)

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
        job = await self._visible_job(job_id)
        options = ImagineOptions.from_json(job.params.get("options") or {"prompt": job.params["prompt"]})
        action = "reroll"
        if prompt is not None or negative_prompt is not None:
            action = "remix"
            options = replace(
                options,
                prompt=options.prompt if prompt is None else prompt,
                negative_prompt=options.negative_prompt if negative_prompt is None else negative_prompt,
            )
        options = replace(options, seed=None)
        content = None
        sha256 = job.params.get("init_image_sha256")
        if sha256:
            from bot.content_images import load_content_image

            content = load_content_image("the content image", self.files.read(sha256))
        lineage = Lineage(action, job.id, job.prompt_id, job.source_image_id)
        return await self.prepare(actor, place, options, content=content, lineage=lineage)

    async def vary(self, actor: Actor, place: Place, job_id: int, idx: int) -> PreparedGeneration:
        """Return variations of one image of a job: image-to-image from it at low strength, new seeds."""
        job = await self._visible_job(job_id)
        image = await self._image_at(job, idx)
        parent = self._request_of(job)
        await self.themes.check_blocklist(place.guild_id, parent.prompt, parent.negative_prompt)
        count = len(parent.seeds)
        first_seed = random.randint(0, MAX_SEED - count)
        request = replace(
            parent,
            kind="img2img",
            seeds=tuple(first_seed + i for i in range(count)),
            init_image=self.files.read(image.sha256),
            mask_image=None,
            strength=VARIATION_STRENGTH,
            steps=max(parent.steps, math.ceil(1 / VARIATION_STRENGTH)),
            width=image.width,
            height=image.height,
            requester=actor.id,
            session=f"channel:{place.channel_id}",
        )
        options = ImagineOptions.from_json(job.params.get("options") or {"prompt": job.params["prompt"]})
        return PreparedGeneration(
            request=request,
            options=replace(options, seed=None, strength=VARIATION_STRENGTH),
            user_prompt=str(job.params.get("user_prompt", parent.prompt)),
            style=job.params.get("style"),
            theme=job.params.get("theme"),
            lineage=Lineage("variation", job.id, job.prompt_id, image.id),
            init_image_sha256=image.sha256,
            extra={"varied_from": {"job_id": job.id, "idx": idx, "seed": image.seed}},
        )

    async def pick(self, actor: Actor, job_id: int, idx: int) -> tuple[Job, ImageRecord, bytes]:
        """Return one image of a job at full size (its PNG, with parameters), logging who picked it."""
        job = await self._visible_job(job_id)
        image = await self._image_at(job, idx)
        async with self.db.transaction() as conn:
            payload = {"job_id": job.id, "idx": idx, "seed": image.seed}
            await append_job_event(conn, job, "image.picked", payload, actor=actor, subject=("image", image.id))
        return job, image, self.files.read(image.sha256)

    async def delete(self, actor: Actor, job_id: int, *, may_moderate: bool) -> Job:
        """Hide a job (requester or moderator only) and return it; its history stays in the store."""
        job = await self._visible_job(job_id)
        if actor.id != job.requester_id and not may_moderate:
            raise UserInputError("Only the person who asked for these images, or a moderator, can delete them.")
        async with self.db.transaction() as conn:
            await mark_job_deleted(conn, job.id)
            await append_job_event(
                conn, job, "job.deleted", {"by_moderator": actor.id != job.requester_id}, actor=actor
            )
        return job

    async def cancel(self, actor: Actor, job_id: int, *, may_moderate: bool) -> bool:
        """Stop a queued or running job (requester or moderator only); return False if it had ended."""
        job = await get_job(self.db, job_id)
        if job is None:
            raise UserInputError(f"There is no job #{job_id}.")
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
        """Return the caller's active jobs with position and ETA, and how long the queue is."""
        jobs = await active_jobs_of(self.db, actor.id)
        rows = [(job, self.pool.position(str(job.id)), self.pool.eta(str(job.id))) for job in jobs]
        return QueueStatus(rows, self.pool.queue_length(), await count_active_jobs(self.db))

    async def record_post(
        self, job_id: int, message_id: str, channel_id: str, kind: PostKind, image_id: int | None = None
    ) -> None:
        """Remember a message that shows a job (its grid) or one image of it, so reactions find them."""
        async with self.db.transaction() as conn:
            await record_post(
                conn, message_id=message_id, channel_id=channel_id, job_id=job_id, kind=kind, image_id=image_id
            )
            if kind == "grid":
                await set_reply_message(conn, job_id, message_id)
        async with self._posts_changed:
            self._posted.add(message_id)
            self._posts_changed.notify_all()

    async def wait_for_post(self, message_id: str) -> None:
        """Return once this process has recorded the result message `message_id`."""
        async with self._posts_changed:
            await self._posts_changed.wait_for(lambda: message_id in self._posted)

    async def _visible_job(self, job_id: int) -> Job:
        job = await get_job(self.db, job_id)
        if job is None or job.deleted_at is not None:
            raise UserInputError(f"Job #{job_id} is gone: it was deleted or never existed.")
        return job

    async def _image_at(self, job: Job, idx: int) -> ImageRecord:
        images = await images_of_job(self.db, job.id)
        if not 0 <= idx < len(images):
            raise UserInputError(f"Job #{job.id} has images 1 to {len(images)}; there is no image {idx + 1}.")
        return images[idx]

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
        job = await get_job(self.db, queued.job_id)
        assert job is not None
        images = result.images
        if job.params.get("keep_unmasked") and job.params.get("mask_sha256") and job.params.get("init_image_sha256"):
            images = [
                self._keep_unmasked(png, job.params["init_image_sha256"], job.params["mask_sha256"]) for png in images
            ]
        # Each file carries its own parameters (prompt, seed, ...) in PNG text chunks.
        pngs = [
            with_parameters(png, job.params, seed, {"job_id": job.id, "idx": idx})
            for idx, (png, seed) in enumerate(zip(images, result.seeds, strict=True))
        ]
        decoded = [Image.open(io.BytesIO(png)) for png in pngs]
        hashes = [self.files.write(png) for png in pngs]
        journeys: list[str | None] = [self.files.write(gif, ".gif") for gif in result.journey_gifs]
        journeys += [None] * (len(hashes) - len(journeys))
        notes = list(queued.notes)
        if result.dropped_text:
            notes.append(f"Too long for the text encoder, so this part was left out: {result.dropped_text}")
        async with self.db.transaction() as conn:
            for idx, (sha256, seed, image, journey) in enumerate(
                zip(hashes, result.seeds, decoded, journeys, strict=True)
            ):
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
            await transition_job(conn, job.id, JobState.DONE)
            await append_job_event(
                conn,
                job,
                "job.done",
                {
                    "images": len(hashes),
                    "seconds": round(result.timings.get("total", 0.0), 3),
                    "dropped_text": result.dropped_text,
                },
            )
        grid = make_grid([image.convert("RGB") for image in decoded])
        buffer = io.BytesIO()
        grid.save(buffer, format="PNG")
        grid_png = with_parameters(buffer.getvalue(), job.params, None, {"job_id": job.id, "grid": True})
        done = await get_job(self.db, job.id)
        assert done is not None
        return FinishedGeneration(done, await images_of_job(self.db, job.id), grid_png, tuple(notes))

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


_REQUEST_FIELDS = frozenset(field.name for field in fields(GenerationRequest))


def _request_params(request: GenerationRequest) -> dict[str, object]:
    """Return the JSON-safe parameters of a request (images are stored elsewhere, not inline)."""
    params = asdict(request)
    for key in ("init_image", "mask_image"):
        params.pop(key, None)
    params["seeds"] = list(request.seeds)
    return params
