"""The party service on a store and the in-memory pool: a round's life from prepared to closed, as members see it."""

from __future__ import annotations

import pytest

from bot.errors import UserInputError
from bot.jobs.spec import Place
from bot.parties.round import RoundStatus
from bot.parties.rules import PartyRuleError, Role, TieBreak, VoteMode
from bot.parties.service import PartyService, PartySettings
from bot.parties.store import votes_of_round
from bot.services import Services
from bot.store import Actor, list_events

ALICE, BOB, CAROL, EVE = Actor("1", "alice"), Actor("2", "bob"), Actor("3", "carol"), Actor("9", "eve")
THREAD = "30"
PLACE = Place("1", THREAD, "20")  # the party's thread, under its channel


async def party_in_rounds(parties: PartyService, settings: PartySettings | None = None) -> None:
    """Start a party (alice facilitates), let bob and carol join, and move it on to rounds."""
    await parties.start(
        ALICE, guild_id="1", channel_id="20", thread_id=THREAD, topic="tides", settings=settings or PartySettings()
    )
    await parties.join(BOB, THREAD)
    await parties.join(CAROL, THREAD)
    await parties.advance(ALICE, THREAD, is_admin=False)


async def open_round(services: Services, count: int = 3) -> int:
    """Prepare a round, generate its grid and open its vote; return the round's id."""
    round_row, prepared = await services.parties.prepare_round(ALICE, THREAD, is_admin=False, count=count)
    assert round_row.status == RoundStatus.GENERATING
    queued = await services.jobs.submit(ALICE, PLACE, prepared)
    finished = await services.jobs.wait(queued)
    opened = await services.parties.open_vote(round_row.id, finished.job.id)
    assert opened.status == RoundStatus.VOTING and opened.deadline_at
    return round_row.id


async def test_second_click_changes_vote(services: Services) -> None:
    await party_in_rounds(services.parties)
    round_id = await open_round(services)
    assert await services.parties.vote(BOB, round_id, 0) == [0]
    assert await services.parties.vote(BOB, round_id, 2) == [2]
    ballots = await votes_of_round(services.jobs.db, round_id)
    assert len(ballots[BOB.id]) == 1
    [moved] = [e for e in await list_events(services.jobs.db, kinds=("party.voted",))][-1:]
    assert moved.payload["changed_from"] and moved.payload["changed_from"] != moved.payload["image_ids"]


async def test_approval_votes_add_up_and_a_second_click_takes_one_back(services: Services) -> None:
    await party_in_rounds(services.parties, PartySettings(vote_mode=VoteMode.APPROVAL))
    round_id = await open_round(services)
    await services.parties.vote(CAROL, round_id, 0)
    assert await services.parties.vote(CAROL, round_id, 2) == [0, 2]
    assert await services.parties.vote(CAROL, round_id, 0) == [2]


async def test_only_members_vote_and_only_on_images_the_round_has(services: Services) -> None:
    await party_in_rounds(services.parties)
    round_id = await open_round(services)
    with pytest.raises(PartyRuleError):
        await services.parties.vote(EVE, round_id, 0)
    with pytest.raises(UserInputError, match="Choose an image from 1 to 3"):
        await services.parties.vote(BOB, round_id, 3)
    assert await votes_of_round(services.jobs.db, round_id) == {}


async def test_closing_counts_members_poll_votes_and_names_the_winner(services: Services) -> None:
    await party_in_rounds(services.parties)
    round_id = await open_round(services)
    await services.parties.vote(BOB, round_id, 0)
    result = await services.parties.close_round(round_id, ALICE, poll_votes={1: [CAROL.id, EVE.id], 2: [ALICE.id]})
    assert result.round.status == RoundStatus.CLOSED
    assert result.outcome.counts == {0: 1, 1: 1, 2: 1}  # eve is not a member: her poll vote is ignored
    assert result.winner is not None and result.winner.id == result.round.winner_image_id
    assert result.party.thread_id == THREAD
    [counted] = await list_events(services.jobs.db, kinds=("party.poll_counted",))
    assert counted.payload["voters"] == sorted([CAROL.id, ALICE.id]) and counted.payload["ignored"] == [EVE.id]


async def test_poll_votes_of_non_members_are_ignored(services: Services) -> None:
    await party_in_rounds(services.parties)
    round_id = await open_round(services)
    result = await services.parties.close_round(round_id, poll_votes={0: [EVE.id]})
    assert result.winner is None and result.outcome.reason == "nobody voted"
    assert await votes_of_round(services.jobs.db, round_id) == {}


