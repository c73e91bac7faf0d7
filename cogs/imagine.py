"""/imagine: turn a prompt into a grid of images, posted in the channel."""

from __future__ import annotations

import asyncio
import io
import logging
import re

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import SalonBot
from bot.errors import GenerationFailedError, ServiceStoppingError
from bot.generation import MAX_PROMPT_CHARS, MAX_SEED, ImagineOptions, Place, QueuedGeneration
from bot.store import Actor
from bot.store.images import ImageRecord
from bot.store.jobs import Job

log = logging.getLogger(__name__)

# Discord answers 401/50027 (or 404/10015) once an interaction token's 15 minutes are over.
EXPIRED_TOKEN_CODES = frozenset({50027, 10015})


def actor_of(interaction: discord.Interaction) -> Actor:
    """Return the store's view of who sent an interaction."""
    return Actor(str(interaction.user.id), interaction.user.display_name)


def place_of(interaction: discord.Interaction) -> Place:
    """Return where an interaction happened."""
    guild_id = str(interaction.guild_id) if interaction.guild_id else None
    return Place(guild_id=guild_id, channel_id=str(interaction.channel_id))


def describe_result(job: Job, images: list[ImageRecord], requester_mention: str) -> str:
    """Return the text posted with a grid: the prompt, who asked, and the seed of each cell."""
    params = job.params
    seeds = ", ".join(f"{i + 1}: `{image.seed}`" for i, image in enumerate(images))
    text = f"**{discord.utils.escape_markdown(params['prompt'])}** — {requester_mention}"
    if params.get("negative_prompt"):
        text += f"\nwithout: {discord.utils.escape_markdown(params['negative_prompt'])}"
    text += f"\n{params['width']}×{params['height']}, {params['steps']} steps, guidance {params['guidance']}"
    text += f", {params['scheduler']}, model `{params['model']}`\nseeds {seeds}"
    return text[:2000]


class JobInfoButton(discord.ui.DynamicItem[discord.ui.Button], template=r"salon:info:(?P<job_id>[0-9]+)"):
    """An ℹ️ button under a grid that shows anyone its parameters; its state lives in its custom_id,
    so it keeps working after a restart."""

    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Info", emoji="ℹ️", style=discord.ButtonStyle.secondary, custom_id=f"salon:info:{job_id}"
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> JobInfoButton:
        return cls(int(match["job_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = interaction.client
        assert isinstance(bot, SalonBot)
        job, images = await bot.generation.job_with_images(self.job_id)
        await interaction.response.send_message(
            describe_result(job, images, f"<@{job.requester_id}>"),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )


class ImagineCog(commands.Cog):
    """Slash commands that generate images in a channel."""

    def __init__(self, bot: SalonBot) -> None:
        self.bot = bot
        self._resumed = False
        self._tasks: set[asyncio.Task[None]] = set()

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        # on_ready fires again after reconnects; jobs are resumed once per process.
        if self._resumed:
            return
        self._resumed = True
        for queued in await self.bot.generation.resume_pending():
            task = asyncio.create_task(self._finish_resumed(queued))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _finish_resumed(self, queued: QueuedGeneration) -> None:
        """Post a job resumed after a restart in its channel: its interaction token may be long gone."""
        job, _ = await self.bot.generation.job_with_images(queued.job_id)
        channel = self.bot.get_channel(int(job.channel_id))
        if not isinstance(channel, discord.abc.Messageable):
            log.warning("channel %s of resumed job %s is gone", job.channel_id, job.id)
            return
        try:
            finished = await self.bot.generation.wait(queued)
        except (GenerationFailedError, ServiceStoppingError) as exc:
            await channel.send(f"❌ job #{job.id} for <@{job.requester_id}>: {exc}")
            return
        grid = discord.File(io.BytesIO(finished.grid_png), filename=f"salon-{job.id}.png")
        view = discord.ui.View(timeout=None)
        view.add_item(JobInfoButton(job.id))
        text = describe_result(finished.job, finished.images, f"<@{job.requester_id}>")
        message = await channel.send(f"(resumed after a restart) {text}"[:2000], file=grid, view=view)
        await self.bot.generation.record_reply(job.id, str(message.id))

    @app_commands.command(name="imagine", description="Generate images from a prompt")
    @app_commands.describe(
        prompt="What to picture",
        negative="What to keep out of the picture",
        seed=f"Seed of the first image (0 to {MAX_SEED}); the others follow it",
        count="How many images (1 to 9)",
    )
    async def imagine(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS],
        negative: app_commands.Range[str, 0, MAX_PROMPT_CHARS] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        count: app_commands.Range[int, 1, 9] | None = None,
    ) -> None:
        actor, place = actor_of(interaction), place_of(interaction)
        service = self.bot.generation
        # Checking input is pure and instant, so a mistake is refused privately before the public defer.
        request = service.prepare(actor, place, ImagineOptions(prompt, negative or "", seed, count))
        await interaction.response.defer(thinking=True)
        queued = await service.submit(actor, place, request)
        position = self.bot.pool.position(str(queued.job_id)) if self.bot.pool else None
        waiting = f" (position {position + 1} in the queue)" if position else ""
        progress_message = await interaction.edit_original_response(content=f"Queued job #{queued.job_id}{waiting}…")
        await service.record_reply(queued.job_id, str(progress_message.id))
        try:
            finished = await service.wait(queued)
        except GenerationFailedError as exc:
            await self._deliver(interaction, queued.job_id, f"❌ {exc}", None, None)
            return
        except ServiceStoppingError as exc:
            await self._deliver(interaction, queued.job_id, f"⏸️ {exc}", None, None)
            return
        grid = discord.File(io.BytesIO(finished.grid_png), filename=f"salon-{queued.job_id}.png")
        text = describe_result(finished.job, finished.images, interaction.user.mention)
        view = discord.ui.View(timeout=None)
        view.add_item(JobInfoButton(queued.job_id))
        await self._deliver(interaction, queued.job_id, text, grid, view)

    async def _deliver(
        self,
        interaction: discord.Interaction,
        job_id: int,
        content: str,
        file: discord.File | None,
        view: discord.ui.View | None,
    ) -> None:
        """Show the outcome in the original response, or in the channel once its token has expired."""
        attachments = [file] if file else []
        try:
            await interaction.edit_original_response(content=content, attachments=attachments, view=view)
        except discord.HTTPException as exc:
            if exc.code not in EXPIRED_TOKEN_CODES or interaction.channel is None:
                raise
            log.info("interaction token of job %s expired; posting to the channel", job_id)
            if file is not None:
                file.reset()
            channel = interaction.channel
            assert isinstance(channel, discord.abc.Messageable)
            message = await channel.send(content=content, files=attachments, view=view or discord.utils.MISSING)
            await self.bot.generation.record_reply(job_id, str(message.id))


async def setup(bot: SalonBot) -> None:
    """Load the cog and register its buttons that survive restarts (discord.py extension entry point)."""
    bot.add_dynamic_items(JobInfoButton)
    await bot.add_cog(ImagineCog(bot))
