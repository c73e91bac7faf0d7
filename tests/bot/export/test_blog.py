"""Blog exports: a Hugo bundle the real `hugo` builds, a Jekyll post, YAML front matter, consent."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from bot.export.blog import escape_markdown, slugify, write_hugo_bundle, write_jekyll_post
from bot.export.story import party_story
from bot.jobs.spec import Place
from bot.parties.service import PartyService, PartySettings
from bot.services import Services
from bot.store import Actor

ALICE = Actor("1", "alice")
BOB = Actor("2", "bob")
TOPIC = 'love: "quotes", <b>tags</b> & [links](http://x)'


async def a_party(services: Services) -> tuple[PartyService, object]:
    parties = services.parties
    await parties.start(ALICE, guild_id="1", channel_id="70", thread_id="71", topic=TOPIC, settings=PartySettings())
    await parties.join(BOB, "71")
    await parties.associate(BOB, "71", "red roses")
    await parties.commit(ALICE, "71", text="two red roses in the rain")
    await parties.advance(ALICE, "71", is_admin=False)
    round_row, prepared = await parties.prepare_round(ALICE, "71", is_admin=False)
    finished = await services.jobs.wait(await services.jobs.submit(ALICE, Place("1", "71"), prepared))
    await parties.round_generated(round_row.id, finished.job.id)
    await parties.vote(BOB, round_row.id, 0)
    await parties.close_round(round_row.id)
    return parties, await party_story(services.jobs.db, "71")


async def test_slugs_and_markdown_escaping_keep_user_text_inert() -> None:
    assert slugify("Löve & Lonely — nights!") == "love-lonely-nights"
    assert slugify("«»") == "session"
    assert escape_markdown("[x](http://y) <b>") == r"\[x\]\(http://y\) \<b\>"


async def build_with_hugo(hugo: str, site: Path) -> None:
    """Build `site` (its content already written) with the real hugo and a minimal layout; fail on errors."""
    (site / "hugo.toml").write_text('baseURL = "http://example.org/"\ntitle = "Salon test"\n')
    (site / "layouts" / "_default").mkdir(parents=True)
    (site / "layouts" / "_default" / "single.html").write_text("<h1>{{ .Title }}</h1>{{ .Content }}")
    (site / "layouts" / "_default" / "list.html").write_text("{{ range .Pages }}{{ .Title }}{{ end }}")
    command = [hugo, "--source", str(site), "--quiet"]
    built = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr


async def test_hugo_bundle_builds_with_the_real_hugo(services: Services, tmp_path: Path) -> None:
    hugo = shutil.which("hugo")
    if hugo is None:
        pytest.skip("the hugo binary is not installed (.ci/run installs Debian's hugo package)")
    _, story = await a_party(services)
    site = tmp_path / "site"
    export = write_hugo_bundle(story, services.jobs.files, site / "content" / "posts")
    text = export.path.read_text()
    matter = yaml.safe_load(text.split("---\n")[1])
    assert matter["title"] == TOPIC and matter["draft"] is False and TOPIC in matter["tags"]
    assert matter["cover"]["image"].endswith(".jpg") and (export.path.parent / matter["cover"]["image"]).exists()
    assert export.images == 2 and export.left_out == 0
    await build_with_hugo(hugo, site)
    page_dir = site / "public" / "posts" / matter["slug"]
    page = (page_dir / "index.html").read_text()
    assert "two red roses in the rain" in page and "red roses" in page
    assert "<b>tags</b>" not in page and "&lt;b&gt;tags&lt;/b&gt;" in page
    images = sorted(p.name for p in page_dir.glob("*.jpg"))
    assert len(images) == 2 and all(f'src="{name}"' in page for name in images)


async def test_jekyll_post_and_consent(services: Services, tmp_path: Path) -> None:
    _, story = await a_party(services)
    export = write_jekyll_post(story, services.jobs.files, tmp_path / "site", consented={"2"})
    assert export.images == 0 and export.left_out == 2  # every image is alice's; only bob consented
    assert export.path.name == f"{story.started_at[:10]}-{slugify(TOPIC)}.md"
    text = export.path.read_text()
    assert yaml.safe_load(text.split("---\n")[1])["layout"] == "post"
    assert "2 images are not shown" in text
    everyone = write_jekyll_post(story, services.jobs.files, tmp_path / "all", consented={"1", "2"})
    assert everyone.images == 2 and len(list((tmp_path / "all" / "assets").rglob("*.jpg"))) == 2


# Member text that Markdown, raw HTML, Hugo shortcodes or Jekyll's Liquid would act on if it were
# written into a post as it is; a broken shortcode or an unknown one fails the whole Hugo build.
HOSTILE = [
    "{{< youtube dQw4w9WgXcQ >}} a cat",
    "{{% notashortcode %}} and {{< broken",
    "<script>alert(1)</script><iframe src=x>",
    "{% raw %}{{ site.title }}{% endraw %} {% include x.html %}",
    "[a link](http://evil.example) ![an image](http://evil.example/x.png) *em* _u_ `code`",
    "50% off | pipes | and \\ backslashes \\",
]


async def test_hostile_member_text_stays_text_in_hugo_and_jekyll(services: Services, tmp_path: Path) -> None:
    hugo = shutil.which("hugo")
    if hugo is None:
        pytest.skip("the hugo binary is not installed (.ci/run installs Debian's hugo package)")
    _, story = await a_party(services)
    # Every image's prompt (alt texts, captions, the cover) and the round's prompt carry hostile text.
    story.images = [
        replace(image, prompt=HOSTILE[n % len(HOSTILE)], user_prompt=HOSTILE[(n + 1) % len(HOSTILE)])
        for n, image in enumerate(story.images)
    ]
    story.images += [
        replace(story.images[0], id=1000 + n, prompt=text, user_prompt=text) for n, text in enumerate(HOSTILE)
    ]
    site = tmp_path / "site"
    export = write_hugo_bundle(story, services.jobs.files, site / "content" / "posts")
    markdown = export.path.read_text()
    body = markdown.split("---\n", 2)[2]
    for delimiter in ("{{<", "{{%", "{{", "{%"):
        assert delimiter not in body, delimiter
    assert not re.search(r"(?<!\\)<(script|iframe)", body), "every < of member text is escaped"
    await build_with_hugo(hugo, site)
    matter = yaml.safe_load(markdown.split("---\n")[1])
    page = (site / "public" / "posts" / matter["slug"] / "index.html").read_text()
    assert "<iframe" not in page and "<script" not in page and "youtube.com" not in page
    assert 'href="http://evil.example"' not in page and 'src="http://evil.example/x.png"' not in page
    assert "{{&lt; youtube dQw4w9WgXcQ &gt;}}" in page, "the shortcode is shown as text"
    assert "{% raw %}{{ site.title }}{% endraw %}" in page and "50% off" in page

    jekyll = write_jekyll_post(story, services.jobs.files, tmp_path / "jekyll", consented={"1", "2"})
    body = jekyll.path.read_text().split("---\n", 2)[2]
    # Liquid runs before Markdown: no `{{` or `{%` may survive for it to find.
    assert "{{" not in body and "{%" not in body and "{% raw %}" not in body