async def test_a_closed_vote_takes_no_more_votes_and_cannot_close_again(services: Services) -> None:
    await party_in_rounds(services.parties)
    round_id = await open_round(services)
    await services.parties.close_round(round_id, ALICE)
    with pytest.raises(PartyRuleError, match="Voting on this round is closed"):
        await services.parties.vote(BOB, round_id, 0)
    with pytest.raises(PartyRuleError, match="already closed"):
        await services.parties.close_round(round_id, ALICE)


async def test_only_the_facilitator_or_an_admin_closes_a_vote_early(services: Services) -> None:
    await party_in_rounds(services.parties)
    round_id = await open_round(services)
    with pytest.raises(PartyRuleError):
        await services.parties.close_round(round_id, BOB)
    assert (await services.parties.close_round(round_id, BOB, is_admin=True)).round.status == RoundStatus.CLOSED


async def test_a_tie_goes_to_the_art_experts_pick_when_the_party_chose_so(services: Services) -> None:
    await party_in_rounds(services.parties, PartySettings(tie_break=TieBreak.ART_EXPERT))
    await services.parties.assign_role(ALICE, THREAD, BOB, Role.ART_EXPERT, is_admin=False)
    round_id = await open_round(services)
    await services.parties.vote(BOB, round_id, 2)
    await services.parties.vote(CAROL, round_id, 0)
    result = await services.parties.close_round(round_id, ALICE)
    assert result.outcome.tied == (0, 2) and result.outcome.winner == 2


async def test_the_next_round_starts_from_the_winner_and_a_vote_must_close_first(services: Services) -> None:
    await party_in_rounds(services.parties)
    round_id = await open_round(services)
    with pytest.raises(PartyRuleError, match="still generating or voting"):
        await services.parties.prepare_round(ALICE, THREAD, is_admin=False)
    await services.parties.vote(BOB, round_id, 1)
    winner = (await services.parties.close_round(round_id, ALICE)).winner
    assert winner is not None
    _, prepared = await services.parties.prepare_round(ALICE, THREAD, is_admin=False)
    assert prepared.spec.lineage is not None and prepared.spec.lineage.source_image_id == winner.id


async def test_a_failed_round_frees_the_party_for_another(services: Services) -> None:
    await party_in_rounds(services.parties)
    round_row, _ = await services.parties.prepare_round(ALICE, THREAD, is_admin=False)
    await services.parties.round_failed(round_row.id, "the worker ran out of memory")
    again, _ = await services.parties.prepare_round(ALICE, THREAD, is_admin=False)
    assert again.id != round_row.id
    [failed] = await list_events(services.jobs.db, kinds=("party.round_failed",))
    assert failed.payload["reason"] == "the worker ran out of memory"


async def test_a_party_command_in_the_channel_points_to_the_partys_thread(services: Services) -> None:
    await party_in_rounds(services.parties)
    with pytest.raises(PartyRuleError, match=r"the party on \*\*tides\*\* is in <#30>"):
        await services.parties.join(EVE, "20")  # the parent channel, not the thread
    with pytest.raises(PartyRuleError, match="There is no party in this thread"):
        await services.parties.join(EVE, "99")


async def test_a_member_refused_a_fragment_is_told_what_a_fragment_needs(services: Services) -> None:
    await party_in_rounds(services.parties)
    with pytest.raises(PartyRuleError, match="can turn associations into a prompt fragment"):
        await services.parties.make_fragment(CAROL, THREAD, "sea glass", from_associations=[], is_admin=False)


async def test_party_texts_follow_the_servers_blocklist_however_disguised(services: Services) -> None:
    mod = Actor("900", "mod")
    await services.themes.block(mod, "1", "gore")
    blocked = "blocked by the moderators of this server"
    with pytest.raises(UserInputError, match=blocked):
        await services.parties.start(
            ALICE, guild_id="1", channel_id="20", thread_id=THREAD, topic="ｇｏｒｅ", settings=PartySettings()
        )
    await party_in_rounds(services.parties)
    with pytest.raises(UserInputError, match=blocked):
        await services.parties.associate(BOB, THREAD, "g\u200bore")
    with pytest.raises(UserInputError, match=blocked):
        await services.parties.propose(BOB, THREAD, "a calm sea", negative="gоre")  # a Cyrillic о
    proposal = await services.parties.propose(BOB, THREAD, "a calm sea at gorey dawn")  # not the word
    await services.themes.block(mod, "1", "dawn")
    # Blocked since it was proposed: committing it is refused, and nothing of it is lost.
    with pytest.raises(UserInputError, match="`dawn`"):
        await services.parties.commit(ALICE, THREAD, proposal_id=proposal.id)
    assert [p.text for p in await services.parties.open_proposals(THREAD)] == ["a calm sea at gorey dawn"]
    with pytest.raises(UserInputError, match=blocked):
        await services.parties.commit(ALICE, THREAD, text="GORE at noon")
