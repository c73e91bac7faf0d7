"""/theme set|show|clear for themed channels, and /blocklist for a guild's moderators. A thin cog."""

from __future__ import annotations

import logging
from dataclasses import replace

import discord
from discord import app_commands
from discord.ext import commands

from bot.catalogue import _
from bot.client import SalonBot
from bot.errors import UserInputError
from bot.help.topics import THEMED_CHANNEL_GUIDE
from bot.imagine.limits import GUIDANCE, STEPS
from bot.themes.service import Theme, split_words
from cogs.kit.places import actor_of

log = logging.getLogger(__name__)


def _guild_id(interaction: discord.Interaction) -> str:
    if interaction.guild_id is None:
        raise UserInputError(_("Themes and blocklists belong to server channels; use this command in a server."))
    return str(interaction.guild_id)


class ThemeCog(commands.Cog):
    """Themed channels ("neurogenerative streams") and the guild blocklist."""

    theme = app_commands.Group(name="theme", description="What this channel is about", guild_only=True)
    blocklist = app_commands.Group(
        name="blocklist",
        description="Terms refused in prompts everywhere in this server",
        guild_only=True,
        default_permissions=discord.Permissions(manage_messages=True),
    )

    def __init__(self, bot: SalonBot) -> None:
        self.bot = bot

    @property
    def themes(self):
        return self.bot.services.themes

    @theme.command(name="set", description="Give this channel a theme that shapes every prompt in it")
    @app_commands.describe(
        preset="Start from a shipped theme (cats, distant-planets, ...)",
        name="The theme's name (needed without a preset)",
        description="What the channel is about, shown by /theme show",
        template="How prompts are wrapped; must contain {prompt} once",
        negative="Added to every negative prompt",
        required_words="Comma-separated: a prompt must mention at least one",
        banned_words="Comma-separated: a prompt must mention none",
        models="Comma-separated models allowed here",
        steps=f"Default steps in this channel ({STEPS.allowed()})",
        guidance=f"Default guidance in this channel ({GUIDANCE.allowed()})",
    )
    @app_commands.checks.has_permissions(manage_channels=True)
    async def theme_set(
        self,
        interaction: discord.Interaction,
        preset: str | None = None,
        name: app_commands.Range[str, 1, 60] | None = None,
        description: app_commands.Range[str, 0, 1000] | None = None,
        template: app_commands.Range[str, 1, 500] | None = None,
        negative: app_commands.Range[str, 0, 500] | None = None,
        required_words: app_commands.Range[str, 0, 1000] | None = None,
        banned_words: app_commands.Range[str, 0, 1000] | None = None,
        models: app_commands.Range[str, 0, 1000] | None = None,
        steps: app_commands.Range[int, STEPS.low, STEPS.high] | None = None,
        guidance: app_commands.Range[float, GUIDANCE.low, GUIDANCE.high] | None = None,
    ) -> None:
        guild_id = _guild_id(interaction)
        if preset:
            base = self.themes.preset(preset)
        elif name:
            base = Theme(name=name, description=description or "")
        else:
            raise UserInputError(_("Choose a preset, or give the theme a name (and a template with {prompt})."))
        defaults = dict(base.defaults)
        if steps is not None:
            defaults["steps"] = steps
        if guidance is not None:
            defaults["guidance"] = guidance
        known_models = self.bot.services.composer.defaults.known_models
        allowed = split_words(models) if models is not None else base.allowed_models
        unknown = [m for m in allowed if m not in known_models]
        if unknown:
            raise UserInputError(
                _("Unknown models: {unknown}. Salon serves {value}.").format(
                    unknown=", ".join(unknown), value=", ".join(f"`{m}`" for m in known_models)
                )
            )
        theme = replace(
            base,
            name=name or base.name,
            description=base.description if description is None else description,
            template=template or base.template,
            negative=base.negative if negative is None else negative,
            required_words=split_words(required_words) if required_words is not None else base.required_words,
            banned_words=split_words(banned_words) if banned_words is not None else base.banned_words,
            allowed_models=allowed,
            defaults=defaults,
        )
        await self.themes.set_theme(actor_of(interaction), guild_id, str(interaction.channel_id), theme)
        # The announcement stays pinned, so whoever arrives later sees what the channel is about.
        description = theme.describe()[: 2000 - len(_(THEMED_CHANNEL_GUIDE)) - 100]
        await interaction.response.send_message(
            _("🎨 {mention} set this channel's theme.\n{description}\n\n{themed_channel_guide}").format(
                mention=interaction.user.mention, description=description, themed_channel_guide=_(THEMED_CHANNEL_GUIDE)
            ),
            allowed_mentions=discord.AllowedMentions.none(),
        )
        try:
            await (await interaction.original_response()).pin(reason="the channel's theme and how it works")
        except discord.HTTPException:
            log.info("could not pin the theme of channel %s (Salon needs Manage Messages)", interaction.channel_id)

    @theme_set.autocomplete("preset")
    async def _preset_names(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=label[:100], value=name) for name, label in self.themes.autocomplete(current)]

    @theme.command(name="show", description="Tell everyone what this channel is about")
    async def theme_show(self, interaction: discord.Interaction) -> None:
        theme = await self.themes.theme_of(str(interaction.channel_id))
        text = self.bot.services.composer.theme_for_display(theme)
        await interaction.response.send_message(text[:2000], allowed_mentions=discord.AllowedMentions.none())

    @theme.command(name="clear", description="Remove this channel's theme")
    @app_commands.checks.has_permissions(manage_channels=True)
    async def theme_clear(self, interaction: discord.Interaction) -> None:
        removed = await self.themes.clear_theme(
            actor_of(interaction), _guild_id(interaction), str(interaction.channel_id)
        )
        if not removed:
            await interaction.response.send_message(_("This channel has no theme to clear."), ephemeral=True)
            return
        await interaction.response.send_message(
            _("{mention} cleared this channel's theme.").format(mention=interaction.user.mention)
        )

    @blocklist.command(name="add", description="Refuse prompts that use this term, everywhere in this server")
    @app_commands.checks.has_permissions(manage_messages=True)
    async def blocklist_add(self, interaction: discord.Interaction, term: app_commands.Range[str, 1, 100]) -> None:
        added = await self.themes.block(actor_of(interaction), _guild_id(interaction), term)
        text = (
            _("Blocked `{term}`.").format(term=term) if added else _("`{term}` was already blocked.").format(term=term)
        )
        await interaction.response.send_message(text, ephemeral=True)

    @blocklist.command(name="remove", description="Allow a blocked term again")
    @app_commands.checks.has_permissions(manage_messages=True)
    async def blocklist_remove(self, interaction: discord.Interaction, term: app_commands.Range[str, 1, 100]) -> None:
        removed = await self.themes.unblock(actor_of(interaction), _guild_id(interaction), term)
        text = (
            _("`{term}` is allowed again.").format(term=term)
            if removed
            else _("`{term}` was not blocked.").format(term=term)
        )
        await interaction.response.send_message(text, ephemeral=True)

    @blocklist.command(name="list", description="Show the blocked terms")
    @app_commands.checks.has_permissions(manage_messages=True)
    async def blocklist_list(self, interaction: discord.Interaction) -> None:
        terms = await self.themes.blocked(_guild_id(interaction))
        text = (
            _("Blocked: {terms}").format(terms=", ".join(f"`{t}`" for t in terms))
            if terms
            else _("Nothing is blocked in this server.")
        )
        await interaction.response.send_message(text[:2000], ephemeral=True)


async def setup(bot: SalonBot) -> None:
    """Load the cog (discord.py extension entry point)."""
    await bot.add_cog(ThemeCog(bot))
