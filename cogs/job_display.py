"""Showing a job on Discord: queue position, then a progress bar and previews, then the grid.

A job is shown in one message that is edited as it goes, at most once every 1.5 s. The message is
the interaction's response while its 15-minute token lives, and a plain channel message after
that (or from the start, for jobs started by a reaction or resumed after a restart).
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.errors import GenerationFailedError, ServiceStoppingError
from bot.generation import FinishedGeneration, GenerationService, QueuedGeneration
from bot.progress import EditThrottle, progress_text
from bot.store.images import ImageRecord
from bot.store.jobs import Job
from cogs.generation_views import progress_view, result_view

log = logging.getLogger(__name__)

# Discord answers 401/50027 (or 404/10015) once an interaction token's 15 minutes are over.
EXPIRED_TOKEN_CODES = frozenset({50027, 10015})


def _escape(text: str) -> str:
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def describe_result(job: Job, images: list[ImageRecord], requester_mention: str, notes: tuple[str, ...] = ()) -> str:
    """Return the text posted with a grid: the prompt, who asked, the seed of each cell, and notes."""
    params = job.params
    seeds = ", ".join(f"{i + 1}: `{image.seed}`" for i, image in enumerate(images))
    text = f"**{_escape(params['prompt'])}** — {requester_mention}"
    if params.get("negative_prompt"):
        text += f"\nwithout: {_escape(params['negative_prompt'])}"
    origin = params.get("lineage", {})
    if origin:
        text += f"\n{origin['action']} of job #{origin['parent_job_id']}"
    text += f"\n{params['width']}×{params['height']}, {params['steps']} steps, guidance {params['guidance']}"
    text += f", {params['scheduler']}, model `{params['model']}`\nseeds {seeds}"
    for note in notes:
        text += f"\n⚠️ {_escape(note)}"
    return text[:2000]


def reproduce_command(job: Job) -> str:
    """Return a /imagine command that makes the same grid again in the same channel."""
    params = job.params
    options = params.get("options", {})
    parts = [f"/imagine prompt:{params.get('user_prompt', params['prompt'])}"]
    if options.get("negative_prompt"):
        parts.append(f"negative:{options['negative_prompt']}")
    parts += [
        f"seed:{params['seeds'][0]}",
        f"count:{len(params['seeds'])}",
        f"width:{params['width']}",
        f"height:{params['height']}",
        f"steps:{params['steps']}",
        f"guidance:{params['guidance']}",
    ]
    if params.get("style"):
        parts.append(f"style:{params['style']}")
    parts.append(f"model:{params['model']}")
    if params.get("kind") == "img2img":
        parts.append(f"strength:{params['strength']} image:(the same content image)")
    return " ".join(parts)


def describe_info(job: Job, images: list[ImageRecord]) -> str:
    """Return every parameter of a job, each image's seed and a command that reproduces it."""
    params = job.params
    lines = [f"**Job #{job.id}** by <@{job.requester_id}> — {job.state.value}, {job.kind}"]
    lines.append(f"Prompt: {_escape(params['prompt'])}")
    if params.get("user_prompt") and params["user_prompt"] != params["prompt"]:
        lines.append(f"As typed: {_escape(params['user_prompt'])}")
    if params.get("negative_prompt"):
        lines.append(f"Negative: {_escape(params['negative_prompt'])}")
    facts = [
        f"size {params['width']}×{params['height']}",
        f"steps {params['steps']}",
        f"guidance {params['guidance']}",
        f"scheduler {params['scheduler']}",
        f"model `{params['model']}`",
    ]
    if params.get("style"):
        facts.append(f"style {params['style']}")
    if params.get("theme"):
        facts.append(f"theme {params['theme']}")
    if job.kind != "txt2img":
        facts.append(f"strength {params['strength']}")
    lines.append(", ".join(facts))
    lines.append("Seeds: " + ", ".join(f"{i + 1}: `{image.seed}`" for i, image in enumerate(images)))
    lines.append(f"Reproduce:\n```\n{reproduce_command(job)}\n```")
    return "\n".join(lines)[:2000]


class MessageTarget:
    """Shows a job by editing a message the bot posted."""

    def __init__(self, message: discord.Message) -> None:
        self.message = message

    async def show(self, content: str, files: list[discord.File], view: discord.ui.View | None) -> discord.Message:
        """Return the message after replacing its text, attachments and buttons."""
        self.message = await self.message.edit(content=content, attachments=files, view=view)
        return self.message


class ChannelTarget:
    """Shows a job in a new channel message, then edits that message."""

    def __init__(self, channel: discord.abc.Messageable) -> None:
        self.channel = channel
        self._message: MessageTarget | None = None

    async def show(self, content: str, files: list[discord.File], view: discord.ui.View | None) -> discord.Message:
        """Return the message that shows the job, posting it the first time."""
        if self._message is None:
            message = await self.channel.send(content=content, files=files, view=view or discord.utils.MISSING)
            self._message = MessageTarget(message)
            return message
        return await self._message.show(content, files, view)


