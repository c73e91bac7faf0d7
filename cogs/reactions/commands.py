"""Raw reactions: one listener for all of Salon, routing each reaction to the feature it belongs to.

A reaction on a lattice message marks a region; anywhere else it is a vote on a result (and 🔁
rerolls it). Salon's own reactions are ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from cogs.imagine.commands import react_to_result
from cogs.regions.commands import mark_by_reaction

if TYPE_CHECKING:
    from bot.client import SalonBot


class ReactionCog(commands.Cog):
    """Owns `on_raw_reaction_add` and `on_raw_reaction_remove`."""

    def __init__(self, bot: SalonBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self._route(payload, added=True)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        await self._route(payload, added=False)

    async def _route(self, payload: discord.RawReactionActionEvent, *, added: bool) -> None:
        if self.bot.user is not None and payload.user_id == self.bot.user.id:
            return
        if await mark_by_reaction(self.bot, payload, added=added):
            return
        await react_to_result(self.bot, payload, added=added)


async def setup(bot: SalonBot) -> None:
    """Load the cog (discord.py extension entry point)."""
    await bot.add_cog(ReactionCog(bot))
