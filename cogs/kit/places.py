"""Who and where an interaction is, which services answer it, and how its errors are answered.

Every cog and view reads the actor, the place and the services through these, so a thread, a DM
or a forged interaction is treated the same way everywhere.
"""

from __future__ import annotations

from datetime import timedelta

import discord

from bot.jobs.spec import Place
from bot.services import Services
from bot.store import Actor
from bot.store.database import utc_iso
from bot.store.jobs import Shown

# How long Discord lets an interaction's token edit its reply.
INTERACTION_TOKEN_LIFETIME = timedelta(minutes=15)


def actor_of(interaction: discord.Interaction) -> Actor:
    """Return the store's view of who sent an interaction."""
    return Actor(str(interaction.user.id), interaction.user.display_name)


def place_of(interaction: discord.Interaction) -> Place:
    """Return where an interaction happened: its channel, and the parent whose rules apply in a thread."""
    guild_id = str(interaction.guild_id) if interaction.guild_id else None
    channel = interaction.channel
    parent_id = getattr(channel, "parent_id", None) if isinstance(channel, discord.Thread) else None
    return Place(
        guild_id=guild_id,
        channel_id=str(interaction.channel_id),
        rules_channel_id=str(parent_id) if parent_id else None,
    )


async def defer_reply(interaction: discord.Interaction) -> str | None:
    """Defer publicly ("Salon is thinking…") and return the id of that reply message, when Discord gives it.

    The id is stored with the job at once, so a process killed before its first progress edit
    still knows which message to edit.
    """
    if interaction.response.is_done():
        return None
    callback = await interaction.response.defer(thinking=True)
    message_id = callback.message_id if callback is not None else None
    return str(message_id) if message_id else None


def shown_of(interaction: discord.Interaction, reply_message_id: str | None = None) -> Shown:
    """Return where a job asked for by `interaction` is shown, with the token that may edit its reply."""
    place = place_of(interaction)
    expires = interaction.created_at + INTERACTION_TOKEN_LIFETIME
    return Shown(
        channel_id=place.channel_id,
        rules_channel_id=place.rules_channel,
        reply_message_id=reply_message_id,
        interaction_app_id=str(interaction.application_id),
        interaction_token=interaction.token,
        interaction_expires_at=utc_iso(expires),
    )


def may_moderate(interaction: discord.Interaction) -> bool:
    """Return whether the user may remove others' results here (manage messages)."""
    return interaction.guild_id is not None and interaction.permissions.manage_messages


def services_of(client: discord.Client) -> Services:
    """Return Salon's services from the client that received an interaction or a reaction.

    The one lookup every view, modal and listener uses (a cog has `self.bot.services`).
    """
    services = getattr(client, "services", None)
    if not isinstance(services, Services):
        raise RuntimeError("this event reached a client without Salon's services")
    return services


def is_admin(interaction: discord.Interaction) -> bool:
    """Return whether the user administers the guild (and so may steer any party)."""
    return interaction.guild_id is not None and interaction.permissions.administrator


def message_link(guild_id: str | int | None, channel_id: str | int, message_id: str | int) -> str:
    """Return the link that opens a message in Discord (`@me` outside a server)."""
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"
