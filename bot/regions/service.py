"""Regions: members mark lattice cells of a result as liked or disliked; the marks add up to a heatmap.

Plain async Python without Discord types. Each mark is a row (one per member and cell, so a member
changes or clears their own) and an event with its author. Edits built from the marks are
`PreparedGeneration`s for the job service; an inpaint keeps the unmasked pixels of its
source exactly (the service composites the result over the source before storing it).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace
from typing import Literal

from bot.catalogue import _
from bot.errors import UserInputError
from bot.imagine.composer import ImagineOptions, Lineage, PromptComposer, StartImage
from bot.jobs.service import JobService
from bot.jobs.spec import Feature, Origin, Place, PreparedGeneration, RegionEdit
from bot.regions.lattice import Cell, Lattice
from bot.regions.store import (
    LatticePost,
    count_marks_by,
    get_lattice_post,
    get_mode,
    latest_lattice_post,
    marks_on,
    record_lattice_post,
    set_mark,
    set_mode,
)
from bot.render.masks import net_scores
from bot.render.region_images import (
    cells_mask_png,
    combined_png,
    heatmap_pngs,
    lattice_grid_png,
    soft_mask_png,
)
from bot.store import Actor, record
from bot.store.images import ImageRecord, images_of_job
from bot.store.jobs import Job, get_job, job_event

MarkKind = Literal["like", "dislike", "clear"]


def check_image_number(job_id: int, number: int, count: int) -> None:
    """Raise `UserInputError` unless image `number` (1-based) is one of the job's `count` images."""
    if not 1 <= number <= count:
        raise UserInputError(
            _("Job #{job_id} has images 1 to {count}; there is no image {number}.").format(
                job_id=job_id, count=count, number=number
            )
        )


@dataclass(frozen=True)
class MarkOutcome:
    """What a marking step changed: how many cells, and the group's scores afterwards."""

    changed: int
    scores: dict[Cell, int]


