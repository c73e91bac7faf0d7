"""/export end to end: a channel's images as a zip on Discord, progress on the way, and a zip too large to upload."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path

from loopback import Message
from tests.e2e.conftest import RunningSalon, World, shows_grid

HOSTILE = "<script>alert(1)</script> a lighthouse"


async def make_grid_in_channel(world: World, user: str = "alice") -> None:
    made = await world.server.driver(world.users[user]).slash(
        world.channel_id, "imagine", {"prompt": HOSTILE, "count": 2}
    )
    await world.server.wait_for(lambda: made.original and shows_grid(made.original), timeout=120)


def zip_of(world: World, message: Message) -> zipfile.ZipFile:
    [attachment] = message.attachments
    return zipfile.ZipFile(io.BytesIO(world.server.files[attachment.id].data))


async def test_export_posts_a_gallery_zip_with_progress(world: World, salon: RunningSalon) -> None:
    await make_grid_in_channel(world)
    alice, bob = world.server.driver(world.users["alice"]), world.server.driver(world.users["bob"])
    unpublished = await bob.slash(world.channel_id, "export", {"format": "gallery"})
    refused = await unpublished.wait_for_original(lambda m: m.attachments, timeout=60)
    assert ": 0 images. 2 images are left out: their authors have not agreed to publication" in refused.content
    assert not any(n.startswith("images/") for n in zip_of(world, refused).namelist())
    await alice.slash(world.channel_id, "party consent", {"publish": True})
    exported = await bob.slash(world.channel_id, "export", {"format": "gallery"})
    done = await exported.wait_for_original(lambda m: m.attachments, timeout=60)
    assert "A static gallery site of session" in done.content and ": 2 images." in done.content
    assert done.attachments[0].filename.endswith("-gallery.zip")
    assert any("📦 Exporting a static gallery site of this channel" in text for text in done.shown)
    bundle = zip_of(world, done)
    html = bundle.read("index.html").decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; a lighthouse" in html and "<script>alert" not in html
    assert len([name for name in bundle.namelist() if name.startswith("images/")]) == 2

    # A blog post follows the same consent: alice agreed, so her images are in it.
    hugo = await bob.slash(world.channel_id, "export", {"format": "hugo"})
    post = await hugo.wait_for_original(lambda m: m.attachments, timeout=60)
    assert "A Hugo page bundle of session 1: 2 images." in post.content and "left out" not in post.content
    assert any(name.endswith("/index.md") for name in zip_of(world, post).namelist())


async def test_a_zip_over_the_upload_limit_stays_on_disk_and_says_where(world: World, salon: RunningSalon) -> None:
    await make_grid_in_channel(world)
    world.server.max_upload_bytes = 1024  # a server whose upload limit is smaller than any gallery
    exported = await world.server.driver(world.users["carol"]).slash(world.channel_id, "export", {"format": "gallery"})
    done = await exported.wait_for_original(lambda m: "stays on Salon's machine" in m.content, timeout=60)
    assert not done.attachments and "over this server's upload limit (1 KB)" in done.content
    path = Path(done.content.rsplit("`", 2)[1])
    assert path.suffix == ".zip" and "index.html" in await asyncio.to_thread(lambda: zipfile.ZipFile(path).namelist())


async def test_export_where_nothing_was_made_is_refused_privately(world: World, salon: RunningSalon) -> None:
    refused = await world.server.driver(world.users["alice"]).slash(world.channel_id, "export", {"format": "jekyll"})
    reply = await refused.wait_for_original()
    assert reply.ephemeral and "Nothing has been made here yet" in reply.content
