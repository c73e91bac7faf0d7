"""Regions end to end: three members mark one grid in three ways, the heatmap follows, and edits keep liked pixels."""

from __future__ import annotations

import io

from PIL import Image

from bot.regions.lattice import Cell, Lattice
from bot.render.masks import DISLIKE_RGB, LIKE_RGB, differs_only_inside
from bot.store.images import images_of_job
from bot.store.jobs import JobState, jobs_in_states
from loopback import Message
from tests.e2e.conftest import RunningSalon, World


async def finished_grid(world: World, interaction) -> Message:
    return await world.server.wait_for(
        lambda: (
            interaction.original
            if interaction.original and any(c.startswith("salon:u:") for c in interaction.original.custom_ids())
            else None
        ),
        timeout=120,
    )


def picture(message: Message, world: World) -> Image.Image:
    return Image.open(io.BytesIO(world.server.files[message.attachments[0].id].data)).convert("RGB")


async def test_three_members_mark_a_grid_and_edit_it(world: World, salon: RunningSalon) -> None:
    server, db = world.server, salon.bot.db
    alice, bob, carol = (server.driver(world.users[n]) for n in ("alice", "bob", "carol"))
    grid = await finished_grid(world, await alice.slash(world.channel_id, "imagine", {"prompt": "a cat", "count": 2}))
    await salon.settled()
    [job] = await jobs_in_states(db, (JobState.DELIVERED,))

    opened = await bob.click(grid, f"salon:regions:{job.id}")
    assert "Opened job" in (await opened.wait_for_original()).content
    lattice_message = await server.wait_for(
        lambda: next((m for m in server.channel_messages(world.channel_id) if "Mark what you like" in m.content), None)
    )
    assert "2:B3 is cell B3 of image 2" in lattice_message.content
    selects = [c for c in lattice_message.custom_ids() if c.startswith("salon:rsel:")]
    assert selects == [f"salon:rsel:{job.id}:1:4:4", f"salon:rsel:{job.id}:2:4:4"]

    def redrawn_after(previous: int):
        return lambda: server.messages[lattice_message.id].attachments[0].id != previous or None

    # Alice: the select menu, in the default (like) mode.
    first_drawing = server.messages[lattice_message.id].attachments[0].id
    picked = await alice.select(lattice_message, selects[0], ["A1", "B1"])
    assert "Marked 1:A1, 1:B1 as liked" in (await picked.wait_for_original()).content
    await server.wait_for(redrawn_after(first_drawing), timeout=30)

    # Bob: dislike mode, then a regional-indicator reaction (🇰 is the 11th cell: C3 of image 1).
    mode = await bob.click(lattice_message, f"salon:rmode:{job.id}:dislike")
    assert "as disliked" in (await mode.wait_for_original()).content
    second_drawing = server.messages[lattice_message.id].attachments[0].id
    await bob.react(lattice_message, "🇰")
    await server.wait_for(redrawn_after(second_drawing), timeout=30)

    # Carol: text.
    marked = await carol.slash(world.channel_id, "regions mark", {"dislike": "1:C3-D4"})
    assert "disliked 1:C3 (-2)" in (await marked.wait_for_original()).content
    refused = await carol.slash(world.channel_id, "regions mark", {"like": "E9"})
    assert "outside the lattice" in (await refused.wait_for_original()).content

    scores = await salon.bot.services.regions.scores(job.id, Lattice())
    assert scores[Cell(1, 0, 0)] == 1 and scores[Cell(1, 0, 1)] == 1
    assert scores[Cell(1, 2, 2)] == -2 and scores[Cell(1, 3, 3)] == -1

    # The heatmap: green where liked, red where disliked, compared with the plain image.
    heat = await carol.slash(world.channel_id, "regions heatmap")
    heatmap = picture(await heat.wait_for_original(lambda m: m.attachments), world)
    plain = Image.open(io.BytesIO(salon.bot.files.read((await images_of_job(db, job.id))[0].sha256))).convert("RGB")

    def moved_towards(colour: tuple[int, int, int], xy: tuple[int, int]) -> bool:
        """Whether the heatmap's pixel is nearer `colour` than the plain image's (blending moves it there)."""

        def distance(pixel: tuple[int, int, int]) -> int:
            return sum((a - b) ** 2 for a, b in zip(pixel, colour, strict=True))

        before = distance(plain.getpixel(xy))
        return distance(heatmap.getpixel(xy)) < before or before <= 12  # already that colour

    assert moved_towards(LIKE_RGB, (24, 8))  # B1, liked
    assert moved_towards(DISLIKE_RGB, (40, 40))  # C3, disliked

    # Regenerate the disliked cells of image 1: every liked or unmarked pixel stays as it was.
    edit = await alice.slash(world.channel_id, "regions edit", {"action": "regenerate", "image": 1})
    await finished_grid(world, edit)
    await salon.settled()
    edited_job = next(j for j in await jobs_in_states(db, (JobState.DELIVERED,)) if j.kind == "inpaint")
    [edited] = await images_of_job(db, edited_job.id)
    source = (await images_of_job(db, job.id))[0]
    mask = Image.open(io.BytesIO(salon.bot.files.read(edited_job.spec.render.mask_sha256)))
    before = Image.open(io.BytesIO(salon.bot.files.read(source.sha256)))
    after = Image.open(io.BytesIO(salon.bot.files.read(edited.sha256)))
    assert differs_only_inside(before, after, mask)
    assert after.crop((0, 0, 32, 16)).tobytes() == before.crop((0, 0, 32, 16)).tobytes()  # A1 and B1
    assert edited_job.source_image_id == source.id

    # Combine: the sky from image 1, the ground from image 2, one picture.
    combined = await bob.slash(world.channel_id, "regions edit", {"action": "combine", "cells": "1:A1-D2 2:A3-D4"})
    await finished_grid(world, combined)
    await salon.settled()
    combine_job = next(
        j
        for j in await jobs_in_states(db, (JobState.DELIVERED,))
        if j.spec.edit is not None and j.spec.edit.combined_from
    )
    assert len(await images_of_job(db, combine_job.id)) == 1
    assert combine_job.spec.action == "combine"


async def test_a_region_plan_steers_parts_of_a_new_image(world: World, salon: RunningSalon) -> None:
    alice = world.server.driver(world.users["alice"])
    planned = await alice.slash(
        world.channel_id,
        "regions plan",
        {"prompt": "a coast", "plan": "A1-D2: a stormy sky; A3-D4: a calm sea"},
    )
    await finished_grid(world, planned)
    await salon.settled()
    [job] = await jobs_in_states(salon.bot.db, (JobState.DELIVERED,))
    assert job.spec.render.regions == ((0.0, 0.0, 1.0, 0.5, "a stormy sky"), (0.0, 0.5, 1.0, 1.0, "a calm sea"))
    refused = await alice.slash(world.channel_id, "regions plan", {"prompt": "a coast", "plan": "sky"})
    assert "needs cells and a prompt" in (await refused.wait_for_original()).content