class RegionService:
    """Return and change the marks on a job's images, and prepare edits from them."""

    def __init__(self, jobs: JobService, composer: PromptComposer, *, marks_per_member: int = 500) -> None:
        self.jobs = jobs
        self.composer = composer
        self.db = jobs.db
        # Cells one member may have marked in one session (a party, a channel's stream).
        self.marks_per_member = marks_per_member

    async def images(self, job_id: int, place: Place | None = None) -> tuple[Job, list[ImageRecord]]:
        """Return a job that can be marked (from `place`, when given) and its images, or raise saying why not."""
        job = await get_job(self.db, job_id)
        if job is None or job.deleted_at is not None:
            raise UserInputError(_("Job #{job_id} is gone: its images can no longer be marked.").format(job_id=job_id))
        if place is not None:
            await self.jobs.job_at(job_id, place)
        images = await images_of_job(self.db, job_id)
        if not images:
            raise UserInputError(_("Job #{job_id} has no images to mark yet.").format(job_id=job_id))
        return job, images

    async def mark(self, actor: Actor, job_id: int, cells: list[Cell], kind: MarkKind, lattice: Lattice) -> MarkOutcome:
        """Mark cells liked or disliked (or clear the actor's marks on them) and return the new scores."""
        if not cells:
            raise UserInputError(_("Choose at least one cell to mark."))
        job, images = await self.images(job_id)
        for cell in cells:
            check_image_number(job_id, cell.image, len(images))
        changed = 0
        async with record(self.db) as change:
            for cell in cells:
                image = images[cell.image - 1]
                previous = await set_mark(
                    change.conn,
                    session_id=job.session_id,
                    image_id=image.id,
                    author_id=actor.id,
                    rows=lattice.rows,
                    cols=lattice.cols,
                    row=cell.row,
                    col=cell.col,
                    mark=None if kind == "clear" else kind,
                )
                changed += previous != (None if kind == "clear" else kind)
            if kind != "clear" and await count_marks_by(change.conn, job.session_id, actor.id) > self.marks_per_member:
                # Raised inside the transaction: none of these marks is kept.
                raise UserInputError(
                    _(
                        "You have marked {marks_per_member} cells in this session, the most one member "
                        "may. Clear some (`/regions mark clear:A1-E5`) to mark others."
                    ).format(marks_per_member=self.marks_per_member)
                )
            change.log(
                job_event(
                    job,
                    "region.marked" if kind != "clear" else "region.cleared",
                    {
                        "mark": kind,
                        "cells": [cell.name() for cell in cells],
                        "image_ids": sorted({images[c.image - 1].id for c in cells}),
                        "lattice": [lattice.rows, lattice.cols],
                    },
                    actor=actor,
                )
            )
        return MarkOutcome(changed, await self.scores(job_id, lattice))

    async def mark_text(
        self, actor: Actor, job_id: int, lattice: Lattice, *, like: str = "", dislike: str = "", clear: str = ""
    ) -> MarkOutcome:
        """Mark cells named in text (`A1-B2`, `2:C4`) and return the new scores."""
        _unused, images = await self.images(job_id)
        parsed = {
            kind: lattice.parse(text, images=len(images))
            for kind, text in (("like", like), ("dislike", dislike), ("clear", clear))
            if text.strip()
        }
        if not parsed:
            raise UserInputError(_("Name cells to mark: like:A1-B2, dislike:2:C4 or clear:B3."))
        outcome = MarkOutcome(0, {})
        total = 0
        for kind, cells in parsed.items():
            outcome = await self.mark(actor, job_id, cells, kind, lattice)  # type: ignore[arg-type]
            total += outcome.changed
        return MarkOutcome(total, outcome.scores)

    async def scores(self, job_id: int, lattice: Lattice) -> dict[Cell, int]:
        """Return the group's net score per cell (+1 per like, -1 per dislike) over the job's images."""
        _unused, images = await self.images(job_id)
        number = {image.id: n for n, image in enumerate(images, start=1)}
        marks = await marks_on(self.db, list(number), lattice.rows, lattice.cols)
        return net_scores((Cell(number[m.image_id], m.row, m.col), 1 if m.mark == "like" else -1) for m in marks)

    async def heatmap_png(self, job_id: int, lattice: Lattice) -> bytes:
        """Return the job's images with the group's heatmap over each, as one PNG grid."""
        _unused, images = await self.images(job_id)
        scores = await self.scores(job_id, lattice)
        png, per_image = await asyncio.to_thread(heatmap_pngs, self._pngs(images), scores, lattice)
        each = {image.id: self.jobs.files.write(one) for image, one in zip(images, per_image, strict=True)}
        await self._record_heatmap(job_id, png, scores, lattice, each)
        return png

    async def _record_heatmap(
        self, job_id: int, png: bytes, scores: dict[Cell, int], lattice: Lattice, each: dict[int, str]
    ) -> None:
        """Keep a heatmap as a file and an event, so a gallery can show it next to the edits it led to."""
        job, _unused = await self.images(job_id)
        sha256 = self.jobs.files.write(png)
        async with record(self.db) as change:
            change.log(
                job_event(
                    job,
                    "region.heatmap",
                    {
                        "sha256": sha256,
                        # Each image's own heatmap, so a gallery shows it under that image only.
                        "images": {str(image_id): sha for image_id, sha in each.items()},
                        "lattice": [lattice.rows, lattice.cols],
                        "scores": {cell.name(): score for cell, score in sorted(scores.items()) if score},
                    },
                )
            )

    async def lattice_png(self, job_id: int, lattice: Lattice) -> bytes:
        """Return the job's images with the lattice drawn and labelled over each, and the heatmap so far."""
        _unused, images = await self.images(job_id)
        scores = await self.scores(job_id, lattice)
        return await asyncio.to_thread(lattice_grid_png, self._pngs(images), scores, lattice)

    async def record_lattice(self, job_id: int, message_id: str, channel_id: str, lattice: Lattice) -> None:
        """Remember a lattice message, so reactions and `/regions mark` find its job."""
        async with self.db.transaction() as conn:
            await record_lattice_post(
                conn, message_id=message_id, channel_id=channel_id, job_id=job_id, rows=lattice.rows, cols=lattice.cols
            )

    async def lattice_of_message(self, message_id: str) -> LatticePost | None:
        """Return the lattice a message shows, or None."""
        return await get_lattice_post(self.db, message_id)

    async def latest_lattice(self, channel_id: str) -> LatticePost:
        """Return the lattice opened last in a channel, or raise saying how to open one."""
        post = await latest_lattice_post(self.db, channel_id)
        if post is None:
            raise UserInputError(_("No result is open for marking here; press 🔲 Regions under a grid first."))
        return post

    async def set_mode(self, actor: Actor, job_id: int, mode: Literal["like", "dislike"]) -> None:
        """Set whether the actor's reactions and menu picks on a lattice mark cells liked or disliked."""
        async with self.db.transaction() as conn:
            await set_mode(conn, job_id=job_id, user_id=actor.id, mode=mode)

    async def mode_of(self, actor: Actor, job_id: int) -> str:
        """Return the actor's marking mode on a job's lattice."""
        return await get_mode(self.db, job_id, actor.id)

    async def regenerate_disliked(
        self, actor: Actor, place: Place, job_id: int, image_number: int, lattice: Lattice, prompt: str | None = None
    ) -> PreparedGeneration:
        """Return an inpaint of the cells the group dislikes on one image; liked and unmarked pixels stay."""
        job, images = await self.images(job_id, place)
        check_image_number(job_id, image_number, len(images))
        scores = await self.scores(job_id, lattice)
        disliked = [cell for cell, score in scores.items() if cell.image == image_number and score < 0]
        if not disliked:
            raise UserInputError(
                _("Nobody dislikes any cell of image {image_number} yet: mark some first.").format(
                    image_number=image_number
                )
            )
        return await self._inpaint(actor, place, job, images[image_number - 1], disliked, lattice, prompt, "regenerate")

    async def add_element(
        self,
        actor: Actor,
        place: Place,
        job_id: int,
        image_number: int,
        cells: list[Cell],
        lattice: Lattice,
        element: str,
    ) -> PreparedGeneration:
        """Return an inpaint that paints `element` ("a spaceship") into the chosen cells of one image."""
        job, image = await self._target(job_id, image_number, cells, place)
        element = _required_text(element, _("what to add, such as `a spaceship`"))
        prompt = f"{element}, {job.spec.user_prompt}"
        return await self._inpaint(actor, place, job, image, cells, lattice, prompt, "add-element")

    async def remove_element(
        self,
        actor: Actor,
        place: Place,
        job_id: int,
        image_number: int,
        cells: list[Cell],
        lattice: Lattice,
        element: str,
        background: str,
    ) -> PreparedGeneration:
        """Return an inpaint of the chosen cells with the background described and the element as the negative."""
        job, image = await self._target(job_id, image_number, cells, place)
        element = _required_text(element, _("what to remove"))
        background = _required_text(background, _("what should be there instead, such as `empty sky`"))
        return await self._inpaint(
            actor, place, job, image, cells, lattice, background, "remove-element", negative=element
        )

    async def embolden(
        self, actor: Actor, place: Place, job_id: int, image_number: int, lattice: Lattice, words: list[str]
    ) -> PreparedGeneration:
        """Return a variation that keeps the liked cells and redoes the rest, with the good words emphasised."""
        job, images = await self.images(job_id, place)
        check_image_number(job_id, image_number, len(images))
        scores = await self.scores(job_id, lattice)
        liked = {cell for cell, score in scores.items() if cell.image == image_number and score > 0}
        if not liked:
            raise UserInputError(
                _("Nobody likes any cell of image {image_number} yet: mark what to keep first.").format(
                    image_number=image_number
                )
            )
        rest = [cell for cell in lattice.cells(image_number) if cell not in liked]
        if not rest:
            raise UserInputError(_("Every cell is liked: there is nothing left to vary."))
        prompt = emphasise(job.spec.user_prompt, words)
        return await self._inpaint(actor, place, job, images[image_number - 1], rest, lattice, prompt, "embolden")

    async def soft_regenerate(
        self, actor: Actor, place: Place, job_id: int, image_number: int, lattice: Lattice
    ) -> PreparedGeneration:
        """Return an inpaint whose change per pixel follows the heatmap: strongest where most people dislike."""
        job, images = await self.images(job_id, place)
        check_image_number(job_id, image_number, len(images))
        scores = await self.scores(job_id, lattice)
        if not any(score < 0 for cell, score in scores.items() if cell.image == image_number):
            raise UserInputError(
                _("Nobody dislikes any cell of image {image_number} yet: mark some first.").format(
                    image_number=image_number
                )
            )
        image = images[image_number - 1]
        soft = soft_mask_png(scores, lattice, (image.width, image.height), image_number)
        cells = [cell for cell, score in scores.items() if cell.image == image_number and score < 0]
        return await self._inpaint(actor, place, job, image, cells, lattice, None, "soft-regenerate", mask=soft)

    async def combine(
        self, actor: Actor, place: Place, job_id: int, picks: list[Cell], lattice: Lattice, strength: float = 0.3
    ) -> PreparedGeneration:
        """Return one image made of cells picked from several images of a grid, seams harmonised by a light pass.

        The first pick's image is the base; every picked cell is taken from its own image, then an
        image-to-image pass at low strength blends the seams.
        """
        job, images = await self.images(job_id, place)
        if not picks:
            raise UserInputError(_("Pick cells from the images, such as `2:A1-D2, 3:C3-D4` (sky from 2, cat from 3)."))
        for cell in picks:
            check_image_number(job_id, cell.image, len(images))
        if len({cell.image for cell in picks}) < 2:
            raise UserInputError(_("Combining takes cells from at least two images."))
        pngs = dict(enumerate(self._pngs(images), start=1))
        base_number = picks[0].image
        composite_png = combined_png(pngs[base_number], {cell: pngs[cell.image] for cell in picks}, lattice)
        base = images[base_number - 1]
        sha = self.jobs.files.write(composite_png)
        options = replace(job.spec.options, seed=None, count=1)
        return await self.composer.compose(
            actor.id,
            place,
            options,
            feature=Feature.REGION_EDIT,
            origin=Origin.COMBINE,
            start=StartImage(sha, base.width, base.height, strength),
            lineage=Lineage(job.id, job.prompt_id, base.id),
            edit=RegionEdit(
                "combine",
                cells=tuple(cell.name() for cell in picks),
                combined_from=tuple(sorted({images[c.image - 1].id for c in picks})),
            ),
            session_id=job.session_id,  # an edit belongs to its source's session (a party's, say)
        )

    async def plan(
        self, actor: Actor, place: Place, options: ImagineOptions, plan: str, lattice: Lattice
    ) -> PreparedGeneration:
        """Return a text-to-image generation whose parts follow a region plan ("A1-D2: a stormy sky; ...").

        Each range becomes one box with its prompt; the whole prompt still shapes everything else.
        """
        regions = parse_plan(plan, lattice)
        return await self.composer.compose(
            actor.id,
            place,
            options,
            feature=Feature.REGION_EDIT,
            origin=Origin.REGIONAL_PLAN,
            regions=tuple(regions),
            edit=RegionEdit("plan", plan=plan),
        )

    async def _target(self, job_id: int, image_number: int, cells: list[Cell], place: Place) -> tuple[Job, ImageRecord]:
        job, images = await self.images(job_id, place)
        check_image_number(job_id, image_number, len(images))
        if not cells:
            raise UserInputError(_("Choose the cells to edit, such as `B2-C3`."))
        return job, images[image_number - 1]

    async def _inpaint(
        self,
        actor: Actor,
        place: Place,
        job: Job,
        image: ImageRecord,
        cells: list[Cell],
        lattice: Lattice,
        prompt: str | None,
        action: str,
        negative: str | None = None,
        mask: bytes | None = None,
    ) -> PreparedGeneration:
        if mask is None:
            mask = cells_mask_png(cells, lattice, (image.width, image.height))
        mask_sha = self.jobs.files.write(mask)
        options = replace(job.spec.options, seed=None, count=1)
        if prompt:
            options = replace(options, prompt=prompt)
        if negative is not None:
            options = replace(options, negative_prompt=negative)
        start = StartImage(image.sha256, image.width, image.height, 1.0, mask_sha256=mask_sha, keep_unmasked=True)
        return await self.composer.compose(
            actor.id,
            place,
            options,
            feature=Feature.REGION_EDIT,
            origin=Origin.INPAINT,
            start=start,
            lineage=Lineage(job.id, job.prompt_id, image.id),
            edit=RegionEdit(action, cells=tuple(c.name() for c in cells)),
            session_id=job.session_id,  # an edit belongs to its source's session (a party's, say)
        )

    def _pngs(self, images: list[ImageRecord]) -> list[bytes]:
        return [self.jobs.files.read(image.sha256) for image in images]


