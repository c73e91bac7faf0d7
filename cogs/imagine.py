"""/imagine: turn a prompt into a grid of images, posted in the channel."""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import GenerationFailedError
from bot.generation import MAX_PROMPT_CHARS, MAX_SEED, FinishedGeneration, ImagineOptions, Place
from bot.store import Actor

if TYPE_CHECKING:
    from bot.client import SalonBot

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


def describe_result(finished: FinishedGeneration, requester: discord.abc.User) -> str:
    """Return the text posted with a grid: the prompt, who asked, and the seeds of each cell."""
    params = finished.job.params
    seeds = ", ".join(f"{i + 1}: `{image.seed}`" for i, image in enumerate(finished.images))
    text = f"**{discord.utils.escape_markdown(params['prompt'])}** — {requester.mention}"
    if params.get("negative_prompt"):
        text += f"\nwithout: {discord.utils.escape_markdown(params['negative_prompt'])}"
    text += f"\n{params['width']}×{params['height']}, {params['steps']} steps, seeds {seeds}"
    return text[:2000]


class ImagineCog(commands.Cog):
    """Slash commands that generate images in a channel."""

    def __init__(self, bot: SalonBot) -> None:
        self.bot = bot

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
        await interaction.edit_original_response(content=f"Queued job #{queued.job_id}{waiting}…")
        try:
            finished = await service.wait(queued)
        except GenerationFailedError as exc:
            await self._deliver(interaction, queued.job_id, f"❌ {exc}", None)
            return
        grid = discord.File(io.BytesIO(finished.grid_png), filename=f"salon-{queued.job_id}.png")
        await self._deliver(interaction, queued.job_id, describe_result(finished, interaction.user), grid)

    async def _deliver(
        self, interaction: discord.Interaction, job_id: int, content: str, file: discord.File | None
    ) -> None:
        """Show the outcome in the original response, or in the channel once its token has expired."""
        attachments = [file] if file else []
        try:
            message = await interaction.edit_original_response(content=content, attachments=attachments)
        except discord.HTTPException as exc:
            if exc.code not in EXPIRED_TOKEN_CODES or interaction.channel is None:
                raise
            log.info("interaction token of job %s expired; posting to the channel", job_id)
            if file is not None:
                file.reset()
            channel = interaction.channel
            assert isinstance(channel, discord.abc.Messageable)
            message = await channel.send(content=content, files=attachments)
        await self.bot.generation.record_reply(job_id, str(message.id))


async def setup(bot: SalonBot) -> None:
    """Load the cog (discord.py extension entry point)."""
    await bot.add_cog(ImagineCog(bot))
