"""/imagine's own actions: compose a fresh grid, reroll or remix one, vary an image, pick one at full size."""

from __future__ import annotations

import random
from dataclasses import replace

from bot.catalogue import _
from bot.imagine.composer import MAX_SEED, VARIATION_STRENGTH, PromptComposer, StartImage
from bot.imagine.content_images import ContentImage, load_content_image
from bot.jobs.service import JobService
from bot.jobs.spec import ImagineOptions, Lineage, Origin, Place, PreparedGeneration
from bot.store import Actor, record
from bot.store.images import ImageRecord
from bot.store.jobs import Job, job_event


class ImagineService:
    """Turn what a member asks for into prepared generations; `JobService` runs them."""

    def __init__(self, jobs: JobService, composer: PromptComposer) -> None:
        self.jobs = jobs
        self.composer = composer

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
        job = await self.jobs.job_at(job_id, place)
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
            content = load_content_image(_("the content image"), self.jobs.files.read(job.spec.content_sha256))
        lineage = Lineage(job.id, job.prompt_id, job.source_image_id)
        return await self.composer.compose(actor.id, place, options, content=content, lineage=lineage, origin=origin)

    async def vary(self, actor: Actor, place: Place, job_id: int, idx: int) -> PreparedGeneration:
        """Return variations of one image of a job: image-to-image from it at low strength, new seeds."""
        job = await self.jobs.job_at(job_id, place)
        image = await self.jobs.image_at(job, idx)
        count = len(job.spec.render.seeds)
        start = StartImage(image.sha256, image.width, image.height, VARIATION_STRENGTH)
        options = replace(job.spec.options, seed=random.randint(0, MAX_SEED - count), count=count)
        lineage = Lineage(job.id, job.prompt_id, image.id, source_idx=idx, source_seed=image.seed)
        return await self.composer.compose(
            actor.id, place, options, start=start, lineage=lineage, origin=Origin.VARIATION
        )

    async def inspired_by(self, actor: Actor, place: Place, job_id: int, idx: int, prompt: str) -> PreparedGeneration:
        """Return a new grid for `prompt` that starts from image `idx` of a job (image-to-image)."""
        job = await self.jobs.job_at(job_id, place)
        image = await self.jobs.image_at(job, idx)
        content = load_content_image(_("the inspiration"), self.jobs.files.read(image.sha256))
        lineage = Lineage(job.id, job.prompt_id, image.id, source_idx=idx, source_seed=image.seed)
        return await self.composer.compose(
            actor.id, place, ImagineOptions(prompt), content=content, lineage=lineage, origin=Origin.INSPIRED
        )

    async def pick(self, actor: Actor, place: Place, job_id: int, idx: int) -> tuple[Job, ImageRecord, bytes]:
        """Return one image of a job at full size (its PNG, with parameters), logging who picked it."""
        job = await self.jobs.job_at(job_id, place)
        image = await self.jobs.image_at(job, idx)
        async with record(self.jobs.db) as change:
            payload = {"job_id": job.id, "idx": idx, "seed": image.seed}
            change.log(job_event(job, "image.picked", payload, actor=actor, subject=("image", image.id)))
        return job, image, self.jobs.files.read(image.sha256)
