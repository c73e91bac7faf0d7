"""/help: what Salon does and how, privately, one page per feature."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.catalogue import _
from bot.help.topics import FIRST_USE_HINT, TOPIC_LABELS, HelpTopic, help_page
from cogs.kit.places import actor_of

if TYPE_CHECKING:
    from bot.client import SalonBot


log = logging.getLogger(__name__)


class HelpCog(commands.Cog):
    """Answers `/help` with a private page."""

    def __init__(self, bot: SalonBot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="How Salon works: commands, buttons and reactions")
    @app_commands.describe(topic="What to explain (default: getting started)")
    @app_commands.choices(topic=[app_commands.Choice(name=label, value=t.value) for t, label in TOPIC_LABELS.items()])
    async def help(self, interaction: discord.Interaction, topic: str = HelpTopic.START.value) -> None:
        await interaction.response.send_message(
            help_page(HelpTopic(topic)), ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    @commands.Cog.listener()
    async def on_app_command_completion(self, interaction: discord.Interaction, command: object) -> None:
        # The first command a member runs in a server earns them one private pointer to /help.
        if interaction.guild_id is None or getattr(command, "name", "") == "help":
            return
        if await self.bot.services.welcome.first_use(actor_of(interaction), str(interaction.guild_id)):
            try:
                await interaction.followup.send(_(FIRST_USE_HINT), ephemeral=True)
            except discord.HTTPException:
                log.info("could not send the first-use hint in guild %s", interaction.guild_id)


async def setup(bot: SalonBot) -> None:
    """Load the cog (discord.py extension entry point)."""
    await bot.add_cog(HelpCog(bot))
