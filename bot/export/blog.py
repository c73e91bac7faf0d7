"""Blog posts of a session: a Hugo page bundle and a Jekyll post, telling its story from the log.

Front matter is written with `yaml.safe_dump` (never by formatting strings), following the
shape of `../shared/seeds/001_*.txt`: title, date, tags, description, cover. Images are resized
and compressed for the web. Prompts and names are user text: in Markdown they are escaped, so
nothing they contain becomes a link, an image or HTML.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.catalogue import _, ngettext
from bot.export.gallery import FileProgress
from bot.export.story import SessionStory, StoryImage
from bot.render.web_image import web_jpeg
from bot.store import ImageFiles
from bot.store.database import parse_utc

# Every ASCII punctuation mark Markdown or a generator's template syntax gives meaning to: with a
# backslash before each, Hugo's `{{<`/`{{%` shortcodes and Jekyll's Liquid `{{`/`{%` never occur
# as such, and CommonMark shows each escaped mark as itself.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~&\"%$=@^'])")


@dataclass(frozen=True)
class BlogExport:
    """Where an export was written and what it left out."""

    path: Path
    images: int
    left_out: int  # images of members who did not consent to publication


def slugify(text: str, fallback: str = "session") -> str:
    """Return a URL and file-name safe slug for a title (ASCII letters, digits and dashes)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].strip("-")
    return slug or fallback