class InteractionTarget:
    """Shows a job in an interaction's (deferred) response, and in the channel once its token expires."""

    def __init__(self, interaction: discord.Interaction) -> None:
        self.interaction = interaction
        self._fallback: ChannelTarget | None = None

    async def show(self, content: str, files: list[discord.File], view: discord.ui.View | None) -> discord.Message:
        """Return the message that shows the job after editing it."""
        if self._fallback is not None:
            return await self._fallback.show(content, files, view)
        try:
            return await self.interaction.edit_original_response(content=content, attachments=files, view=view)
        except discord.HTTPException as exc:
            if exc.code not in EXPIRED_TOKEN_CODES or self.interaction.channel is None:
                raise
            log.info("interaction token expired; the job continues in a channel message")
            channel = self.interaction.channel
            assert isinstance(channel, discord.abc.Messageable)
            self._fallback = ChannelTarget(channel)
            for file in files:
                file.reset()
            return await self._fallback.show(content, files, view)


Target = MessageTarget | ChannelTarget | InteractionTarget


ViewFor = Callable[[FinishedGeneration], discord.ui.View]
OnFinished = Callable[[FinishedGeneration], Awaitable[None]]
OnShown = Callable[[FinishedGeneration, discord.Message], Awaitable[None]]
OnFailed = Callable[[Exception], Awaitable[None]]


async def follow_job(
    client: Any,
    queued: QueuedGeneration,
    target: Target,
    requester_mention: str,
    prefix: str = "",
    *,
    view_for: ViewFor | None = None,
    on_finished: OnFinished | None = None,
    on_shown: OnShown | None = None,
    on_failed: OnFailed | None = None,
) -> None:
    """Show a job's queue position and progress in its message, then its grid with buttons.

    `view_for` replaces the everyday buttons (a party round shows vote buttons). `on_finished` runs
    before the grid is shown (so its buttons work the moment anyone sees them), `on_shown` after,
    with the message; `on_failed` when the job did not finish.
    """
    service: GenerationService = client.generation
    pool = client.pool
    job_id = queued.job_id
    throttle = EditThrottle()
    shown = ""
    message: discord.Message | None = None

    async def show_progress(step: int | None, total: int | None, preview: bytes | None) -> None:
        nonlocal shown, message
        text = progress_text(
            job_id,
            position=pool.position(str(job_id)) if pool else None,
            eta=pool.eta(str(job_id)) if pool else None,
            step=step,
            total=total,
        )
        if text == shown or not throttle.ready():
            return
        files = [discord.File(io.BytesIO(preview), filename="preview.png")] if preview else []
        throttle.mark()
        message = await target.show(text, files, progress_view(job_id))
        if not shown:
            await service.record_reply(job_id, str(message.id))
        shown = text

    waiting = asyncio.ensure_future(service.wait(queued))
    changed = asyncio.Event()

    async def watch() -> None:
        async for _ in queued.handle.progress():
            changed.set()

    watcher = asyncio.ensure_future(watch())
    try:
        await show_progress(None, None, None)
        while not waiting.done():
            # Wake on progress, or every interval to refresh the queue position and ETA.
            try:
                await asyncio.wait_for(changed.wait(), timeout=max(throttle.wait_time(), throttle.interval))
            except TimeoutError:
                pass
            changed.clear()
            if waiting.done():
                break
            last = queued.handle.last_progress
            try:
                await show_progress(last.step if last else None, last.total if last else None, last and last.preview)
            except discord.HTTPException:
                log.warning("could not show progress of job %s", job_id, exc_info=True)
        try:
            finished = await waiting
        except (GenerationFailedError, ServiceStoppingError) as exc:
            icon = "⏸️" if isinstance(exc, ServiceStoppingError) else "❌"
            await target.show(f"{icon} job #{job_id} for {requester_mention}: {exc}", [], None)
            if on_failed is not None:
                await on_failed(exc)
            return
        if on_finished is not None:
            await on_finished(finished)
        message = await show_result(service, finished, target, requester_mention, prefix, view_for)
        if on_shown is not None:
            await on_shown(finished, message)
    finally:
        watcher.cancel()
        if not waiting.done():
            waiting.cancel()


async def show_result(
    service: GenerationService,
    finished: FinishedGeneration,
    target: Target,
    requester_mention: str,
    prefix: str = "",
    view_for: ViewFor | None = None,
) -> discord.Message:
    """Replace a job's message with its grid and buttons, and remember the message for reactions."""
    job = finished.job
    grid = discord.File(io.BytesIO(finished.grid_png), filename=f"salon-{job.id}.png")
    text = prefix + describe_result(job, finished.images, requester_mention, finished.notes)
    view = view_for(finished) if view_for is not None else result_view(job, finished.images)
    message = await target.show(text[:2000], [grid], view)
    await service.record_post(job.id, str(message.id), str(message.channel.id), "grid")
    return message
