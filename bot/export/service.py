"""Exporting a session: the one code path behind `/export`, `python -m bot export` and the demo.

It reads the story from the store, writes the gallery or a blog post (in a worker thread: image
resizing and file copies must not stall the bot's event loop), optionally zips it, and reports
each step to a progress callback so each caller can show it its own way (a Discord message edited
at a bounded rate, a bar on the terminal).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.catalogue import N_, _
from bot.errors import UserInputError
from bot.export.blog import write_hugo_bundle, write_jekyll_post
from bot.export.consent import ConsentService
from bot.export.gallery import write_gallery, zip_folder
from bot.export.story import session_story
from bot.jobs.progress import progress_bar
from bot.store import Database, ImageFiles
from bot.store.database import utc_iso
from bot.store.sessions import Session, latest_session_in

FORMATS: tuple[str, ...] = ("gallery", "hugo", "jekyll")
FORMAT_LABELS = {
    "gallery": N_("a static gallery site"),
    "hugo": N_("a Hugo page bundle"),
    "jekyll": N_("a Jekyll post"),
}


@dataclass(frozen=True)
class ExportStep:
    """Where an export is: reading the store, writing files (`done` of `total`), zipping, or done."""

    stage: str  # reading, writing, zipping, done
    done: int = 0
    total: int = 0

    def text(self) -> str:
        """Return one line for a person watching the export."""
        if self.stage == "reading":
            return _("📖 Reading the session from the store…")
        if self.stage == "writing":
            return _("🖼️ Writing files {done}/{total} {done2}").format(
                done=self.done, total=self.total, done2=progress_bar(self.done, self.total)
            )
        if self.stage == "zipping":
            return _("🗜️ Zipping…")
        return _("✅ Done")


ProgressCallback = Callable[[ExportStep], None]


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    format: str
    session_id: int
    folder: Path  # everything written lives under it
    entry: Path  # index.html, index.md or the Jekyll post
    images: int  # images exported
    left_out: int  # images of members who did not agree to publication
    archive: Path | None = None  # the zip of `folder`, when one was asked for


def parse_time(value: str | None, name: str) -> str | None:
    """Return an ISO time in UTC ('...Z') from user input, or raise `UserInputError` saying what is allowed."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UserInputError(
            _("{name} must be an ISO time such as 2026-12-01T18:00 or 2026-12-01T18:00Z.").format(name=name)
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # The store's own shape, so times compare as text.
    return utc_iso(moment)


class ExportService:
    """Write a session's gallery or blog post from the store."""

    def __init__(self, db: Database, files: ImageFiles, exports_dir: Path) -> None:
        self.db = db
        self.files = files
        self.exports_dir = exports_dir
        self.consents = ConsentService(db)
        self._running: set[int] = set()

    async def session_in(self, channel_id: str) -> Session:
        """Return the session held in a channel or thread (its party, or its stream), or say there is none."""
        session = await latest_session_in(self.db, channel_id)
        if session is None:
            raise UserInputError(
                _(
                    "Nothing has been made here yet: export works in a party's thread or a channel "
                    "where images were generated."
                )
            )
        return session

    def default_folder(self, session_id: int, fmt: str) -> Path:
        """Return a new folder under the exports folder for this session and format (names never from user text)."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        return self.exports_dir / f"session-{session_id}-{fmt}-{stamp}"

    async def export(
        self,
        session_id: int,
        fmt: str,
        out: Path | None = None,
        *,
        since: str | None = None,
        until: str | None = None,
        archive: bool = False,
        progress: ProgressCallback | None = None,
    ) -> ExportResult:
        """Write session `session_id` as `fmt` into `out` (a new folder under the exports folder by default)."""
        if fmt not in FORMATS:
            raise UserInputError(
                _("Unknown export format {fmt!r}: choose one of {formats}.").format(fmt=fmt, formats=", ".join(FORMATS))
            )
        since, until = parse_time(since, "since"), parse_time(until, "until")
        if since and until and since >= until:
            raise UserInputError(_("since must come before until."))
        if session_id in self._running:
            raise UserInputError(
                _("Session {session_id} is being exported already; wait for that export to finish.").format(
                    session_id=session_id
                )
            )
        report = progress or (lambda step: None)
        self._running.add(session_id)
        try:
            report(ExportStep("reading"))
            try:
                story = await session_story(self.db, session_id, since=since, until=until)
            except LookupError as exc:
                raise UserInputError(f"{str(exc).capitalize()}.") from None
            folder = out or self.default_folder(session_id, fmt)

            def on_file(done: int, total: int) -> None:
                report(ExportStep("writing", done, total))

            # Every export is a publication, a gallery as much as a blog post: only the images of
            # members who agreed (or whose server publishes by default) are in it.
            people = {author for image in story.images for author in image.author_ids}
            consented = await self.consents.consented(story.guild_id, people)
            if fmt == "gallery":
                shown = story.published(consented)
                entry = await asyncio.to_thread(write_gallery, shown, self.files, folder, progress=on_file)
                images, left_out = len(shown.images), shown.left_out
            else:
                writer = write_hugo_bundle if fmt == "hugo" else write_jekyll_post
                post = await asyncio.to_thread(writer, story, self.files, folder, consented=consented, progress=on_file)
                entry, images, left_out = post.path, post.images, post.left_out
            zipped = None
            if archive:
                report(ExportStep("zipping"))
                zipped = await asyncio.to_thread(zip_folder, folder, folder.with_name(folder.name + ".zip"))
            report(ExportStep("done"))
            return ExportResult(fmt, session_id, folder, entry, images, left_out, zipped)
        finally:
            self._running.discard(session_id)
