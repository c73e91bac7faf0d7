"""Generating together in a channel, end to end through discord.py and the loopback Discord.

Every button and reaction is used by someone other than the requester, and the store is checked
after each step.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from bot.reactions.service import REACTION_VOTE
from bot.reactions.store import get_vote
from bot.render.png_metadata import read_parameters
from bot.settings import Settings
from bot.store import list_events
from bot.store.images import images_of_job
from bot.store.jobs import JobState, get_job, jobs_in_states
from bot.store.posts import get_post
from loopback import Message
from tests.e2e.conftest import RunningSalon, World, add_moderator


async def grid_of(world: World, interaction) -> Message:
    """Return the response message once it shows a finished grid (an attachment and U buttons)."""
    return await world.server.wait_for(
        lambda: (
            interaction.original
            if interaction.original and any(c.startswith("salon:u:") for c in interaction.original.custom_ids())
            else None
        ),
        timeout=120,
    )


async def imagine(world: World, user: str, options: dict, **kwargs) -> Message:
    interaction = await world.server.driver(world.users[user]).slash(world.channel_id, "imagine", options, **kwargs)
    return await grid_of(world, interaction)


async def refusal(world: World, interaction) -> str:
    """Return the text of the private reply the user got instead of a result."""
    message = await world.server.wait_for(
        lambda: next((m for m in interaction.messages if m.ephemeral and m.content), None), timeout=30
    )
    return message.content


async def test_options_flags_and_style_shape_the_job_and_png_metadata(world: World, salon: RunningSalon) -> None:
    message = await imagine(
        world, "alice", {"prompt": "a red kite --no fog --seed 5 --ar 16:9", "count": 2, "style": "watercolor"}
    )
    db = salon.bot.services.jobs.db
    await salon.settled()
    [job] = await jobs_in_states(db, (JobState.DELIVERED,))
    assert job.spec.render.seeds == (5, 6)
    assert "fog" in job.spec.render.negative_prompt
    assert job.spec.render.width > job.spec.render.height  # 16:9
    assert "a red kite" in job.spec.render.prompt and "watercolor" in job.spec.render.prompt.lower()
    assert job.spec.user_prompt == "a red kite"
    ids = message.custom_ids()
    for expected in ("salon:u:", "salon:v:", "salon:reroll:", "salon:remix:", "salon:info:", "salon:delete:"):
        assert any(cid.startswith(expected) for cid in ids), expected
    assert len([cid for cid in ids if cid.startswith("salon:u:")]) == 2
    image = (await images_of_job(db, job.id))[0]
    chunks = read_parameters(salon.bot.files.read(image.sha256))
    assert "Seed: 5" in chunks["parameters"] and json.loads(chunks["salon"])["job_id"] == job.id
    grid_file = world.server.files[message.attachments[0].id].data
    assert json.loads(read_parameters(grid_file)["salon"])["grid"] is True


async def test_style_and_model_autocomplete_offer_names(world: World, salon: RunningSalon) -> None:
    alice = world.server.driver(world.users["alice"])
    styles = await alice.autocomplete(world.channel_id, "imagine", {"prompt": "x", "style": "wat"}, focused="style")
    assert styles[0]["value"] == "watercolor"
    models = await alice.autocomplete(world.channel_id, "imagine", {"prompt": "x", "model": ""}, focused="model")
    assert [choice["value"] for choice in models] == ["tiny"]


async def test_a_models_file_offers_aliases_with_descriptions_and_never_a_path(
    world: World, salon_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    models = tmp_path / "models.toml"
    models.write_text(
        'default = "tiny"\n[models.tiny]\nsource = "tiny"\ndescription = "Small random weights"\n'
        '[models.fast]\nsource = "/srv/weights/fast-v2.safetensors"\ndescription = "One step, no guidance"\n'
        "[models.fast.defaults]\nsteps = 1\nguidance = 0.0\n"
    )
    running = RunningSalon(salon_settings(models_file=models))
    await running.start()
    try:
        alice = world.server.driver(world.users["alice"])
        offered = await alice.autocomplete(
            world.channel_id, "imagine", {"prompt": "x", "model": "step"}, focused="model"
        )
        assert offered == [{"name": "fast · One step, no guidance", "value": "fast"}]
        grid = await imagine(world, "alice", {"prompt": "a red kite", "model": "fast", "count": 1})
        await running.settled()
        [job] = await jobs_in_states(running.bot.db, (JobState.DELIVERED,))
        assert (job.spec.render.model, job.spec.render.steps, job.spec.render.guidance) == ("fast", 1, 0.0)
        info = await (await alice.click(grid, grid.custom_id("salon:info:"))).wait_for_original()
        assert "model:fast" in info.content
        refused = await alice.slash(world.channel_id, "imagine", {"prompt": "x", "model": "/srv/weights/fast-v2"})
        text = await refusal(world, refused)
        assert "`fast`" in text and "`tiny`" in text
        # The source stays with the admin: not in the channel, the result or its Info.
        shown = [m.content for m in world.server.channel_messages(world.channel_id)] + [grid.content, info.content]
        assert not any("/srv/weights" in content for content in shown)
    finally:
        await running.stop()


async def test_every_button_works_for_another_user(world: World, salon: RunningSalon) -> None:
    db = salon.bot.services.jobs.db
    grid = await imagine(world, "alice", {"prompt": "a lighthouse", "count": 2, "seed": 100})
    await salon.settled()
    [first] = await jobs_in_states(db, (JobState.DELIVERED,))
    bob = world.server.driver(world.users["bob"])

    # U2: the second image at full size, in a message reactions can find.
    pick = await bob.click(grid, grid.custom_id(f"salon:u:{first.id}:1"))
    picked = await pick.wait_for_original(lambda m: m.attachments)
    assert "Image 2 of job" in picked.content and "`101`" in picked.content
    full = Image.open(io.BytesIO(world.server.files[picked.attachments[0].id].data))
    assert full.size == (64, 64)
    await asyncio.wait_for(salon.bot.services.jobs.wait_for_post(str(picked.id)), 30)
    post = await get_post(db, str(picked.id))
    assert post is not None and post.kind == "image" and post.image_id == (await images_of_job(db, first.id))[1].id

    # V1: image-to-image from the first image, recorded as a variation of it.
    vary = await bob.click(grid, grid.custom_id(f"salon:v:{first.id}:0"))
    await grid_of(world, vary)
    # Reroll: same prompt, new seeds.
    reroll = await bob.click(grid, grid.custom_id("salon:reroll:"))
    await grid_of(world, reroll)
    # Remix: a form with the prompt, edited before generating.
    remix = await bob.click(grid, grid.custom_id("salon:remix:"))
    modal = await remix.wait_for_modal()
    inputs = [c["components"][0] for c in modal["components"]]
    assert inputs[0]["value"] == "a lighthouse"
    submitted = await bob.submit_modal(remix, {inputs[0]["custom_id"]: "a lighthouse in a storm"})
    await grid_of(world, submitted)

    await salon.settled()
    jobs = {job.spec.action: job for job in await jobs_in_states(db, (JobState.DELIVERED,)) if job.id != first.id}
    assert set(jobs) == {"variation", "reroll", "remix"}
    variation = jobs["variation"]
    assert variation.kind == "img2img" and variation.parent_job_id == first.id
    assert variation.source_image_id == (await images_of_job(db, first.id))[0].id
    assert variation.requester_id == str(world.users["bob"])
    assert jobs["reroll"].spec.render.prompt == first.spec.render.prompt
    assert jobs["reroll"].spec.render.seeds != first.spec.render.seeds
    assert jobs["remix"].spec.render.prompt == "a lighthouse in a storm"
    kinds = [event.kind for event in await list_events(db, kinds=("image.picked",))]
    assert kinds == ["image.picked"]

    # Info: every parameter and a command that reproduces the grid.
    info = await bob.click(grid, grid.custom_id("salon:info:"))
    shown = await info.wait_for_original()
    assert shown.ephemeral and "/imagine prompt:a lighthouse" in shown.content and "seed:100" in shown.content

    # Delete: refused for bob, done for alice; the rows stay as history.
    refused = await bob.click(grid, grid.custom_id("salon:delete:"))
    assert "Only the person who asked" in await refusal(world, refused)
    assert grid.id in {m.id for m in world.server.channel_messages(world.channel_id)}
    alice = world.server.driver(world.users["alice"])
    deleted = await alice.click(grid, grid.custom_id("salon:delete:"))
    await deleted.wait_for_original()
    await world.server.wait_for(lambda: grid.id not in {m.id for m in world.server.channel_messages(world.channel_id)})
    stored = await get_job(db, first.id)
    assert stored is not None and stored.deleted_at is not None
    assert len(await images_of_job(db, first.id)) == 2


async def test_reactions_record_likes_and_reroll(world: World, salon: RunningSalon) -> None:
    db = salon.bot.services.jobs.db
    grid = await imagine(world, "alice", {"prompt": "a blue door", "count": 2})
    await asyncio.wait_for(salon.bot.services.jobs.wait_for_post(str(grid.id)), 30)
    await salon.settled()
    [job] = await jobs_in_states(db, (JobState.DELIVERED,))
    images = await images_of_job(db, job.id)
    carol = world.server.driver(world.users["carol"])
    carol_id = str(world.users["carol"])

    async def vote(image_id: int) -> int | None:
        return await get_vote(db, image_id=image_id, voter_id=carol_id, kind=REACTION_VOTE)

    handled = salon.bot.services.reactions
    await carol.react(grid, "2️⃣")
    await asyncio.wait_for(handled.wait_handled(1), 30)
    assert await vote(images[1].id) == 1 and await vote(images[0].id) is None
    await carol.react(grid, "👎")
    await asyncio.wait_for(handled.wait_handled(2), 30)
    assert await vote(images[0].id) == -1 and await vote(images[1].id) == -1
    await carol.unreact(grid, "👎")
    await asyncio.wait_for(handled.wait_handled(3), 30)
    assert await vote(images[0].id) == 0
    [added, *_] = await list_events(db, kinds=("reaction.added",))
    assert added.actor_id == carol_id and added.payload["emoji"] == "2️⃣"

    await carol.react(grid, "🔁")

    def rerolled() -> Message | None:
        return next(
            (
                m
                for m in world.server.channel_messages(world.channel_id)
                if m.id != grid.id and any(c.startswith("salon:u:") for c in m.custom_ids())
            ),
            None,
        )

    await world.server.wait_for(rerolled, timeout=120)
    await salon.settled()
    [_, again] = await jobs_in_states(db, (JobState.DELIVERED,))
    assert again.requester_id == carol_id and again.parent_job_id == job.id


async def test_progress_shows_and_cancel_is_for_the_requester(world: World, salon_settings) -> None:
    running = RunningSalon(salon_settings(steps=150))
    await running.start()
    running.pool.freeze_after(3)  # the job runs, shows its progress and waits there for the cancel
    try:
        alice = world.server.driver(world.users["alice"])
        interaction = await alice.slash(world.channel_id, "imagine", {"prompt": "a long walk", "count": 1})
        message = await world.server.wait_for(
            lambda: interaction.original if interaction.original and "step" in interaction.original.content else None,
            timeout=60,
        )
        assert "Job #" in message.content and ("▰" in message.content or "▱" in message.content)
        cancel_id = message.custom_id("salon:cancel:")
        bob = world.server.driver(world.users["bob"])
        refused = await bob.click(message, cancel_id)
        assert "Only the person who asked" in await refusal(world, refused)
        stopped = await alice.click(message, cancel_id)
        await stopped.wait_for_original()
        running.pool.release()
        await world.server.wait_for(lambda: "was cancelled" in interaction.original.content, timeout=60)
        [job] = await jobs_in_states(running.bot.services.jobs.db, (JobState.CANCELLED,))
        kinds = [event.kind for event in await list_events(running.bot.services.jobs.db, subject=("job", job.id))]
        assert "job.cancel_requested" in kinds and kinds[-1] == "job.cancelled"
    finally:
        await running.stop()


async def test_queue_lists_the_callers_jobs(world: World, salon_settings) -> None:
    running = RunningSalon(salon_settings(steps=150))
    await running.start()
    running.pool.freeze_after(1)  # both jobs stay active while /queue lists them
    try:
        alice = world.server.driver(world.users["alice"])
        for prompt in ("first long job", "second long job"):
            started = await alice.slash(world.channel_id, "imagine", {"prompt": prompt, "count": 1})
            await world.server.wait_for(lambda s=started: s.original and "Job #" in s.original.content, timeout=60)
        listing = await alice.slash(world.channel_id, "queue")
        shown = await listing.wait_for_original()
        assert shown.ephemeral and "first long job" in shown.content and "second long job" in shown.content
        bob = await world.server.driver(world.users["bob"]).slash(world.channel_id, "queue")
        assert "You have nothing in the queue" in (await bob.wait_for_original()).content
    finally:
        running.pool.release()
        await running.stop()


async def test_theme_shapes_prompts_and_only_moderators_set_it(world: World, salon: RunningSalon) -> None:
    mod = world.server.driver(add_moderator(world))
    alice = world.server.driver(world.users["alice"])
    denied = await alice.slash(world.channel_id, "theme set", {"preset": "cats"})
    assert "Manage Channels permission" in await refusal(world, denied)
    unknown = await mod.slash(world.channel_id, "theme set", {"preset": "catz"})
    assert "Did you mean `cats`" in await refusal(world, unknown)
    done = await mod.slash(world.channel_id, "theme set", {"preset": "cats"})
    assert "Cats and kittens" in (await done.wait_for_original()).content
    shown = await (await alice.slash(world.channel_id, "theme show")).wait_for_original()
    assert not shown.ephemeral and "every picture has a cat" in shown.content

    dog = await alice.slash(world.channel_id, "imagine", {"prompt": "a dog on a sofa"})
    assert "does not allow `dog`" in await refusal(world, dog)
    await imagine(world, "alice", {"prompt": "a kitten on a sofa", "count": 1})
    db = salon.bot.services.jobs.db
    await salon.settled()
    [job] = await jobs_in_states(db, (JobState.DELIVERED,))
    assert job.spec.render.prompt.startswith("a kitten on a sofa, a cat") and "dog" in job.spec.render.negative_prompt
    assert job.spec.theme == "cats"

    await (await mod.slash(world.channel_id, "theme clear")).wait_for_original()
    cleared = await (await alice.slash(world.channel_id, "theme show")).wait_for_original()
    assert "no theme" in cleared.content


async def test_blocklist_refuses_privately_and_queues_nothing(world: World, salon: RunningSalon) -> None:
    mod = world.server.driver(add_moderator(world))
    await (await mod.slash(world.channel_id, "blocklist add", {"term": "gore"})).wait_for_original()
    alice = world.server.driver(world.users["alice"])
    blocked = await alice.slash(world.channel_id, "imagine", {"prompt": "lots of GORE"})
    assert "blocked by the moderators" in await refusal(world, blocked)
    assert world.server.channel_messages(world.channel_id) == []
    assert await jobs_in_states(salon.bot.services.jobs.db, tuple(JobState)) == []


@pytest.mark.parametrize(
    ("options", "attachments", "expected"),
    [
        ({"prompt": "a cat --steps 500"}, None, "choose 1 to 150"),
        ({"prompt": "a cat --color red"}, None, "--no"),
        ({"prompt": "a cat", "style": "watercolour"}, None, "Did you mean `watercolor`"),
        ({"prompt": "a cat", "model": "sdxl"}, None, "There is no model named 'sdxl'"),
        ({"prompt": "a cat", "width": 100}, None, "multiple of 8"),
        ({"prompt": "a cat"}, {"image": ("notes.txt", b"not a picture")}, "not an image"),
    ],
)
async def test_bad_input_gets_a_private_message_naming_the_limit(
    world: World, salon: RunningSalon, options: dict, attachments: dict | None, expected: str
) -> None:
    alice = world.server.driver(world.users["alice"])
    interaction = await alice.slash(world.channel_id, "imagine", options, attachments=attachments)
    assert expected in await refusal(world, interaction)
    assert not [m for m in world.server.channel_messages(world.channel_id) if m.attachments]
    assert await jobs_in_states(salon.bot.services.jobs.db, tuple(JobState)) == []


async def test_content_image_makes_an_image_to_image_job(world: World, salon: RunningSalon) -> None:
    picture = io.BytesIO()
    Image.new("RGB", (96, 64), (10, 120, 200)).save(picture, format="JPEG")
    await imagine(
        world,
        "alice",
        {"prompt": "the same, at night", "count": 1, "strength": 0.5},
        attachments={"image": ("photo.jpg", picture.getvalue())},
    )
    await salon.settled()
    [job] = await jobs_in_states(salon.bot.services.jobs.db, (JobState.DELIVERED,))
    assert job.kind == "img2img" and job.spec.render.strength == 0.5
    assert salon.bot.files.path_for(job.spec.render.init_image_sha256).exists()
    assert job.spec.render.width > job.spec.render.height  # the picture's shape


async def test_buttons_work_after_a_restart(world: World, salon: RunningSalon) -> None:
    grid = await imagine(world, "alice", {"prompt": "a red kite", "count": 2})
    await salon.stop()
    restarted = RunningSalon(salon.settings)
    await restarted.start()
    try:
        bob = world.server.driver(world.users["bob"])
        reroll = await bob.click(grid, grid.custom_id("salon:reroll:"))
        await grid_of(world, reroll)
        pick = await bob.click(grid, grid.custom_id("salon:u:"))
        assert (await pick.wait_for_original(lambda m: m.attachments)).attachments
        await restarted.settled()
        jobs = await jobs_in_states(restarted.bot.services.jobs.db, (JobState.DELIVERED,))
        assert len(jobs) == 2 and jobs[1].parent_job_id == jobs[0].id
    finally:
        await restarted.stop()
