"""/export gallery|hugo|jekyll: a party's or a channel's session as a zip, with its progress shown. A thin cog."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

import discord
from discord import app_commands
from discord.ext import commands

from bot.catalogue import _
from bot.client import SalonBot
from bot.errors import UserInputError
from bot.export.service import FORMAT_LABELS, FORMATS, ExportResult, ExportStep
from bot.jobs.progress import EditThrottle
from bot.store.database import utc_iso

log = logging.getLogger(__name__)


class ProgressMessage:
    """Show an export's steps in the interaction's message, edited at most every 1.5 s.

    Steps may be reported from the export's worker thread; they are handed to the event loop, and
    only the latest one is shown.
    """

    def __init__(self, interaction: discord.Interaction, title: str) -> None:
        self.interaction = interaction
        self.title = title
        self._loop = asyncio.get_running_loop()
        self._latest: ExportStep | None = None
        self._changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._throttle = EditThrottle()
        self._task = asyncio.create_task(self._show())

    def report(self, step: ExportStep) -> None:
        """Record a step (from any thread)."""
        self._loop.call_soon_threadsafe(self._set, step)

    def _set(self, step: ExportStep) -> None:
        self._latest = step
        self._changed.set()

    async def _show(self) -> None:
        while not self._stopping.is_set():
            await self._changed.wait()
            # Discord rate-limits edits of one message; stopping ends the wait early.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._throttle.wait_time())
            self._changed.clear()
            if self._latest is not None and not self._stopping.is_set():
                self._throttle.mark()
                try:
                    await self.interaction.edit_original_response(content=f"{self.title}\n{self._latest.text()}")
                except discord.HTTPException as exc:
                    # A lost progress edit is not worth failing the export for; the next one may land.
                    log.warning("could not show export progress: %s", exc)

    async def stop(self) -> None:
        """Stop showing steps once an edit under way has landed (the caller writes the final message)."""
        self._stopping.set()
        self._changed.set()
        await self._task


def describe_export(result: ExportResult) -> str:
    """Return what an export holds, and what it left out."""
    label = _(FORMAT_LABELS[result.format])
    text = _("{upper}{label} of session {session_id}: {images} images.").format(
        upper=label[0].upper(), label=label[1:], session_id=result.session_id, images=result.images
    )
    if result.left_out:
        text += _(
            " {left_out} images are left out: their authors have not agreed to publication "
            "(`/party consent publish:True`)."
        ).format(left_out=result.left_out)
    return text


def _size(size: int) -> str:
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / (1024 * 1024):.1f} MB"


class ExportCog(commands.Cog):
    """Galleries and blog posts of the session held in a channel or a party's thread."""

    def __init__(self, bot: SalonBot) -> None:
        self.bot = bot
        self.exports = bot.services.exports

    @app_commands.command(name="export", description="Export this party or channel as a gallery or a blog post")
    @app_commands.describe(
        format="gallery: a static site to open offline; hugo or jekyll: a blog post with its images",
        hours="In a channel: only the last N hours (default: everything made here)",
    )
    @app_commands.choices(format=[app_commands.Choice(name=f"{f}: {FORMAT_LABELS[f]}", value=f) for f in FORMATS])
    @app_commands.guild_only()
    async def export(
        self,
        interaction: discord.Interaction,
        format: str,
        hours: app_commands.Range[float, 0.1, 8760.0] | None = None,
    ) -> None:
        # Mistakes (nothing made here) are refused privately before the public defer.
        session = await self.exports.session_in(str(interaction.channel_id))
        since = utc_iso(datetime.now(UTC) - timedelta(hours=hours)) if hours and session.kind != "party" else None
        await interaction.response.defer(thinking=True)
        title = _("📦 Exporting {format_labels} of {value}").format(
            format_labels=_(FORMAT_LABELS[format]),
            value=_("this party") if session.kind == "party" else _("this channel"),
        )
        progress = ProgressMessage(interaction, title)
        try:
            result = await self.exports.export(session.id, format, since=since, archive=True, progress=progress.report)
        except UserInputError as exc:
            # Already deferred in public: the refusal replaces the progress message.
            await progress.stop()
            await interaction.edit_original_response(content=f"{title}\n❌ {exc}")
            return
        finally:
            await progress.stop()
        assert result.archive is not None
        size = result.archive.stat().st_size
        if size <= interaction.filesize_limit:
            await interaction.edit_original_response(
                content=describe_export(result),
                attachments=[discord.File(result.archive, filename=f"salon-session-{session.id}-{format}.zip")],
            )
        else:
            await interaction.edit_original_response(
                content=_(
                    "{result}\nThe zip is {size}, over this server's upload limit ({filesize_limit}), "
                    "so it stays on Salon's machine: `{archive}`"
                ).format(
                    result=describe_export(result),
                    size=_size(size),
                    filesize_limit=_size(interaction.filesize_limit),
                    archive=result.archive,
                )
            )


async def setup(bot: SalonBot) -> None:
    await bot.add_cog(ExportCog(bot))
