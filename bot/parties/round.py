"""A party round from prepared to closed: its states, and the rules of its vote, without the store.

A round is `generating` while its grid is made, `voting` once the grid is shown, then `closed`
with a winner (or none), or `failed` when its generation did not finish. `PartyRound` holds what
one round's vote needs (its candidates in button order and every member's ballot) and answers
what a click, a poll or the close does; `PartyService` loads it once, applies the answer in one
transaction and logs it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bot.catalogue import _
from bot.errors import UserInputError
from bot.parties.rules import PartyMember, PartyRuleError, RoundOutcome, TieBreak, VoteMode, tally_round


class RoundStatus(StrEnum):
    """Where a round is in its life."""

    GENERATING = "generating"
    VOTING = "voting"
    CLOSED = "closed"
    FAILED = "failed"


# The only moves a round makes; anything else is a bug or a race, refused in words.
TRANSITIONS: dict[RoundStatus, frozenset[RoundStatus]] = {
    RoundStatus.GENERATING: frozenset({RoundStatus.VOTING, RoundStatus.FAILED}),
    RoundStatus.VOTING: frozenset({RoundStatus.CLOSED}),
    RoundStatus.CLOSED: frozenset(),
    RoundStatus.FAILED: frozenset(),
}


def check_move(current: RoundStatus, to: RoundStatus) -> RoundStatus:
    """Return `to` if a round may move there from `current`; raise `PartyRuleError` saying why not."""
    if to not in TRANSITIONS[current]:
        if current is RoundStatus.CLOSED and to is RoundStatus.CLOSED:
            raise PartyRuleError(_("This vote is already closed."))
        raise PartyRuleError(
            _("A round that is {value} cannot become {value2}.").format(value=current.value, value2=to.value)
        )
    return to


@dataclass(frozen=True)
class PollCount:
    """A native poll's votes as ballots: those of members (image ids), and the voters who were ignored."""

    ballots: dict[str, tuple[int, ...]]
    ignored: tuple[str, ...]


@dataclass(frozen=True)
class PartyRound:
    """One round's vote: its status, its candidate images (ids, in button order) and each voter's ballot."""

    id: int
    kind: str  # "round" or "final"
    status: RoundStatus
    candidates: tuple[int, ...]
    ballots: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def what(self) -> str:
        """Return how a member calls this vote ("round" or "final vote")."""
        return _("final vote") if self.kind == "final" else "round"

    def require_voting(self) -> None:
        """Raise `PartyRuleError` unless the vote is open."""
        if self.status is not RoundStatus.VOTING:
            raise PartyRuleError(_("Voting on this {what} is closed.").format(what=self.what))

    def require_closable(self) -> None:
        """Raise `PartyRuleError`, in a member's words, unless the vote is open and so can be closed."""
        if self.status is RoundStatus.GENERATING:
            raise PartyRuleError(
                _("This {what}'s vote has not opened yet: its grid is still being made.").format(what=self.what)
            )
        if self.status is RoundStatus.FAILED:
            raise PartyRuleError(_("This {what} failed; it has no vote to close.").format(what=self.what))
        check_move(self.status, RoundStatus.CLOSED)

    def candidate(self, idx: int) -> int:
        """Return the image id behind button `idx` (0-based), or raise naming the images there are."""
        if not 0 <= idx < len(self.candidates):
            raise UserInputError(_("Choose an image from 1 to {count}.").format(count=len(self.candidates)))
        return self.candidates[idx]

    def click(self, voter: str, idx: int, mode: VoteMode) -> tuple[int, ...]:
        """Return the voter's ballot after clicking image `idx`: single choice moves the vote, approval toggles it."""
        self.require_voting()
        chosen = self.candidate(idx)
        mine = self.ballots.get(voter, ())
        if mode is VoteMode.SINGLE:
            return (chosen,)
        return tuple(i for i in mine if i != chosen) if chosen in mine else (*mine, chosen)

    def positions(self, image_ids: Iterable[int]) -> list[int]:
        """Return the button indexes (0-based, sorted) of candidate images."""
        index_of = {image_id: n for n, image_id in enumerate(self.candidates)}
        return sorted(index_of[i] for i in image_ids if i in index_of)

    def count_poll(self, poll_votes: Mapping[int, Iterable[str]], members: Mapping[str, PartyMember]) -> PollCount:
        """Return a native poll's votes (answer index → voter ids) as ballots of active members only.

        A member who voted in the poll gets their poll choices as their ballot; anyone else is ignored,
        as a click from a non-member would be. Answers past the candidates count for nothing.
        """
        by_voter: dict[str, list[int]] = {}
        for idx, voters in poll_votes.items():
            if 0 <= idx < len(self.candidates):
                for voter in voters:
                    by_voter.setdefault(voter, []).append(self.candidates[idx])
        counted = {
            voter: tuple(dict.fromkeys(ids))
            for voter, ids in by_voter.items()
            if voter in members and members[voter].active
        }
        return PollCount(counted, tuple(sorted(set(by_voter) - set(counted))))

    def with_ballots(self, ballots: Mapping[str, tuple[int, ...]]) -> PartyRound:
        """Return this round with `ballots` replacing those of the same voters."""
        return PartyRound(self.id, self.kind, self.status, self.candidates, {**self.ballots, **ballots})

    def tally(
        self,
        *,
        quorum: int,
        tie_break: TieBreak,
        art_experts: Iterable[str] = (),
        facilitators: Iterable[str] = (),
        starred: Iterable[int] = (),
    ) -> tuple[RoundOutcome, int | None]:
        """Return the vote's outcome (by button index) and the winning image id (None without a winner).

        A tie is broken as the party chose: the earliest image, or the Art Expert's pick (their votes
        and stars), or the facilitator's votes.
        """
        index_of = {image_id: n for n, image_id in enumerate(self.candidates)}
        ballots = {voter: [index_of[i] for i in choices if i in index_of] for voter, choices in self.ballots.items()}
        outcome = tally_round(
            ballots,
            len(self.candidates),
            quorum=quorum,
            tie_break=tie_break,
            art_expert_picks=[
                *(i for voter in art_experts for i in ballots.get(voter, [])),
                *(index_of[i] for i in starred if i in index_of),
            ],
            facilitator_picks=[i for voter in facilitators for i in ballots.get(voter, [])],
        )
        winner = self.candidates[outcome.winner] if outcome.winner is not None else None
        return outcome, winner
