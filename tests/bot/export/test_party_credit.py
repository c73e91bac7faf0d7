"""Who a party round's images belong to: everyone who shaped the round is credited; whose words they show must agree."""

from __future__ import annotations

from bot.export.story import party_story
from bot.jobs.spec import Place
from bot.parties.service import PartySettings
from bot.services import Services
from bot.store import Actor

ALICE, BOB, CAROL = Actor("1", "alice"), Actor("2", "bob"), Actor("3", "carol")
THREAD, PLACE = "30", Place("1", "30", "20")


async def a_voted_round(services: Services) -> None:
    parties = services.parties
    await parties.start(ALICE, guild_id="1", channel_id="20", thread_id=THREAD, topic="tides", settings=PartySettings())
    for member in (BOB, CAROL):
        await parties.join(member, THREAD)
    proposal = await parties.propose(CAROL, THREAD, "tide pools at dawn")
    await parties.commit(ALICE, THREAD, proposal_id=proposal.id)
    await parties.advance(ALICE, THREAD, is_admin=False)
    round_row, prepared = await parties.prepare_round(ALICE, THREAD, is_admin=False, count=2)
    finished = await services.jobs.wait(await services.jobs.submit(ALICE, PLACE, prepared))
    await parties.open_vote(round_row.id, finished.job.id)
    await parties.vote(BOB, round_row.id, 1)
    await parties.close_round(round_row.id, ALICE)


async def test_round_images_credit_the_prompts_author_its_committer_and_every_voter(services: Services) -> None:
    await a_voted_round(services)
    story = await party_story(services.jobs.db, THREAD)
    rounds = [image for image in story.images if image.action == "party-round"]
    assert rounds and all(image.author_ids == (ALICE.id, CAROL.id, BOB.id) for image in rounds)
    assert rounds[0].prompt_author_id == CAROL.id and rounds[0].co_author_names == ("carol", "bob")


async def test_a_round_image_needs_its_runner_and_its_prompts_author_to_agree(services: Services) -> None:
    await a_voted_round(services)
    story = await party_story(services.jobs.db, THREAD)
    count = len(story.images)
    assert story.published({ALICE.id, BOB.id}).images == []  # carol wrote the prompt: her words are shown
    assert story.published({ALICE.id}).left_out == count
    shown = story.published({ALICE.id, CAROL.id})
    assert len(shown.images) == count  # bob voted but did not agree: not named, and not a veto
    assert all(image.co_author_names == ("carol",) for image in shown.images)
