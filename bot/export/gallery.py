"""A static HTML gallery of a session's story: one folder (index.html and images/) that works offline.

Jinja2 renders it with autoescaping on for every template (set here, not left to file-name
rules), so prompts and names are always shown as text, never run as HTML or script. Its words go
through Salon's catalogue (Jinja's i18n extension with `bot.catalogue`'s callables), so a gallery is
written in the language Salon speaks; user text passed into a sentence is still escaped.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from bot.catalogue import N_, _, ngettext
from bot.export.story import SessionStory, StoryImage
from bot.store import ImageFiles
from bot.store.database import parse_utc

_ENVIRONMENT = Environment(
    loader=PackageLoader("bot.export", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    extensions=["jinja2.ext.i18n"],
)
# New-style callables: `_("by %(author)s", author=name)` fills and escapes the fields after the lookup.
_ENVIRONMENT.install_gettext_callables(_, ngettext, newstyle=True)  # type: ignore[attr-defined]


MONTHS = (
    N_("January"),
    N_("February"),
    N_("March"),
    N_("April"),
    N_("May"),
    N_("June"),
    N_("July"),
    N_("August"),
    N_("September"),
    N_("October"),
    N_("November"),
    N_("December"),
)


def human_time(stored: str) -> str:
    """Return a stored UTC time as people read it ("4 December 2026, 01:30 UTC"); the page localises it."""
    moment = parse_utc(stored)
    return _("{day} {month} {year}, {time} UTC").format(
        day=moment.day, month=_(MONTHS[moment.month - 1]), year=moment.year, time=f"{moment:%H:%M}"
    )


_ENVIRONMENT.filters["human_time"] = human_time


@dataclass(frozen=True)
class LineageNode:
    """An image in the lineage tree, with the images made from it (variations, rounds, region edits)."""

    image: StoryImage
    children: tuple[LineageNode, ...]


def lineage_tree(story: SessionStory) -> list[LineageNode]:
    """Return the trees of images made from other images of the story, rooted at images made from a prompt."""
    known = {image.id for image in story.images}
    children: dict[int, list[StoryImage]] = {}
    for image in story.images:
        if image.source_image_id in known:
            children.setdefault(image.source_image_id, []).append(image)

    def node(image: StoryImage) -> LineageNode:
        return LineageNode(image, tuple(node(child) for child in children.get(image.id, [])))

    # A root is an image with descendants whose own source (if any) is not in this story.
    return [node(image) for image in story.images if image.id in children and image.source_image_id not in known]


def render_gallery(story: SessionStory) -> str:
    """Return the gallery's index.html."""
    return _ENVIRONMENT.get_template("gallery.html").render(story=story, lineage=lineage_tree(story))


FileProgress = Callable[[int, int], None]  # files written so far, files in all


def write_gallery(
    story: SessionStory, files: ImageFiles, folder: Path, *, progress: FileProgress | None = None
) -> Path:
    """Write the gallery (index.html, images/) into `folder` and return the index's path."""
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    wanted = {(image.sha256, ".png") for image in story.images}
    wanted |= {(image.heatmap_sha256, ".png") for image in story.images if image.heatmap_sha256}
    wanted |= {(image.journey_sha256, ".gif") for image in story.images if image.journey_sha256}
    for done, (sha256, suffix) in enumerate(sorted(wanted), start=1):
        # File names are the content hashes, never user text.
        shutil.copyfile(files.path_for(sha256, suffix), images / f"{sha256}{suffix}")
        if progress is not None:
            progress(done, len(wanted))
    index = folder / "index.html"
    index.write_text(render_gallery(story), encoding="utf-8")
    return index


def zip_folder(folder: Path, archive: Path) -> Path:
    """Return a zip of the folder's files (paths inside relative to it), for upload or download."""
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(folder))
    return archive
