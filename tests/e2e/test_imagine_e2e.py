"""/imagine end to end: discord.py against the loopback Discord, a real tiny pipeline, the store."""

from __future__ import annotations

import asyncio
import io

from PIL import Image

from bot.store import list_events
from bot.store.images import images_of_job
from bot.store.jobs import JobState, jobs_in_states
from tests.e2e.conftest import RunningSalon, World, shows_grid


def message_job(ids: list[str]) -> str:
    """Return the job id named by a result's Info button."""
    return next(i for i in ids if i.startswith("salon:info:")).rsplit(":", 1)[1]


def grid_of(world: World, message) -> Image.Image:
    [attachment] = message.attachments
    return Image.open(io.BytesIO(world.server.files[attachment.id].data))


async def test_imagine_defers_generates_posts_grid_and_records(world: World, salon: RunningSalon) -> None:
    alice = world.server.driver(world.users["alice"])
    interaction = await alice.slash(world.channel_id, "imagine", {"prompt": "a lighthouse at dusk", "seed": 7})
    await world.server.wait_for(lambda: interaction.acknowledged or interaction.refused, timeout=10)
    assert interaction.callback_type == 5 and not interaction.refused  # deferred, within 3 s
    message = await world.server.wait_for(
        lambda: interaction.original if shows_grid(interaction.original) else None,
        timeout=120,
    )
    assert "a lighthouse at dusk" in message.content and "`7`" in message.content
    grid = grid_of(world, message)
    assert grid.size == (128, 128)
    ids = [c["custom_id"] for row in message.components for c in row["components"]]
    assert ids[:4] == [f"salon:u:{message_job(ids)}:{i}" for i in range(4)] and any(
        i.startswith("salon:info:") for i in ids
    )

    db = salon.bot.services.jobs.db
    # The grid is shown first, then its delivery is recorded.
    await asyncio.wait_for(salon.bot.services.jobs.wait_for_post(str(message.id)), 30)
    await salon.settled()
    [job] = await jobs_in_states(db, (JobState.DELIVERED,))
    assert job.requester_id == str(world.users["alice"]) and job.spec.render.seeds == (7, 8, 9, 10)
    assert job.reply_message_id == str(message.id)
    images = await images_of_job(db, job.id)
    assert [image.seed for image in images] == [7, 8, 9, 10]
    for image in images:
        assert salon.bot.files.path_for(image.sha256).exists()
    kinds = [event.kind for event in await list_events(db, channel_id=str(world.channel_id))]
    assert kinds == [
        "session.opened",
        "job.queued",
        "job.started",
        *["image.created"] * 4,
        "job.generated",
        "job.delivered",
    ]


async def test_bad_prompt_gets_private_reason_and_queues_nothing(world: World, salon: RunningSalon) -> None:
    bob = world.server.driver(world.users["bob"])
    interaction = await bob.slash(world.channel_id, "imagine", {"prompt": "   "})
    await world.server.wait_for(lambda: interaction.acknowledged, timeout=10)
    assert interaction.callback_type == 4
    assert interaction.original is not None and interaction.original.ephemeral
    assert "The prompt is empty" in interaction.original.content
    assert world.server.channel_messages(world.channel_id) == []
    assert await jobs_in_states(salon.bot.services.jobs.db, tuple(JobState)) == []


async def test_info_button_works_for_another_user_after_restart(
    world: World, salon: RunningSalon, salon_settings
) -> None:
    alice = world.server.driver(world.users["alice"])
    interaction = await alice.slash(world.channel_id, "imagine", {"prompt": "a red kite", "count": 2})
    message = await world.server.wait_for(
        lambda: interaction.original if shows_grid(interaction.original) else None,
        timeout=120,
    )
    custom_id = next(
        c["custom_id"]
        for row in message.components
        for c in row["components"]
        if c["custom_id"].startswith("salon:info")
    )
    await salon.stop()
    restarted = RunningSalon(salon.settings)
    await restarted.start()
    try:
        bob = world.server.driver(world.users["bob"])
        click = await bob.click(message, custom_id)
        await world.server.wait_for(lambda: click.acknowledged, timeout=10)
        assert click.original is not None and click.original.ephemeral
        assert "a red kite" in click.original.content and "Seeds: 1:" in click.original.content
    finally:
        await restarted.stop()


async def test_job_unfinished_at_shutdown_is_resumed_and_posted_after_restart(world: World, salon_settings) -> None:
    settings = salon_settings(steps=60)
    first = RunningSalon(settings)
    await first.start()
    first.pool.freeze_after(2)  # the job is running when Salon stops, without racing its end
    alice = world.server.driver(world.users["alice"])
    interaction = await alice.slash(world.channel_id, "imagine", {"prompt": "resume me", "count": 1})
    await world.server.wait_for(lambda: interaction.original and "Job #" in interaction.original.content, timeout=30)
    await first.stop()
    second = RunningSalon(settings)
    await second.start()
    try:
        # The interaction token is still valid, so the original message itself becomes the grid.
        message = await world.server.wait_for(
            lambda: interaction.original if shows_grid(interaction.original) else None, timeout=120
        )
        await second.settled()
        others = [m for m in world.server.channel_messages(world.channel_id) if m.id != message.id]
        assert not any(shows_grid(m) for m in others), "the grid is posted once"
        # A result that waited longer than SALON_PING_AFTER_SECONDS also pings its requester.
        assert all(f"<@{world.users['alice']}>" in m.content and "is ready" in m.content for m in others)
        assert "resume me" in message.content
        db = second.bot.services.jobs.db
        [job] = await jobs_in_states(db, (JobState.DELIVERED,))
        kinds = [event.kind for event in await list_events(db, subject=("job", job.id))]
        assert kinds == [
            "job.queued",
            "job.started",
            "job.suspended",
            "job.resumed",
            "job.started",
            "job.generated",
            "job.delivered",
        ]
    finally:
        await second.stop()
