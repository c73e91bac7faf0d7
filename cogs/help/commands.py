"""/help: what Salon does and how, privately, one page per feature."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.help.topics import TOPIC_LABELS, HelpTopic, help_page

if TYPE_CHECKING:
    from bot.client import SalonBot


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


async def setup(bot: SalonBot) -> None:
    """Load the cog (discord.py extension entry point)."""
    await bot.add_cog(HelpCog(bot))
