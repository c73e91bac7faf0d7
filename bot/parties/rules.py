"""The rules of a party, as pure data and functions: phases, roles, who may do what, and tallies.

No store and no Discord here (sir-lancebot's trivia night shape): the service in
`bot/parties/service.py` loads state, asks these rules, and stores the outcome. Violations raise
`PartyRuleError` subclasses whose messages are shown to the user as they are.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from bot.catalogue import N_, _
from bot.errors import SalonError


class PartyRuleError(SalonError):
    """Someone tried something the party's rules do not allow; the message says who may."""


class Phase(StrEnum):
    """Where a party is: associations → rounds → final vote → wrap-up (ended)."""

    ASSOCIATIONS = "associations"
    ROUNDS = "rounds"
    FINAL_VOTE = "final_vote"
    ENDED = "ended"


PHASE_ORDER = (Phase.ASSOCIATIONS, Phase.ROUNDS, Phase.FINAL_VOTE, Phase.ENDED)

# What members read for a phase or a role (the enum values are stored and typed in commands).
PHASE_NAMES = {
    Phase.ASSOCIATIONS: N_("associations"),
    Phase.ROUNDS: N_("rounds"),
    Phase.FINAL_VOTE: N_("final vote"),
    Phase.ENDED: N_("ended"),
}


def phase_name(phase: Phase | str) -> str:
    """Return a phase as members read it ("final vote")."""
    return _(PHASE_NAMES[Phase(phase)])


class Role(StrEnum):
    """A member's role; everyone who joins is a participant, some also hold one of the others."""

    FACILITATOR = "facilitator"
    PROMPT_MASTER = "prompt-master"
    ART_EXPERT = "art-expert"
    PARTICIPANT = "participant"


ROLE_NAMES = {
    Role.FACILITATOR: N_("facilitator"),
    Role.PROMPT_MASTER: N_("Prompt Master"),
    Role.ART_EXPERT: N_("Art Expert"),
    Role.PARTICIPANT: N_("participant"),
}


def role_name(role: Role | str) -> str:
    """Return a role as members read it ("Prompt Master"); an unknown stored word is shown as it is."""
    try:
        return _(ROLE_NAMES[Role(role)])
    except ValueError:
        return str(role)


class VoteMode(StrEnum):
    """Single choice: one image per member per round. Approval: any number of images each."""

    SINGLE = "single"
    APPROVAL = "approval"


class TieBreak(StrEnum):
    """How a tied round is decided, stated in the brief so nobody is surprised."""

    EARLIEST = "earliest"  # the lowest-numbered image among the tied ones
    ART_EXPERT = "art-expert"  # the tied image the Art Expert voted for or starred, else the earliest
    FACILITATOR = "facilitator"  # the tied image the facilitator voted for, else the earliest


TIE_BREAK_TEXT = {
    TieBreak.EARLIEST: N_("a tie goes to the lowest-numbered image"),
    TieBreak.ART_EXPERT: N_("a tie goes to the Art Expert's pick, else the lowest-numbered image"),
    TieBreak.FACILITATOR: N_("a tie goes to the facilitator's pick, else the lowest-numbered image"),
}


def next_phase(phase: Phase) -> Phase:
    """Return the phase after `phase`; raise `PartyRuleError` once the party has ended."""
    if phase is Phase.ENDED:
        raise PartyRuleError(_("This party has ended."))
    return PHASE_ORDER[PHASE_ORDER.index(phase) + 1]


@dataclass(frozen=True)
class PartyMember:
    """A party member as the rules see them."""

    user_id: str
    roles: frozenset[Role]
    active: bool = True

    def has(self, role: Role) -> bool:
        """Return whether the member holds `role`."""
        return role in self.roles


def require_member(members: Mapping[str, PartyMember], user_id: str, doing: str) -> PartyMember:
    """Return the active member `user_id`, or raise saying how to join."""
    member = members.get(user_id)
    if member is None or not member.active:
        raise PartyRuleError(_("Only party members can {doing}; use `/party join` first.").format(doing=doing))
    return member


def require_steer(members: Mapping[str, PartyMember], user_id: str, *, is_admin: bool, doing: str) -> None:
    """Raise unless the user is the party's facilitator or a guild admin."""
    member = members.get(user_id)
    if is_admin or (member is not None and member.active and member.has(Role.FACILITATOR)):
        return
    raise PartyRuleError(_("Only the facilitator (or a server admin) can {doing}.").format(doing=doing))


