"""Storing a generated job: its PNG files (with parameters), image rows, events and the job's new state."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.catalogue import _
from bot.render.masks import keep_outside_png
from bot.render.png_metadata import png_size, with_parameters
from bot.store import SYSTEM, Database, EventDraft, ImageFiles, record
from bot.store.images import ImageRecord, images_of_job, insert_image
from bot.store.jobs import Job, JobState, get_job, job_event, transition_job
from gpu_worker import GenerationResult


@dataclass(frozen=True)
class FinishedGeneration:
    """A generated job: its row, its image rows and what to tell the user."""

    job: Job
    images: list[ImageRecord]
    notes: tuple[str, ...] = ()


async def store_result(
    db: Database, files: ImageFiles, job: Job, result: GenerationResult, notes: tuple[str, ...]
) -> FinishedGeneration:
    """Store a job's generated images and mark it generated; return the stored job and images.

    Files first (content-addressed, atomic), rows after: a crash between the two leaves an
    unreferenced file, never a row that names a missing file.
    """
    render = job.spec.render
    facts = job.spec.facts()
    init_sha, mask_sha = render.init_image_sha256, render.mask_sha256
    keep = (files.read(init_sha), files.read(mask_sha)) if render.keep_unmasked and mask_sha and init_sha else None

    def encode() -> tuple[list[bytes], list[tuple[int, int]]]:
        pngs = result.images
        if keep is not None:
            pngs = [keep_outside_png(keep[0], png, keep[1]) for png in pngs]
        # Each file carries its own parameters (prompt, seed, ...) in PNG text chunks.
        pngs = [
            with_parameters(png, facts, seed, {"job_id": job.id, "idx": idx})
            for idx, (png, seed) in enumerate(zip(pngs, result.seeds, strict=True))
        ]
        return pngs, [png_size(png) for png in pngs]

    pngs, sizes = await asyncio.to_thread(encode)
    hashes = [files.write(png) for png in pngs]
    journeys: list[str | None] = [files.write(gif, ".gif") for gif in result.journey_gifs]
    journeys += [None] * (len(hashes) - len(journeys))
    told = list(notes)
    if result.dropped_text:
        told.append(
            _("Too long for the text encoder, so this part was left out: {dropped_text}").format(
                dropped_text=result.dropped_text
            )
        )
    async with record(db) as change:
        for idx, (sha256, seed, (width, height), journey) in enumerate(
            zip(hashes, result.seeds, sizes, journeys, strict=True)
        ):
            image_id = await insert_image(
                change.conn,
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
            change.log(
                EventDraft(
                    actor=SYSTEM,
                    kind="image.created",
                    guild_id=job.guild_id,
                    channel_id=job.channel_id,
                    session_id=job.session_id,
                    subject=("image", image_id),
                    payload={"job_id": job.id, "idx": idx, "seed": seed, "sha256": sha256, "journey_sha256": journey},
                )
            )
        await transition_job(change.conn, job.id, JobState.GENERATED)
        change.log(
            job_event(
                job,
                "job.generated",
                {
                    "images": len(hashes),
                    "seconds": round(result.timings.get("total", 0.0), 3),
                    "dropped_text": result.dropped_text,
                    "notes": told,
                },
            )
        )
    done = await get_job(db, job.id)
    assert done is not None
    return FinishedGeneration(done, await images_of_job(db, job.id), tuple(told))
