"""/audit member|job|moderation: what happened, from the event log, privately to a moderator. A thin cog."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.audit.service import AuditEntry
from bot.catalogue import _
from bot.client import SalonBot
from bot.store.database import parse_utc
from cogs.kit.choices import id_choices

# Discord's limit on a message, less room for the heading.
MESSAGE_CHARACTERS = 1900


def audit_text(heading: str, entries: list[AuditEntry], empty: str) -> str:
    """Return the heading and one line per entry (when, who, what), cut to fit one message."""
    lines = [heading]
    for entry in entries:
        when = discord.utils.format_dt(parse_utc(entry.event.occurred_at), "f")
        who = f"<@{entry.event.actor_id}>" if entry.event.actor_id.isdigit() else entry.event.actor_name
        line = f"{when} {who} {entry.text}"
        if sum(len(kept) + 1 for kept in lines) + len(line) > MESSAGE_CHARACTERS:
            lines.append(_("… and older entries (ask about one job with /audit job)."))
            break
        lines.append(line)
    if len(lines) == 1:
        lines.append(empty)
    return "\n".join(lines)


class AuditCog(commands.Cog):
    """Moderators read the server's event log: a member's actions, a job's history, moderation steps."""

    audit = app_commands.Group(
        name="audit",
        description="Read what happened in this server (moderators)",
        guild_only=True,
        default_permissions=discord.Permissions(manage_messages=True),
    )

    def __init__(self, bot: SalonBot) -> None:
        self.bot = bot

    async def _answer(self, interaction: discord.Interaction, text: str) -> None:
        # Private, and no one is pinged by the mentions that name who did what.
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none())

    @audit.command(name="member", description="A member's recent actions in this server, newest first")
    @app_commands.describe(member="Whose actions")
    @app_commands.checks.has_permissions(manage_messages=True)
    async def member(self, interaction: discord.Interaction, member: discord.User) -> None:
        entries = await self.bot.services.audit.member(str(interaction.guild_id), str(member.id))
        heading = _("**Recent actions of {member}** (newest first)").format(member=member.mention)
        await self._answer(interaction, audit_text(heading, entries, _("Nothing recorded for them in this server.")))

    @audit.command(name="job", description="A job's whole history: who asked, what ran, who deleted it")
    @app_commands.describe(job="The job (its number is in the result's Info)")
    @app_commands.checks.has_permissions(manage_messages=True)
    async def job(self, interaction: discord.Interaction, job: app_commands.Range[int, 1]) -> None:
        entries = await self.bot.services.audit.job(str(interaction.guild_id), job)
        heading = _("**History of job #{job}**").format(job=job)
        await self._answer(interaction, audit_text(heading, entries, _("Nothing recorded for this job.")))

    @job.autocomplete("job")
    async def _job_ids(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[int]]:
        jobs = await self.bot.services.jobs.recent_in(str(interaction.channel_id))
        return id_choices(((j.id, f"#{j.id}: {j.spec.user_prompt}") for j in jobs), current)

    @audit.command(name="moderation", description="Deletions, blocklist changes and refusals, theme changes")
    @app_commands.checks.has_permissions(manage_messages=True)
    async def moderation(self, interaction: discord.Interaction) -> None:
        entries = await self.bot.services.audit.moderation(str(interaction.guild_id))
        heading = _("**Moderation in this server** (newest first)")
        await self._answer(interaction, audit_text(heading, entries, _("No moderation steps recorded yet.")))


async def setup(bot: SalonBot) -> None:
    """Load the cog (discord.py extension entry point)."""
    await bot.add_cog(AuditCog(bot))
