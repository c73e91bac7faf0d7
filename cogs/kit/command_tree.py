"""The one application-command error handler: users get a clear ephemeral reply, bugs get a reference."""

from __future__ import annotations

import logging
import secrets

import discord
from discord import app_commands

from bot.catalogue import N_, _
from bot.errors import SalonError
from cogs.kit.command_options import check_options

log = logging.getLogger(__name__)


# Permissions as Discord's settings name them, so people can find them there.
PERMISSION_NAMES = {
    "manage_guild": N_("Manage Server"),
    "manage_channels": N_("Manage Channels"),
    "manage_messages": N_("Manage Messages"),
    "administrator": N_("Administrator"),
}


def describe_user_error(error: app_commands.AppCommandError) -> str | None:
    """Return what to tell the user about a mistake of theirs, or None if it is not one."""
    if isinstance(error, app_commands.CommandInvokeError) and isinstance(error.original, SalonError):
        return str(error.original)
    if isinstance(error, app_commands.TransformerError):
        if error.type is discord.AppCommandOptionType.user:
            return _("That user is not a member of this server; name a member.")
        return _("{value} is not a valid value for this option.").format(
            value=discord.utils.escape_mentions(repr(error.value))[:100]
        )
    if isinstance(error, app_commands.CommandNotFound):
        return _("Salon has no command /{name} (any more); type / to see its commands.").format(name=error.name[:50])
    if isinstance(error, app_commands.CommandSignatureMismatch):
        return _(
            "/{qualified_name} changed since your Discord app loaded it; reload Discord "
            "(Ctrl+R, or restart the app) and try again."
        ).format(qualified_name=error.command.qualified_name)
    if isinstance(error, app_commands.MissingPermissions):
        needed = _(" and ").join(
            _(PERMISSION_NAMES[p]) if p in PERMISSION_NAMES else p.replace("_", " ").title()
            for p in error.missing_permissions
        )
        return _("You need the {needed} permission to do that.").format(needed=needed)
    if isinstance(error, app_commands.CommandOnCooldown):
        return _("Slow down: try again in {retry_after:.0f} s.").format(retry_after=error.retry_after)
    if isinstance(error, app_commands.CheckFailure):
        return str(error) or _("You can't use this command here.")
    return None


async def reply_ephemeral(interaction: discord.Interaction, message: str) -> None:
    """Send `message` privately, as the first response or as a follow-up after a defer."""
    try:
        if interaction.response.is_done():
            if interaction.response.type is discord.InteractionResponseType.deferred_channel_message:
                # A public "thinking…" placeholder would linger forever; replace it with a private reply.
                await interaction.delete_original_response()
            await interaction.followup.send(message, ephemeral=True)
        else:
            await interaction.response.send_message(message, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not tell user %s about an error", interaction.user.id, exc_info=True)


async def report_error(interaction: discord.Interaction, error: Exception, where: str) -> None:
    """Tell the user about an error: their mistake in words, or a reference to a logged bug."""
    if isinstance(error, SalonError):
        message = str(error)
    else:
        reference = secrets.token_hex(4)
        log.error(
            "unexpected error in %s (ref %s)", where, reference, exc_info=(type(error), error, error.__traceback__)
        )
        message = _("Something went wrong on Salon's side. It has been logged as reference `{reference}`.").format(
            reference=reference
        )
    await reply_ephemeral(interaction, message)


NOT_IN_A_SERVER = N_(
    "Salon works in servers, where a server's themes, blocklist and moderators apply: use it in a"
    " channel of a server you share with it."
)


class NotInServer(app_commands.CheckFailure):
    """A command came from a DM or a group DM, and this deployment serves servers only."""


def may_run_here(interaction: discord.Interaction, allow_dms: bool) -> bool:
    """Return whether an interaction may run where it came from: in a server always, elsewhere if allowed."""
    return interaction.guild_id is not None or allow_dms


class SalonCommandTree(app_commands.CommandTree):
    """A command tree that checks every option against the declared schema before a command runs,
    and whose `on_error` turns errors into replies (RoboDanny's shape)."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        # Discord hides the commands outside servers (their contexts say so); this refuses one sent
        # anyway, from a client that kept an old registration or from a forged request.
        settings = getattr(self.client, "settings", None)
        if not may_run_here(interaction, bool(getattr(settings, "allow_dms", False))):
            raise NotInServer(_(NOT_IN_A_SERVER))
        command = interaction.command
        if interaction.type is discord.InteractionType.application_command and isinstance(
            command, app_commands.Command
        ):
            # Raises `OptionRefused`, which reaches `on_error` like any check failure.
            check_options(command, dict(interaction.data or {}))
        return True

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        message = describe_user_error(error)
        if message is not None:
            await reply_ephemeral(interaction, message)
            return
        command = interaction.command.qualified_name if interaction.command else "?"
        original = getattr(error, "original", error)
        await report_error(interaction, original, f"/{command}")
