"""Reactions on results: number emoji like a cell, ❤️/👎 like or dislike, 🔁 asks for a reroll."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.jobs.spec import Feature, ImagineOptions, JobSpec, Origin, Render
from bot.reactions.service import REACTION_VOTE, ReactionService
from bot.reactions.store import get_vote, tally_images
from bot.store import Actor, Database, list_events
from bot.store.images import insert_image
from bot.store.jobs import Shown, insert_job
from bot.store.posts import record_post
from bot.store.prompts import insert_prompt
from bot.store.sessions import open_stream

ALICE = Actor("101", "alice")
SPEC = JobSpec(
    Feature.IMAGINE,
    Origin.FRESH,
    ImagineOptions("a door"),
    "a door",
    Render("txt2img", "a door", "", (1, 2, 3), 64, 64, 2, 7.0, "euler", "tiny", 0.75),
)
CAROL = Actor("103", "carol")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[tuple[ReactionService, list[int]]]:
    """Return the service and the image ids of one job shown as a grid (message 500) and image 2 (501)."""
    db = Database(tmp_path / "salon.db")
    await db.open()
    async with db.transaction() as conn:
        session = await open_stream(conn, guild_id="1", channel_id="10", actor=ALICE)
        prompt = await insert_prompt(conn, session_id=session, author_id=ALICE.id, text="a door")
        job = await insert_job(
            conn,
            session_id=session,
            prompt_id=prompt,
            requester_id=ALICE.id,
            guild_id="1",
            shown=Shown("10", "10"),
            spec=SPEC,
        )
        images = [
            await insert_image(
                conn,
                job_id=job,
                session_id=session,
                prompt_id=prompt,
                idx=i,
                seed=i + 1,
                sha256="0" * 64,
                width=64,
                height=64,
            )
            for i in range(3)
        ]
        await record_post(conn, message_id="500", channel_id="10", job_id=job, kind="grid")
        await record_post(conn, message_id="501", channel_id="10", job_id=job, kind="image", image_id=images[1])
    yield ReactionService(db), images
    await db.close()


async def vote(service: ReactionService, image_id: int) -> int | None:
    return await get_vote(service.db, image_id=image_id, voter_id=CAROL.id, kind=REACTION_VOTE)


async def test_number_emoji_likes_that_cell_and_removing_takes_it_back(store) -> None:
    service, images = store
    outcome = await service.react(CAROL, "500", "3️⃣", added=True)
    assert outcome.action == "vote" and outcome.image_ids == (images[2],)
    assert await vote(service, images[2]) == 1 and await vote(service, images[0]) is None
    await service.react(CAROL, "500", "3️⃣", added=False)
    assert await vote(service, images[2]) == 0


async def test_heart_and_thumbs_down_on_a_grid_apply_to_every_image(store) -> None:
    service, images = store
    await service.react(CAROL, "500", "❤️", added=True)
    tallies = await tally_images(service.db, images, REACTION_VOTE)
    assert [t.likes for t in tallies.values()] == [1, 1, 1]
    await service.react(CAROL, "500", "👎", added=True)
    tallies = await tally_images(service.db, images, REACTION_VOTE)
    assert [(t.likes, t.dislikes) for t in tallies.values()] == [(0, 1)] * 3
    # Taking back the heart leaves the later dislike alone.
    await service.react(CAROL, "500", "❤️", added=False)
    assert await vote(service, images[0]) == -1


async def test_heart_on_a_picked_image_likes_that_image_only(store) -> None:
    service, images = store
    outcome = await service.react(CAROL, "501", "❤️", added=True)
    assert outcome.image_ids == (images[1],)
    assert await vote(service, images[0]) is None


async def test_reroll_emoji_asks_for_a_reroll_and_other_messages_are_ignored(store) -> None:
    service, _ = store
    assert (await service.react(CAROL, "500", "🔁", added=True)).action == "reroll"
    assert (await service.react(CAROL, "500", "🔁", added=False)).action == "ignored"
    assert (await service.react(CAROL, "999", "❤️", added=True)).action == "ignored"
    assert (await service.react(CAROL, "500", "🎉", added=True)).action == "ignored"
    assert (await service.react(CAROL, "501", "2️⃣", added=True)).action == "ignored"  # numbers are for grids


async def test_each_reaction_is_an_event_with_its_author(store) -> None:
    service, _ = store
    await service.react(CAROL, "500", "1️⃣", added=True)
    await service.react(CAROL, "500", "1️⃣", added=False)
    events = await list_events(service.db, kinds=("reaction.added", "reaction.removed"))
    assert [(e.kind, e.actor_id, e.payload["emoji"]) for e in events] == [
        ("reaction.added", CAROL.id, "1️⃣"),
        ("reaction.removed", CAROL.id, "1️⃣"),
    ]
    assert service.handled == 2


async def test_toggling_reroll_within_the_debounce_is_one_reroll(store) -> None:
    service, _ = store
    now = [100.0]
    service = ReactionService(service.db, debounce_seconds=10.0, clock=lambda: now[0])
    actions = []
    for _ in range(20):  # twenty toggles in a burst
        actions.append((await service.react(CAROL, "500", "🔁", added=True)).action)
        await service.react(CAROL, "500", "🔁", added=False)
    assert actions.count("reroll") == 1
    assert (await service.react(ALICE, "500", "🔁", added=True)).action == "reroll"  # each member has their own
    now[0] += 10.0
    assert (await service.react(CAROL, "500", "🔁", added=True)).action == "reroll"  # a later one counts again
    rerolls = [e for e in await list_events(service.db, kinds=("reaction.added",)) if e.payload.get("reroll")]
    assert len(rerolls) == 3  # only the counted ones are logged as asking for a reroll