def escape_markdown(text: str) -> str:
    """Return text that Markdown shows as it is (no links, images, emphasis or HTML)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


ALT_CHARS = 200


def _alt(text: str) -> str:
    """Return Markdown alt text for an image from its prompt, escaped like the body (shortened first,
    so the cut never splits an escape)."""
    return escape_markdown(" ".join(text.split())[:ALT_CHARS])


def _plain_alt(text: str) -> str:
    """Return alt text for front matter (a YAML string, not Markdown): one line, shortened."""
    return " ".join(text.split())[:ALT_CHARS]


def story_markdown(story: SessionStory, images: list[StoryImage], names: dict[int, str], left_out: int) -> str:
    """Return the post's Markdown body: the session's story, its figures and a gallery."""
    lines: list[str] = []
    kept = {image.id for image in images}
    highlights = [image for image in story.highlights if image.id in kept]
    if highlights:
        first = highlights[0]
        lines += [f"![{_alt(first.user_prompt)}]({names[first.id]})", ""]
    if story.kind == "party":
        lines.append(
            _(
                "We spent a neurogenerative party on **{topic}**, {count} of us, starting from "
                "the simplest prompt and refining it together."
            ).format(topic=escape_markdown(story.topic), count=len(story.people))
        )
    else:
        lines.append(
            _("{title}: {count} images made together.").format(
                title=escape_markdown(story.title), count=len(story.images)
            )
        )
    lines.append("")
    if story.people:
        people = ", ".join(
            escape_markdown(name) + (f" ({escape_markdown(', '.join(roles))})" if roles else "")
            for _unused, name, roles in story.people
        )
        lines += [_("**Who was there**: {people}.").format(people=people), ""]
    if story.associations:
        words = ", ".join(f"{escape_markdown(text)} (×{count})" for text, count, _unused in story.associations[:20])
        lines += [_("## What the topic brought to mind"), "", words + ".", ""]
    if len(story.versions) > 1:
        lines += [_("## How the prompt evolved"), ""]
        for version, text, author, _unused in story.versions:
            lines.append(f"{version}. *{escape_markdown(text)}* — {escape_markdown(author)}")
        lines.append("")
    if story.rounds:
        lines += [_("## The rounds"), ""]
        for round_row in story.rounds:
            what = (
                _("The final vote")
                if round_row.kind == "final"
                else _("Round {number}").format(number=round_row.number)
            )
            line = f"**{what}**"
            if round_row.prompt:
                line += f" (*{escape_markdown(round_row.prompt)}*)"
            line += ": " + ngettext(
                "{reason}, {count} ballot.", "{reason}, {count} ballots.", round_row.ballots
            ).format(reason=escape_markdown(round_row.reason), count=round_row.ballots)
            lines.append(line)
            winner = story.image(round_row.winner_image_id) if round_row.winner_image_id else None
            if winner is not None and winner.id in kept:
                lines += ["", f"![{_alt(winner.user_prompt)}]({names[winner.id]})"]
            lines.append("")
    lines += [_("## Gallery"), ""]
    for image in images:
        credit = ", ".join(escape_markdown(name) for name in (image.author_name, *image.co_author_names))
        caption = _("{prompt} — {credit}, seed {seed}").format(
            prompt=escape_markdown(image.prompt), credit=credit, seed=image.seed
        )
        lines += [f"![{_alt(image.user_prompt)}]({names[image.id]})", "", caption, ""]
    if left_out:
        lines += [
            ngettext(
                "*{left_out} image is not shown: not all of its authors agreed to "
                "publication (a party round's images are credited to the prompt's author and "
                "committer and to every voter).*",
                "*{left_out} images are not shown: not all of their authors agreed to "
                "publication (a party round's images are credited to the prompt's author and "
                "committer and to every voter).*",
                left_out,
            ).format(left_out=left_out),
            "",
        ]
    return "\n".join(lines)


def _front_matter(story: SessionStory, cover: tuple[str, StoryImage] | None, slug: str) -> dict:
    date = parse_utc(story.started_at)
    description = (
        _("A neurogenerative party on {topic}").format(topic=story.topic)
        if story.kind == "party"
        else _("Images from {title}").format(title=story.title)
    )
    matter: dict = {
        "title": story.title,
        "date": date.isoformat(),
        "tags": ["Salon", _("AI art"), *([story.topic] if story.topic else [])],
        "author": "Salon",
        "draft": False,
        "description": description,
        "slug": slug,
    }
    if cover:
        name, image = cover
        matter["cover"] = {
            "image": name,
            "alt": _plain_alt(image.user_prompt),
            "caption": story.title,
            "relative": True,
        }
    return matter


def _cover(story: SessionStory, names: dict[int, str]) -> tuple[str, StoryImage] | None:
    """Return the cover image (the first highlight that is published) with its file name."""
    return next(((names[image.id], image) for image in story.highlights if image.id in names), None)


def _write_images(
    images: list[StoryImage], files: ImageFiles, folder: Path, originals: bool, progress: FileProgress | None
) -> dict[int, str]:
    folder.mkdir(parents=True, exist_ok=True)
    names: dict[int, str] = {}
    for done, image in enumerate(images, start=1):
        # File names come from ids and hashes, never from prompts.
        name = f"image-{image.id}-{image.sha256[:8]}.jpg"
        (folder / name).write_bytes(web_jpeg(files.read(image.sha256)))
        if originals:
            (folder / f"image-{image.id}-{image.sha256[:8]}.png").write_bytes(files.read(image.sha256))
        names[image.id] = name
        if progress is not None:
            progress(done, len(images))
    return names


def _document(matter: dict, body: str) -> str:
    return "---\n" + yaml.safe_dump(matter, sort_keys=False, allow_unicode=True) + "---\n" + body


def write_hugo_bundle(
    story: SessionStory,
    files: ImageFiles,
    content_dir: Path,
    *,
    consented: set[str] | None = None,
    originals: bool = False,
    progress: FileProgress | None = None,
) -> BlogExport:
    """Write a Hugo page bundle (`<slug>/index.md` beside its images) under `content_dir`."""
    story = story.published(consented)
    images, left_out = story.images, story.left_out
    slug = slugify(story.title)
    bundle = content_dir / slug
    names = _write_images(images, files, bundle, originals, progress)
    (bundle / "index.md").write_text(
        _document(_front_matter(story, _cover(story, names), slug), story_markdown(story, images, names, left_out)),
        encoding="utf-8",
    )
    return BlogExport(bundle / "index.md", len(images), left_out)


def write_jekyll_post(
    story: SessionStory,
    files: ImageFiles,
    site_dir: Path,
    *,
    consented: set[str] | None = None,
    originals: bool = False,
    progress: FileProgress | None = None,
) -> BlogExport:
    """Write a Jekyll post (`_posts/YYYY-MM-DD-slug.md`) with its images under `assets/<slug>/`."""
    story = story.published(consented)
    images, left_out = story.images, story.left_out
    slug = slugify(story.title)
    day = story.started_at[:10]
    assets = site_dir / "assets" / slug
    names = {
        key: f"/assets/{slug}/{value}"
        for key, value in _write_images(images, files, assets, originals, progress).items()
    }
    matter = _front_matter(story, _cover(story, names), slug)
    matter["layout"] = "post"
    post = site_dir / "_posts" / f"{day}-{slug}.md"
    post.parent.mkdir(parents=True, exist_ok=True)
    post.write_text(_document(matter, story_markdown(story, images, names, left_out)), encoding="utf-8")
    return BlogExport(post, len(images), left_out)
