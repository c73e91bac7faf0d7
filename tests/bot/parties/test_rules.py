"""The rules of a party: phases, who may do what, prompt diffs and how votes are tallied."""

from __future__ import annotations

import pytest

from bot.parties.rules import (
    PartyMember,
    PartyRuleError,
    Phase,
    Role,
    TieBreak,
    next_phase,
    prompt_diff,
    require_art_expert,
    require_member,
    require_phase,
    require_prompt_master,
    require_steer,
    tally_round,
)

MEMBERS = {
    "f": PartyMember("f", frozenset({Role.FACILITATOR})),
    "pm": PartyMember("pm", frozenset({Role.PROMPT_MASTER})),
    "ae": PartyMember("ae", frozenset({Role.ART_EXPERT})),
    "p": PartyMember("p", frozenset()),
    "gone": PartyMember("gone", frozenset({Role.FACILITATOR}), active=False),
}


def test_phases_run_in_order_and_stop_at_the_end() -> None:
    assert [next_phase(p) for p in (Phase.ASSOCIATIONS, Phase.ROUNDS, Phase.FINAL_VOTE)] == [
        Phase.ROUNDS,
        Phase.FINAL_VOTE,
        Phase.ENDED,
    ]
    with pytest.raises(PartyRuleError, match="has ended"):
        next_phase(Phase.ENDED)


def test_only_the_facilitator_or_an_admin_steers() -> None:
    require_steer(MEMBERS, "f", is_admin=False, doing="x")
    require_steer(MEMBERS, "p", is_admin=True, doing="x")
    for user in ("pm", "p", "gone", "stranger"):
        with pytest.raises(PartyRuleError, match="Only the facilitator"):
            require_steer(MEMBERS, user, is_admin=False, doing="x")


def test_prompt_masters_commit_art_experts_star_members_vote() -> None:
    require_prompt_master(MEMBERS, "pm", is_admin=False)
    require_prompt_master(MEMBERS, "f", is_admin=False)
    with pytest.raises(PartyRuleError, match="Only the Prompt Master"):
        require_prompt_master(MEMBERS, "ae", is_admin=False)
    require_art_expert(MEMBERS, "ae")
    with pytest.raises(PartyRuleError, match="Only the Art Expert"):
        require_art_expert(MEMBERS, "f")
    require_member(MEMBERS, "p", "vote")
    with pytest.raises(PartyRuleError, match="/party join"):
        require_member(MEMBERS, "gone", "vote")


def test_phase_errors_name_where_the_party_is() -> None:
    with pytest.raises(PartyRuleError, match="during the rounds phase; this party is in the associations phase"):
        require_phase(Phase.ASSOCIATIONS, (Phase.ROUNDS,), "start a round")


def test_prompt_diff_is_word_level() -> None:
    assert prompt_diff("loneliness", "two old people, loneliness") == "+two old people,"
    assert prompt_diff("a red car", "a blue car") == "-red +blue"
    assert prompt_diff("same", "same") == ""


def test_most_votes_win_and_each_voter_counts_once_per_image() -> None:
    outcome = tally_round({"a": [1], "b": [1, 1], "c": [0]}, 4)
    assert outcome.winner == 1 and outcome.counts == {0: 1, 1: 2, 2: 0, 3: 0}


def test_quorum_not_met_has_no_winner() -> None:
    outcome = tally_round({"a": [0]}, 4, quorum=2)
    assert outcome.winner is None and not outcome.quorum_met and "1 of the 2 votes" in outcome.reason


def test_nobody_voting_has_no_winner() -> None:
    assert tally_round({}, 4).winner is None


@pytest.mark.parametrize(
    ("tie_break", "expected"),
    [(TieBreak.EARLIEST, 0), (TieBreak.ART_EXPERT, 2), (TieBreak.FACILITATOR, 0)],
)
def test_ties_follow_the_stated_rule(tie_break: TieBreak, expected: int) -> None:
    outcome = tally_round({"a": [0], "b": [2]}, 4, tie_break=tie_break, art_expert_picks=[2], facilitator_picks=[3])
    assert outcome.tied == (0, 2) and outcome.winner == expected and "tied" in outcome.reason