def emphasise(prompt: str, words: list[str], weight: float = 1.3) -> str:
    """Return the prompt with each good word weighted up in compel's syntax (`(word)1.3`); unknown words are added."""
    result = prompt
    for word in (w.strip() for w in words):
        if not word:
            continue
        pattern = re.compile(rf"(?<![\w(]){re.escape(word)}(?![\w)])", re.IGNORECASE)
        if pattern.search(result):
            result = pattern.sub(lambda match: f"({match.group(0)}){weight}", result, count=1)
        else:
            result = f"{result}, ({word}){weight}"
    return result


def _required_text(text: str, what: str) -> str:
    cleaned = " ".join(text.split())
    if not cleaned:
        raise UserInputError(_("Say {what}.").format(what=what))
    if len(cleaned) > 500:
        raise UserInputError(_("Keep it under 500 characters."))
    return cleaned


REGIONAL_INDICATORS = [chr(0x1F1E6 + n) for n in range(26)]  # 🇦 .. 🇿


def cell_for_indicator(emoji: str, lattice: Lattice) -> Cell | None:
    """Return the cell of image 1 that a regional-indicator reaction names (🇦 = A1, 🇧 = B1, ... row by row)."""
    if emoji not in REGIONAL_INDICATORS:
        return None
    index = REGIONAL_INDICATORS.index(emoji)
    if index >= lattice.rows * lattice.cols:
        return None
    return Cell(1, index // lattice.cols, index % lattice.cols)


def parse_plan(plan: str, lattice: Lattice) -> list[tuple[float, float, float, float, str]]:
    """Return the boxes and prompts of a region plan: `cells: prompt` parts separated by `;`."""
    regions: list[tuple[float, float, float, float, str]] = []
    parts = [part for part in plan.split(";") if part.strip()]
    if not parts:
        raise UserInputError(_("Write a plan as `A1-D2: a stormy sky; A3-D4: a calm sea`."))
    for part in parts:
        cells_text, colon, text = part.partition(":")
        text = " ".join(text.split())
        if not colon or not text:
            raise UserInputError(
                _("{strip!r} needs cells and a prompt, such as `A1-D2: a stormy sky`.").format(strip=part.strip())
            )
        for piece in cells_text.replace(",", " ").split():
            cells = lattice.parse(piece)
            rows = [cell.row for cell in cells]
            cols = [cell.col for cell in cells]
            regions.append(
                (
                    min(cols) / lattice.cols,
                    min(rows) / lattice.rows,
                    (max(cols) + 1) / lattice.cols,
                    (max(rows) + 1) / lattice.rows,
                    text,
                )
            )
    return regions