def require_prompt_master(
    members: Mapping[str, PartyMember], user_id: str, *, is_admin: bool, doing: str = _("commit a prompt version")
) -> None:
    """Raise unless the user may shape the prompt (`doing`): a Prompt Master, the facilitator, or an admin."""
    member = members.get(user_id)
    if is_admin or (member is not None and member.active and member.roles & {Role.PROMPT_MASTER, Role.FACILITATOR}):
        return
    raise PartyRuleError(_("Only the Prompt Master (or the facilitator) can {doing}.").format(doing=doing))


def require_art_expert(members: Mapping[str, PartyMember], user_id: str) -> None:
    """Raise unless the user is the party's Art Expert."""
    member = members.get(user_id)
    if member is None or not member.active or not member.has(Role.ART_EXPERT):
        raise PartyRuleError(_("Only the Art Expert can star images for the final selection."))


def require_phase(phase: Phase, allowed: Iterable[Phase], doing: str) -> None:
    """Raise unless the party is in one of `allowed` phases, naming where it is."""
    allowed = tuple(allowed)
    if phase not in allowed:
        names = _(" or ").join(phase_name(p) for p in allowed)
        now = phase_name(phase)
        raise PartyRuleError(
            _("You can {doing} during the {names} phase; this party is in the {now} phase.").format(
                doing=doing, names=names, now=now
            )
        )


def prompt_diff(before: str, after: str) -> str:
    """Return a word-level diff of two prompt versions: `-removed +added` pieces, '' when equal."""
    old, new = before.split(), after.split()
    pieces = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag in ("delete", "replace"):
            pieces.append("-" + " ".join(old[i1:i2]))
        if tag in ("insert", "replace"):
            pieces.append("+" + " ".join(new[j1:j2]))
    return " ".join(pieces)


def normalize_association(text: str) -> str:
    """Return an association as it is counted: trimmed, single-spaced, case-folded."""
    return " ".join(text.split()).casefold()


@dataclass(frozen=True)
class RoundOutcome:
    """The result of a round's vote."""

    counts: dict[int, int]  # image index → votes
    winner: int | None  # None when nobody voted or quorum was not met
    tied: tuple[int, ...]
    quorum_met: bool
    reason: str


def tally_round(
    ballots: Mapping[str, Iterable[int]],
    image_count: int,
    *,
    quorum: int = 0,
    tie_break: TieBreak = TieBreak.EARLIEST,
    art_expert_picks: Iterable[int] = (),
    facilitator_picks: Iterable[int] = (),
) -> RoundOutcome:
    """Return the winner of a round from each voter's chosen image indexes (0-based), applying quorum and tie-break."""
    counts = Counter({idx: 0 for idx in range(image_count)})
    for choices in ballots.values():
        for idx in set(choices):
            if 0 <= idx < image_count:
                counts[idx] += 1
    voters = sum(1 for choices in ballots.values() if any(0 <= idx < image_count for idx in choices))
    if voters < quorum:
        return RoundOutcome(
            dict(counts),
            None,
            (),
            False,
            _("only {voters} of the {quorum} votes needed were cast").format(voters=voters, quorum=quorum),
        )
    top = max(counts.values(), default=0)
    if top == 0:
        return RoundOutcome(dict(counts), None, (), True, _("nobody voted"))
    tied = tuple(sorted(idx for idx, count in counts.items() if count == top))
    if len(tied) == 1:
        return RoundOutcome(
            dict(counts),
            tied[0],
            tied,
            True,
            _("image {tied} has the most votes ({top})").format(tied=tied[0] + 1, top=top),
        )
    preferred: list[int] = []
    if tie_break is TieBreak.ART_EXPERT:
        preferred = [idx for idx in tied if idx in set(art_expert_picks)]
    elif tie_break is TieBreak.FACILITATOR:
        preferred = [idx for idx in tied if idx in set(facilitator_picks)]
    winner = preferred[0] if preferred else tied[0]
    names = ", ".join(str(idx + 1) for idx in tied)
    return RoundOutcome(
        dict(counts),
        winner,
        tied,
        True,
        _("images {names} tied at {top}; {tie_break_text}").format(
            names=names, top=top, tie_break_text=_(TIE_BREAK_TEXT[tie_break])
        ),
    )
