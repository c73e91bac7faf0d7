"""The gallery: built only from the store, offline from its folder or a zip, and user text stays text."""

from __future__ import annotations

import zipfile
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

from bot import catalogue
from bot.export.gallery import render_gallery, write_gallery, zip_folder
from bot.export.story import channel_story, party_story
from bot.jobs.spec import ImagineOptions, Place
from bot.parties.service import PartySettings
from bot.services import Services
from bot.store import Actor
from tests.bot.service_kit import generate

MALLORY = Actor("66", "<img src=x onerror=alert(1)>")
ALICE = Actor("1", "alice")
EVIL = '<script>alert("owned")</script> a cat <img src=x onerror=alert(2)>'


async def test_a_channel_gallery_shows_hostile_text_as_text(services: Services, tmp_path: Path) -> None:
    place = Place("1", "50")
    prepared = await services.imagine.prepare(MALLORY, place, ImagineOptions(EVIL))
    await services.jobs.wait(await services.jobs.submit(MALLORY, place, prepared))
    story = await channel_story(
        services.jobs.db, "50", "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z", title="<b>cats</b>"
    )
    assert len(story.images) == 2 and story.images[0].author_name == MALLORY.name
    html = render_gallery(story)
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>cats</b>" not in html
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in html and "&lt;b&gt;cats&lt;/b&gt;" in html
    # Times read as dates (the page turns them into the reader's locale), not raw ISO text.
    assert '<time datetime="2000-01-01T00:00:00Z">1 January 2000, 00:00 UTC</time>' in html
    index = write_gallery(story, services.jobs.files, tmp_path / "gallery")
    for image in story.images:
        assert (index.parent / "images" / f"{image.sha256}.png").exists()
        assert f'src="images/{image.sha256}.png"' in index.read_text()
    archive = zip_folder(index.parent, tmp_path / "gallery.zip")
    names = zipfile.ZipFile(archive).namelist()
    assert "index.html" in names and len([n for n in names if n.startswith("images/")]) == 2


async def test_a_party_story_holds_its_people_prompt_rounds_and_winner(services: Services) -> None:
    parties = services.parties
    await parties.start(
        ALICE, guild_id="1", channel_id="60", thread_id="61", topic="loneliness", settings=PartySettings()
    )
    await parties.associate(ALICE, "61", "empty chair")
    await parties.commit(ALICE, "61", text="an empty chair by the window")
    await parties.advance(ALICE, "61", is_admin=False)
    round_row, prepared = await parties.prepare_round(ALICE, "61", is_admin=False)
    finished = await services.jobs.wait(await services.jobs.submit(ALICE, Place("1", "61"), prepared))
    await parties.round_generated(round_row.id, finished.job.id)
    await parties.vote(ALICE, round_row.id, 1)
    result = await parties.close_round(round_row.id)
    story = await party_story(services.jobs.db, "61")
    assert story.kind == "party" and story.topic == "loneliness"
    assert story.people == [("1", "alice", ("facilitator",))]
    assert story.associations == [("empty chair", 1, ("alice",))]
    assert [v[:2] for v in story.versions] == [(1, "loneliness"), (2, "an empty chair by the window")]
    [story_round] = story.rounds
    assert story_round.winner_image_id == result.winner.id and story_round.prompt == "an empty chair by the window"
    winner = story.image(result.winner.id)
    assert winner is not None and winner.winner and winner.round_votes == 1 and story.highlights[0] is winner
    html = render_gallery(story)
    assert "an empty chair by the window" in html and "winner" in html

    # Published without alice's consent: no image of hers, the round's result in words without its
    # link, and the count of what was left out and why.
    unpublished = story.published(set())
    assert unpublished.images == [] and unpublished.left_out == 2 and story.left_out == 0
    [shown_round] = unpublished.rounds
    assert shown_round.winner_image_id is None and "did not agree to publication" in shown_round.reason
    html = render_gallery(unpublished)
    assert f"#image-{result.winner.id}" not in html and "images/" not in html
    assert "2 images are not shown: their authors did not agree to publication" in html
    assert story.published({"1"}) == story and story.published(None) is story


async def test_recorded_journeys_are_kept_per_image_and_shown(services: Services, tmp_path: Path) -> None:
    place = Place("1", "52")
    prepared = await services.imagine.prepare(ALICE, place, ImagineOptions("a comet", journey=True))
    finished = await services.jobs.wait(await services.jobs.submit(ALICE, place, prepared))
    journeys = [image.journey_sha256 for image in finished.images]
    assert all(journeys) and len(set(journeys)) == len(journeys)  # one journey per image, each its own
    for sha256 in journeys:
        assert sha256 is not None and services.jobs.files.read(sha256, ".gif").startswith(b"GIF8")
    plain = await generate(services, ALICE, place, ImagineOptions("a moon"))
    assert [image.journey_sha256 for image in plain.images] == [None, None]  # only when asked for
    story = await channel_story(services.jobs.db, "52", "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z")
    index = write_gallery(story, services.jobs.files, tmp_path / "gallery")
    html = index.read_text()
    for sha256 in journeys:
        assert (index.parent / "images" / f"{sha256}.gif").exists() and f'src="images/{sha256}.gif"' in html
    assert html.count('class="journey"') == 2


async def test_a_gallery_is_written_in_the_language_salon_speaks(services: Services, tmp_path: Path) -> None:
    catalog = Catalog(locale="fr", domain=catalogue.DOMAIN)
    catalog.add("by %(author)s", "par %(author)s")
    catalog.add("All images", "Toutes les images")
    catalog.add(("%(num)s image", "%(num)s images"), ("%(num)s image", "%(num)s d'images", "%(num)s images (fr)"))
    # French has three plural forms in CLDR (one, many for round millions, other).
    folder = tmp_path / "fr" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "salon.mo").open("wb") as handle:
        write_mo(handle, catalog)
    place = Place("1", "50")
    prepared = await services.imagine.prepare(MALLORY, place, ImagineOptions("a cat"))
    await services.jobs.wait(await services.jobs.submit(MALLORY, place, prepared))
    story = await channel_story(services.jobs.db, "50", "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z", title="cats")
    try:
        assert catalogue.use_language("fr", tmp_path)
        html = render_gallery(story)
    finally:
        catalogue.use_language("en")
    assert "Toutes les images" in html and "2 images (fr)" in html
    # The author's name is filled into the translated sentence and still escaped.
    assert "par &lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    assert "Toutes les images" not in render_gallery(story)
