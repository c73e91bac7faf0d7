"""What one member may add to one party in bulk: associations and proposals, each a setting."""

from __future__ import annotations

import asyncio

import pytest

from bot.parties.rules import PartyRuleError
from bot.parties.service import PartyLimits, PartyService, PartySettings
from bot.store import Actor

ALICE, BOB = Actor("1", "alice"), Actor("2", "bob")


async def test_a_member_over_the_limit_is_told_it_and_keeps_what_they_added(parties: PartyService) -> None:
    parties = PartyService(
        parties.db, parties.files, parties.composer, PartyLimits(associations_per_member=3, proposals_per_member=2)
    )
    await parties.start(ALICE, guild_id="1", channel_id="2", thread_id="3", topic="tides", settings=PartySettings())
    await parties.join(BOB, "3")
    # All at once: the count is taken in the inserting transaction, so the limit holds under concurrency.
    outcomes = await asyncio.gather(
        *(parties.associate(ALICE, "3", f"wave {n}") for n in range(6)), return_exceptions=True
    )
    refusals = [o for o in outcomes if isinstance(o, PartyRuleError)]
    assert len(refusals) == 3 and "You have added 3 associations to this party, the most one member may" in str(
        refusals[0]
    )
    state = await parties.associate(BOB, "3", "foam")  # each member has their own limit
    assert len([a for a in state.associations if a.author_id == ALICE.id]) == 3  # what she added stays
    for n in range(2):
        await parties.propose(ALICE, "3", f"the sea, take {n}")
    with pytest.raises(PartyRuleError, match="You have added 2 proposals to this party"):
        await parties.propose(ALICE, "3", "the sea, take 3")
    await parties.propose(BOB, "3", "a quiet sea")
