"""Region marks through the service (on the in-memory pool): marks add up, and an inpaint keeps liked pixels."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.errors import UserInputError
from bot.export.story import channel_story
from bot.jobs.factory import build_request
from bot.jobs.spec import ImagineOptions, Place
from bot.regions.lattice import Cell, Lattice
from bot.regions.service import RegionService
from bot.render.masks import differs_only_inside
from bot.services import Services
from bot.store import Actor, list_events
from bot.store.images import images_of_job

ALICE, BOB, CAROL = Actor("1", "alice"), Actor("2", "bob"), Actor("3", "carol")
PLACE = Place("10", "20")
LATTICE = Lattice(4, 4)


@pytest.fixture
async def regions(services: Services) -> RegionService:
    return services.regions


async def made_grid(regions: RegionService) -> int:
    prepared = await regions.composer.compose(ALICE.id, PLACE, ImagineOptions("a cat"))
    queued = await regions.jobs.submit(ALICE, PLACE, prepared)
    return (await regions.jobs.wait(queued)).job.id


async def test_three_members_marks_add_up_and_can_be_changed(regions: RegionService) -> None:
    job_id = await made_grid(regions)
    await regions.mark_text(ALICE, job_id, LATTICE, like="1:A1-B1", dislike="2:D4")
    await regions.mark(BOB, job_id, [Cell(1, 0, 0), Cell(1, 3, 3)], "dislike", LATTICE)
    outcome = await regions.mark(CAROL, job_id, [Cell(1, 3, 3)], "dislike", LATTICE)
    assert outcome.scores[Cell(1, 0, 0)] == 0 and outcome.scores[Cell(1, 0, 1)] == 1
    assert outcome.scores[Cell(1, 3, 3)] == -2 and outcome.scores[Cell(2, 3, 3)] == -1
    changed = await regions.mark(BOB, job_id, [Cell(1, 0, 0)], "like", LATTICE)  # a member changes their mark
    assert changed.changed == 1 and changed.scores[Cell(1, 0, 0)] == 2
    cleared = await regions.mark(CAROL, job_id, [Cell(1, 3, 3)], "clear", LATTICE)
    assert cleared.scores[Cell(1, 3, 3)] == -1
    events = await list_events(regions.db, kinds=("region.marked", "region.cleared"))
    assert [(e.actor_id, e.payload["mark"]) for e in events][-2:] == [("2", "like"), ("3", "clear")]
    png = await regions.heatmap_png(job_id, LATTICE)
    assert Image.open(io.BytesIO(png)).size == (128, 64)
    [recorded] = await list_events(regions.db, kinds=("region.heatmap",))
    assert regions.jobs.files.read(recorded.payload["sha256"]) == png
    assert recorded.payload["scores"]["1:A1"] == 2
    # One heatmap per image too, so a gallery shows each under its own image.
    _, images = await regions.images(job_id)
    each = recorded.payload["images"]
    assert set(each) == {str(image.id) for image in images} and len(set(each.values())) == len(images)
    story = await channel_story(regions.db, PLACE.channel_id, "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z")
    assert [image.heatmap_sha256 for image in story.images] == [each[str(image.id)] for image in images]


async def test_marks_per_member_are_limited_and_a_refused_pick_keeps_nothing(regions: RegionService) -> None:
    job_id = await made_grid(regions)
    limited = RegionService(regions.jobs, regions.composer, marks_per_member=5)
    await limited.mark(ALICE, job_id, [Cell(1, 0, c) for c in range(4)], "like", LATTICE)
    with pytest.raises(UserInputError, match="You have marked 5 cells in this session, the most one member may"):
        await limited.mark(ALICE, job_id, [Cell(1, 1, c) for c in range(2)], "dislike", LATTICE)
    kept = await limited.mark(ALICE, job_id, [Cell(1, 1, 0)], "dislike", LATTICE)  # one more still fits
    assert kept.scores[Cell(1, 1, 0)] == -1 and kept.scores.get(Cell(1, 1, 1), 0) == 0  # the refused pick left nothing
    await limited.mark(ALICE, job_id, [Cell(1, 0, 0)], "like", LATTICE)  # changing a mark adds none
    await limited.mark(BOB, job_id, [Cell(1, 2, 2)], "like", LATTICE)  # each member has their own


async def test_regenerating_disliked_cells_keeps_every_other_pixel(regions: RegionService) -> None:
    job_id = await made_grid(regions)
    await regions.mark(BOB, job_id, [Cell(1, 2, 2), Cell(1, 2, 3)], "dislike", LATTICE)
    await regions.mark(ALICE, job_id, [Cell(1, 0, 0)], "like", LATTICE)
    prepared = await regions.regenerate_disliked(CAROL, PLACE, job_id, 1, LATTICE, prompt="a red ball")
    assert prepared.render.kind == "inpaint" and prepared.lineage is not None
    queued = await regions.jobs.submit(CAROL, PLACE, prepared)
    finished = await regions.jobs.wait(queued)
    [edited] = finished.images
    [source, _] = await images_of_job(regions.db, job_id)
    files = regions.jobs.files
    mask = Image.open(io.BytesIO(files.read(finished.job.spec.render.mask_sha256)))
    before = Image.open(io.BytesIO(files.read(source.sha256)))
    after = Image.open(io.BytesIO(files.read(edited.sha256)))
    assert differs_only_inside(before, after, mask)
    assert after.getpixel((2, 2)) == before.getpixel((2, 2))  # the liked cell, untouched
    assert finished.job.source_image_id == source.id and finished.job.parent_job_id == job_id


async def test_bad_region_input_says_what_is_allowed(regions: RegionService) -> None:
    job_id = await made_grid(regions)
    with pytest.raises(UserInputError, match="outside the lattice"):
        await regions.mark_text(ALICE, job_id, LATTICE, like="E1")
    with pytest.raises(UserInputError, match="on images 1 to 2"):
        await regions.mark_text(ALICE, job_id, LATTICE, dislike="3:A1")
    with pytest.raises(UserInputError, match="Name cells to mark"):
        await regions.mark_text(ALICE, job_id, LATTICE)
    with pytest.raises(UserInputError, match="Nobody dislikes"):
        await regions.regenerate_disliked(ALICE, PLACE, job_id, 1, LATTICE)
    with pytest.raises(UserInputError, match="is gone"):
        await regions.mark(ALICE, 9999, [Cell(1, 0, 0)], "like", LATTICE)


async def run(regions: RegionService, prepared):
    queued = await regions.jobs.submit(CAROL, PLACE, prepared)
    return await regions.jobs.wait(queued)


def picture(regions: RegionService, sha256: str) -> Image.Image:
    return Image.open(io.BytesIO(regions.jobs.files.read(sha256)))


async def test_add_and_remove_elements_change_only_their_cells(regions: RegionService) -> None:
    job_id = await made_grid(regions)
    cells = LATTICE.parse("B2-C3")
    added = await run(regions, await regions.add_element(ALICE, PLACE, job_id, 1, cells, LATTICE, "a spaceship"))
    assert added.job.spec.render.prompt.startswith("a spaceship, a cat")
    [source, _] = await images_of_job(regions.db, job_id)
    mask = picture(regions, added.job.spec.render.mask_sha256)
    assert differs_only_inside(picture(regions, source.sha256), picture(regions, added.images[0].sha256), mask)
    removed = await run(
        regions, await regions.remove_element(ALICE, PLACE, job_id, 1, cells, LATTICE, "the cat", "an empty sofa")
    )
    assert removed.job.spec.render.prompt == "an empty sofa" and removed.job.spec.render.negative_prompt == "the cat"
    with pytest.raises(UserInputError, match="Say what to add"):
        await regions.add_element(ALICE, PLACE, job_id, 1, cells, LATTICE, "  ")


async def test_embolden_keeps_liked_cells_and_weights_the_good_words(regions: RegionService) -> None:
    job_id = await made_grid(regions)
    await regions.mark(BOB, job_id, [Cell(1, 0, 0), Cell(1, 0, 1)], "like", LATTICE)
    finished = await run(regions, await regions.embolden(ALICE, PLACE, job_id, 1, LATTICE, ["cat", "velvet"]))
    assert finished.job.spec.render.prompt == "a (cat)1.3, (velvet)1.3"
    [source, _] = await images_of_job(regions.db, job_id)
    before, after = picture(regions, source.sha256), picture(regions, finished.images[0].sha256)
    assert after.crop((0, 0, 32, 16)).tobytes() == before.crop((0, 0, 32, 16)).tobytes()  # A1 and B1, kept


async def test_soft_regeneration_leaves_unmarked_cells_alone(regions: RegionService) -> None:
    job_id = await made_grid(regions)
    await regions.mark(BOB, job_id, [Cell(1, 3, 3)], "dislike", LATTICE)
    await regions.mark(CAROL, job_id, [Cell(1, 3, 3), Cell(1, 3, 2)], "dislike", LATTICE)
    finished = await run(regions, await regions.soft_regenerate(ALICE, PLACE, job_id, 1, LATTICE))
    [source, _] = await images_of_job(regions.db, job_id)
    before, after = picture(regions, source.sha256), picture(regions, finished.images[0].sha256)
    assert after.crop((0, 0, 64, 32)).tobytes() == before.crop((0, 0, 64, 32)).tobytes()
    mask = picture(regions, finished.job.spec.render.mask_sha256)
    assert mask.getpixel((60, 60)) > mask.getpixel((40, 60)) > 0  # two dislikes change more than one


async def test_combine_makes_one_image_from_cells_of_two(regions: RegionService) -> None:
    job_id = await made_grid(regions)
    picks = LATTICE.parse("1:A1-D2 2:A3-D4", images=2)
    prepared = await regions.combine(ALICE, PLACE, job_id, picks, LATTICE)
    assert prepared.render.kind == "img2img" and prepared.render.strength == 0.3
    finished = await run(regions, prepared)
    assert len(finished.images) == 1 and finished.job.spec.action == "combine"
    assert len(finished.job.spec.edit.combined_from) == 2
    with pytest.raises(UserInputError, match="at least two images"):
        await regions.combine(ALICE, PLACE, job_id, LATTICE.parse("1:A1"), LATTICE)


async def test_a_region_plan_survives_the_store(regions: RegionService) -> None:
    from bot.regions.service import parse_plan
    from gpu_worker.scheduling import batch_key

    prepared = await regions.plan(ALICE, PLACE, ImagineOptions("a coast"), "A1-D2: a stormy sky", LATTICE)
    assert prepared.render.regions == tuple(parse_plan("A1-D2: a stormy sky", LATTICE))
    finished = await run(regions, prepared)
    # A restart resumes a job from its stored parameters: the regions come back as they went in.
    again = build_request(finished.job.spec, regions.jobs.files, requester="1")
    assert again.regions == prepared.render.regions and hash(batch_key(again))
