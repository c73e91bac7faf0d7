"""How a grid is shown and described: its text, Info, the reproduce command, and the grid presenter.

Channel grids (`/imagine`, U/V, reroll, remix, reactions) and region edits are presented here;
party rounds have their own presenter in `cogs.parties.commands`. Delivery itself is `cogs.kit.delivery`'s.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.catalogue import _
from bot.store.images import ImageRecord
from bot.store.jobs import Job, JobState
from cogs.imagine.views import result_view
from cogs.kit.delivery import Presentation, failure_marker, result_marker

if TYPE_CHECKING:
    from bot.client import SalonBot

log = logging.getLogger(__name__)


def _escape(text: str) -> str:
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def describe_result(job: Job, images: list[ImageRecord], requester_mention: str, notes: tuple[str, ...] = ()) -> str:
    """Return the text posted with a grid: the prompt, who asked, the seed of each cell, and notes."""
    spec, render = job.spec, job.spec.render
    seeds = ", ".join(f"{i + 1}: `{image.seed}`" for i, image in enumerate(images))
    text = f"**{_escape(render.prompt)}** — {requester_mention}"
    if render.negative_prompt:
        text += "\n" + _("without: {negative}").format(negative=_escape(render.negative_prompt))
    if spec.lineage is not None:
        text += _("\n{action} of job #{parent_job_id}").format(
            action=spec.action, parent_job_id=spec.lineage.parent_job_id
        )
    text += _("\n{width}×{height}, {steps} steps, guidance {guidance:g}").format(
        width=render.width, height=render.height, steps=render.steps, guidance=render.guidance
    )
    text += _(", {scheduler}, model `{model}`\nseeds {seeds}").format(
        scheduler=render.scheduler, model=render.model, seeds=seeds
    )
    for note in notes:
        text += f"\n⚠️ {_escape(note)}"
    return text[:2000]


def reproduce_command(job: Job) -> str:
    """Return a /imagine command that makes the same grid again in the same channel."""
    spec, render = job.spec, job.spec.render
    parts = [_("/imagine prompt:{prompt}").format(prompt=spec.options.prompt)]
    if spec.options.negative_prompt:
        parts.append(f"negative:{spec.options.negative_prompt}")
    parts += [
        f"seed:{render.seeds[0]}",
        f"count:{len(render.seeds)}",
        f"width:{render.width}",
        f"height:{render.height}",
        f"steps:{render.steps}",
        f"guidance:{render.guidance:g}",
    ]
    if spec.style:
        parts.append(f"style:{spec.style}")
    parts.append(f"model:{render.model}")
    if render.kind == "img2img":
        parts.append(_("strength:{strength:g} image:(the same content image)").format(strength=render.strength))
    return " ".join(parts)


def describe_info(job: Job, images: list[ImageRecord]) -> str:
    """Return every parameter of a job, each image's seed and a command that reproduces it."""
    spec, render = job.spec, job.spec.render
    lines = [
        _("**Job #{id}** by <@{requester_id}> — {value}, {kind} ({action})").format(
            id=job.id, requester_id=job.requester_id, value=job.state.value, kind=job.kind, action=spec.action
        )
    ]
    lines.append(_("Prompt: {prompt}").format(prompt=_escape(render.prompt)))
    if spec.user_prompt != render.prompt:
        lines.append(_("As typed: {user_prompt}").format(user_prompt=_escape(spec.user_prompt)))
    if render.negative_prompt:
        lines.append(_("Negative: {negative}").format(negative=_escape(render.negative_prompt)))
    facts = [
        _("size {width}×{height}").format(width=render.width, height=render.height),
        _("steps {steps}").format(steps=render.steps),
        _("guidance {guidance:g}").format(guidance=render.guidance),
        _("scheduler {scheduler}").format(scheduler=render.scheduler),
        _("model `{model}`").format(model=render.model),
    ]
    if spec.style:
        facts.append(_("style {style}").format(style=spec.style))
    if spec.theme:
        facts.append(_("theme {theme}").format(theme=_escape(spec.theme)))
    if spec.wildcards:
        facts.append(_("wildcards {names}").format(names=", ".join(f"`__{name}__`" for name in spec.wildcards)))
    if render.kind != "txt2img":
        facts.append(_("strength {strength:g}").format(strength=render.strength))
    lines.append(", ".join(facts))
    if spec.lineage is not None:
        lines.append(
            _("Made from job #{parent_job_id} ({action})").format(
                parent_job_id=spec.lineage.parent_job_id, action=spec.action
            )
        )
    if images:
        seeds = ", ".join(f"{i + 1}: `{image.seed}`" for i, image in enumerate(images))
        lines.append(_("Seeds: {seeds}").format(seeds=seeds))
    lines.append(_("Reproduce:\n```\n{command}\n```").format(command=reproduce_command(job)))
    return "\n".join(lines)[:2000]


def failure_text(job: Job) -> str:
    """Return the message that replaces a job's progress when it failed or was cancelled."""
    if job.state is JobState.CANCELLED:
        return _("{job} for <@{requester_id}> was cancelled.").format(
            job=failure_marker(job), requester_id=job.requester_id
        )
    return _("{job} for <@{requester_id}> did not finish: {value}").format(
        job=failure_marker(job), requester_id=job.requester_id, value=_escape(job.error or _("unknown error"))
    )[:2000]


class GridPresenter:
    """Presents channel grids and region edits: the grid, its text and the everyday buttons."""

    def __init__(self, bot: SalonBot) -> None:
        self.bot = bot

    async def present(self, job: Job, images: list[ImageRecord], notes: tuple[str, ...]) -> Presentation:
        """Return the grid message of a generated job."""
        grid = await self.bot.services.jobs.grid_png(job, images)
        prefix = ""
        if job.spec.edit is not None:
            prefix = _("🔲 Region edit ({action}) — ").format(action=job.spec.edit.action)
        text = prefix + describe_result(job, images, f"<@{job.requester_id}>", notes)
        return Presentation(text[:2000], [(result_marker(job), grid)], result_view(job, images))

    async def shown(self, job: Job, message: discord.Message) -> None:
        """Nothing more to record: the deliverer records the grid's message for reactions."""

    async def failed(self, job: Job) -> Presentation:
        """Return the failure message of a grid."""
        return Presentation(failure_text(job))
