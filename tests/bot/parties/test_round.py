"""A party round's life and the rules of its vote, without a store: each test reads as the rule it checks."""

from __future__ import annotations

import pytest

from bot.errors import UserInputError
from bot.parties.round import PartyRound, RoundStatus, check_move
from bot.parties.rules import PartyMember, PartyRuleError, Role, TieBreak, VoteMode

IMAGES = (11, 12, 13, 14)
ALICE, BOB, CAROL, EVE = "1", "2", "3", "9"
MEMBERS = {
    ALICE: PartyMember(ALICE, frozenset({Role.FACILITATOR})),
    BOB: PartyMember(BOB, frozenset({Role.ART_EXPERT})),
    CAROL: PartyMember(CAROL, frozenset()),
    "4": PartyMember("4", frozenset(), active=False),
}


def voting(**ballots: tuple[int, ...]) -> PartyRound:
    return PartyRound(7, "round", RoundStatus.VOTING, IMAGES, dict(ballots))


def test_a_round_moves_from_generating_to_voting_to_closed() -> None:
    assert check_move(RoundStatus.GENERATING, RoundStatus.VOTING) is RoundStatus.VOTING
    assert check_move(RoundStatus.VOTING, RoundStatus.CLOSED) is RoundStatus.CLOSED
    assert check_move(RoundStatus.GENERATING, RoundStatus.FAILED) is RoundStatus.FAILED


@pytest.mark.parametrize(
    ("current", "to"),
    [
        (RoundStatus.GENERATING, RoundStatus.CLOSED),  # a vote that never opened cannot close
        (RoundStatus.VOTING, RoundStatus.GENERATING),
        (RoundStatus.VOTING, RoundStatus.FAILED),  # a shown grid does not fail afterwards
        (RoundStatus.FAILED, RoundStatus.VOTING),
        (RoundStatus.CLOSED, RoundStatus.VOTING),
    ],
)
def test_a_round_never_moves_backwards_or_skips_its_vote(current: RoundStatus, to: RoundStatus) -> None:
    with pytest.raises(PartyRuleError, match="cannot become"):
        check_move(current, to)


def test_closing_a_closed_vote_says_it_is_already_closed() -> None:
    with pytest.raises(PartyRuleError, match="already closed"):
        check_move(RoundStatus.CLOSED, RoundStatus.CLOSED)


def test_first_click_votes_for_that_image() -> None:
    assert voting().click(CAROL, 2, VoteMode.SINGLE) == (13,)


def test_second_click_changes_vote() -> None:
    assert voting(**{CAROL: (13,)}).click(CAROL, 0, VoteMode.SINGLE) == (11,)


def test_approval_click_adds_an_image_and_a_second_click_takes_it_back() -> None:
    round_ = voting(**{CAROL: (11,)})
    assert round_.click(CAROL, 2, VoteMode.APPROVAL) == (11, 13)
    assert round_.with_ballots({CAROL: (11, 13)}).click(CAROL, 0, VoteMode.APPROVAL) == (13,)


def test_a_click_on_a_closed_vote_is_refused() -> None:
    closed = PartyRound(7, "final", RoundStatus.CLOSED, IMAGES)
    with pytest.raises(PartyRuleError, match="Voting on this final vote is closed"):
        closed.click(CAROL, 0, VoteMode.SINGLE)


def test_a_click_on_an_image_the_round_does_not_have_names_the_choices() -> None:
    with pytest.raises(UserInputError, match="Choose an image from 1 to 4"):
        voting().click(CAROL, 4, VoteMode.SINGLE)


def test_poll_votes_of_non_members_are_ignored() -> None:
    counted = voting().count_poll({0: [ALICE, EVE], 1: ["4"], 2: [CAROL]}, MEMBERS)
    assert counted.ballots == {ALICE: (11,), CAROL: (13,)}
    assert counted.ignored == ("4", EVE)  # a stranger and a member who left


def test_poll_answers_past_the_candidates_count_for_nothing() -> None:
    assert voting().count_poll({7: [ALICE]}, MEMBERS).ballots == {}


def test_poll_votes_replace_a_members_button_vote() -> None:
    counted = voting().count_poll({3: [CAROL]}, MEMBERS)
    assert voting(**{CAROL: (11,)}).with_ballots(counted.ballots).ballots[CAROL] == (14,)


def test_the_most_voted_image_wins() -> None:
    outcome, winner = voting(**{ALICE: (12,), BOB: (12,), CAROL: (11,)}).tally(quorum=0, tie_break=TieBreak.EARLIEST)
    assert winner == 12 and outcome.counts == {0: 1, 1: 2, 2: 0, 3: 0}


def test_a_vote_short_of_quorum_has_no_winner() -> None:
    outcome, winner = voting(**{ALICE: (12,)}).tally(quorum=2, tie_break=TieBreak.EARLIEST)
    assert winner is None and not outcome.quorum_met and "1 of the 2" in outcome.reason


def test_a_tie_goes_to_the_art_experts_star_when_the_party_says_so() -> None:
    round_ = voting(**{ALICE: (11,), CAROL: (13,)})
    _, earliest = round_.tally(quorum=0, tie_break=TieBreak.EARLIEST)
    _, starred = round_.tally(quorum=0, tie_break=TieBreak.ART_EXPERT, art_experts=[BOB], starred=[13])
    assert (earliest, starred) == (11, 13)


def test_a_tie_goes_to_the_facilitators_vote_when_the_party_says_so() -> None:
    round_ = voting(**{ALICE: (13,), CAROL: (11,)})
    _, winner = round_.tally(quorum=0, tie_break=TieBreak.FACILITATOR, facilitators=[ALICE])
    assert winner == 13


def test_ballots_for_images_that_are_not_candidates_are_not_counted() -> None:
    outcome, winner = voting(**{ALICE: (99,)}).tally(quorum=0, tie_break=TieBreak.EARLIEST)
    assert winner is None and outcome.reason == "nobody voted"


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (RoundStatus.GENERATING, "has not opened yet"),
        (RoundStatus.FAILED, "failed; it has no vote to close"),
        (RoundStatus.CLOSED, "already closed"),
    ],
)
def test_only_an_open_vote_can_be_closed(status: RoundStatus, message: str) -> None:
    with pytest.raises(PartyRuleError, match=message):
        PartyRound(7, "round", status, IMAGES).require_closable()
    voting().require_closable()
