"""A party's two kinds of live message: the pinned board, and one status message per round.

The board (pinned as the party starts) says how a party goes and what is happening now: phase,
members and roles, the most mentioned associations, the current prompt, open proposals and how
each round ended. Each round's message carries its grid and vote buttons and tells, as it goes,
how many members have voted, what the Art Expert starred and, once closed, the winner and the
tally. Joins, associations, commits, votes and stars edit these messages instead of posting new
ones; only what someone must act on (a role, a proposal, a new phase) is announced on its own.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

import discord

from bot.catalogue import N_, _
from bot.parties.round import PartyRound, RoundStatus
from bot.parties.rules import Phase, Role, VoteMode, role_name
from bot.parties.service import PartyState, describe_tie_break
from bot.parties.store import RoundRow
from bot.parties.summary import image_names
from bot.store.database import parse_utc
from bot.store.images import ImageRecord
from bot.store.jobs import Job
from cogs.imagine.presenter import describe_result
from cogs.kit.live import LiveMessages
from cogs.parties.views import round_view

if TYPE_CHECKING:
    from bot.client import SalonBot

MAX_MESSAGE = 2000
BOARD_ASSOCIATIONS = 12
BOARD_PROPOSALS = 5

NOW = {
    Phase.ASSOCIATIONS: N_(
        "**Now: associations.** Add what the topic brings to mind with `/party associate`; the Prompt Master "
        "turns them into the first prompt."
    ),
    Phase.ROUNDS: N_(
        "**Now: rounds.** Propose edits with `/party propose`, vote on each round's grid; the winner is the "
        "base of the next round."
    ),
    Phase.FINAL_VOTE: N_("**Now: the final vote** over each round's winner and the Art Expert's stars."),
    Phase.ENDED: N_("**The party has ended.** Its summary and best-of collage are in this thread."),
}


def _escape(text: str) -> str:
    return discord.utils.escape_markdown(text)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def board_text(state: PartyState) -> str:
    """Return the party's pinned board: how it goes, then what is happening now."""
    party = state.party
    mode = _("one image per member") if party.vote_mode == VoteMode.SINGLE else _("as many images as you like")
    quorum = _(", at least {quorum} votes").format(quorum=party.quorum) if party.quorum else ""
    lines = [
        _("# 🎉 Neurogenerative party: {topic}").format(topic=_escape(party.topic)),
        _(
            "**How it goes**: we collect word associations, styles and artists the topic brings to mind, start "
            "from a simple prompt and refine it together round by round. Each round makes a grid; members vote; "
            "the winner is the base of the next round. A final vote picks the party's image."
        ),
        _(
            "**Roles**: the *facilitator* moves the party on; the *Prompt Master* commits prompt versions; the "
            "*Art Expert* knows styles, judges results and stars images for the final selection."
        ),
        _("**Votes**: {mode}{quorum}, {minutes:g} min per round; {tie_break}.").format(
            mode=mode, quorum=quorum, minutes=party.vote_minutes, tie_break=describe_tie_break(party.tie_break)
        ),
        _("**Take part**: `/party join`, then `/party associate`, `/party propose`, and vote on the grids."),
        "",
        _(NOW[state.phase]),
    ]
    members = member_mentions(state)
    lines.append(_("**Members** ({count}): {members}").format(count=len(members), members=", ".join(members) or "—"))
    tallies = state.tallied_associations()
    if tallies:
        shown = ", ".join(f"{_escape(t.text)} ×{t.count}" for t in tallies[:BOARD_ASSOCIATIONS])
        lines.append(_("**Associations** ({count}): {shown}").format(count=len(tallies), shown=shown))
    version = state.current_version
    if version is not None:
        lines.append(
            _("**Prompt v{version}** by <@{author}>: `{text}`").format(
                version=version.version, author=version.author_id, text=_clip(version.text, 400)
            )
        )
    open_proposals = [p for p in state.proposals if p.status == "open"]
    for proposal in open_proposals[-BOARD_PROPOSALS:]:
        lines.append(
            _("Proposal #{id} by <@{author}>: `{text}`").format(
                id=proposal.id, author=proposal.author_id, text=_clip(proposal.text, 200)
            )
        )
    ended = [round_line(r) for r in state.rounds if r.status != RoundStatus.FAILED.value]
    if ended:
        lines.append(_("**Rounds**: {rounds}").format(rounds=" · ".join(ended)))
    return _clip("\n".join(lines), MAX_MESSAGE)


def round_name(round_row: RoundRow) -> str:
    """Return how members call a round: "Round 2", or "The final vote"."""
    return _("The final vote") if round_row.kind == "final" else _("Round {number}").format(number=round_row.number)


def round_line(round_row: RoundRow) -> str:
    """Return a round's state in a few words, for the board."""
    name = round_name(round_row)
    if round_row.status == RoundStatus.CLOSED.value:
        if round_row.winner_image_id is None:
            return _("{round}: no winner").format(round=name)
        return _("{round}: image {number} won").format(round=name, number=winner_position(round_row) or "?")
    if round_row.status == RoundStatus.VOTING.value:
        return _("{round}: voting").format(round=name)
    return _("{round}: generating").format(round=name)


def winner_position(round_row: RoundRow) -> int | None:
    """Return the winner's place (1-based) among the round's candidates, as the buttons number them."""
    # The final vote keeps its candidates; a round's counts are stored in button order.
    order = [str(i) for i in round_row.outcome.get("candidates") or round_row.outcome.get("counts", {})]
    winner = str(round_row.winner_image_id)
    return order.index(winner) + 1 if winner in order else None


def member_mentions(state: PartyState) -> list[str]:
    """Return each active member as a mention with their roles beyond participant: "@ada (facilitator)"."""
    members = []
    for member in state.members.values():
        if member.active:
            roles = [role_name(r) for r in member.roles if r != Role.PARTICIPANT.value]
            members.append(f"<@{member.user_id}>" + (f" ({', '.join(roles)})" if roles else ""))
    return members


def round_status_text(
    state: PartyState,
    round_row: RoundRow,
    vote: PartyRound,
    images: list[ImageRecord],
    job: Job | None,
    notes: tuple[str, ...] = (),
    origins: dict[int, str] | None = None,
) -> str:
    """Return a round's live message: what it is, how its vote goes or ended, then the grid's details.

    `origins` names a final vote's candidates as members first saw them ("round 2, image 3").
    """
    name = round_name(round_row)
    if round_row.kind == "final":
        head = [
            _("🗳️ **Final vote**: {count} candidates (each round's winner and the Art Expert's stars).").format(
                count=len(images)
            )
        ]
        named = [
            _("image {n} is {origin}").format(n=n, origin=origins[image.id])
            for n, image in enumerate(images, start=1)
            if origins and image.id in origins
        ]
        if named:
            head.append(" · ".join(named))
    else:
        head = [_("**{round}** — prompt v{version}").format(round=name, version=round_row.prompt_version or 1)]
    if vote.status is RoundStatus.VOTING:
        members = sum(1 for m in state.members.values() if m.active)
        voted = sum(1 for ballot in vote.ballots.values() if ballot)
        line = _("🗳️ Vote below: {voted} of {members} members have voted.").format(voted=voted, members=members)
        if round_row.deadline_at:
            moment = int(parse_utc(round_row.deadline_at).timestamp())
            line += " " + _("Voting closes <t:{moment}:R>.").format(moment=moment)
        head.append(line)
    elif vote.status is RoundStatus.CLOSED:
        counts = ", ".join(f"{n + 1}: {v}" for n, v in sorted(_counts_by_position(round_row, vote).items()))
        reason = round_row.outcome.get("reason", "")
        if round_row.winner_image_id is None:
            head.append(
                _("🏁 {round} closed without a winner: {reason}. (votes {counts})").format(
                    round=name, reason=reason, counts=counts
                )
            )
        else:
            next_step = (
                _("This is the party's pick.") if round_row.kind == "final" else _("It is the base of the next round.")
            )
            head.append(
                _("🏆 {round}: {reason}. (votes {counts}) {next_step}").format(
                    round=name, reason=reason, counts=counts, next_step=next_step
                )
            )
    starred = [n + 1 for n, image in enumerate(images) if image.id in {i for i, _by in state.stars}]
    if starred and round_row.kind == "round":
        head.append(
            _("⭐ Starred for the final selection: image {numbers}.").format(numbers=", ".join(str(n) for n in starred))
        )
    body = describe_result(job, images, name.lower(), notes) if job is not None else ""
    return _clip("\n".join(head) + ("\n" + body if body else ""), MAX_MESSAGE)


def _counts_by_position(round_row: RoundRow, vote: PartyRound) -> dict[int, int]:
    """Return the closed vote's counts by button position (the store keeps them by image id)."""
    stored = round_row.outcome.get("counts", {})
    return {n: int(stored.get(str(image_id), 0)) for n, image_id in enumerate(vote.candidates)}


class PartyBoards:
    """Keeps every party's board and round messages current, one edit at a time each."""

    def __init__(self, bot: SalonBot) -> None:
        self.bot = bot
        self.boards = LiveMessages(self._refresh_board)
        self.rounds = LiveMessages(self._refresh_round)

    def party_changed(self, party_id: int) -> None:
        """Refresh a party's board soon (members, associations, prompt, proposals, rounds)."""
        self.boards.changed(party_id)

    def vote_changed(self, round_id: int) -> None:
        """Refresh a round's message after a vote (the board does not show votes)."""
        self.rounds.changed(round_id)

    def round_changed(self, round_row: RoundRow) -> None:
        """Refresh a round's message (votes, stars, outcome) and the board that lists it."""
        self.rounds.changed(round_row.id)
        self.boards.changed(round_row.party_id)

    async def settled(self) -> None:
        """Return once every pending edit has been made."""
        await self.rounds.settled()
        await self.boards.settled()

    async def round_text(self, round_row: RoundRow, notes: tuple[str, ...] | None = None) -> str:
        """Return a round's live text from the store (`notes`: the grid's warnings, if known)."""
        parties = self.bot.services.parties
        state = await parties.state(round_row.party_id)
        vote = await parties.party_round(round_row)
        images = await parties.candidates(round_row)
        job = None
        if round_row.job_id is not None:
            job, _images = await self.bot.services.jobs.job_with_images(round_row.job_id)
        if notes is None:
            notes = job.spec.notes if job is not None else ()
        origins = await image_names(parties, state) if round_row.kind == "final" else None
        return round_status_text(state, round_row, vote, images, job, notes, origins)

    async def _refresh_board(self, party_id: Hashable) -> None:
        state = await self.bot.services.parties.state(int(party_id))  # type: ignore[call-overload]
        if state.party.brief_message_id is None:
            return
        thread = self.bot.get_partial_messageable(int(state.party.thread_id))
        await thread.get_partial_message(int(state.party.brief_message_id)).edit(
            content=board_text(state), allowed_mentions=discord.AllowedMentions.none()
        )

    async def _refresh_round(self, round_id: Hashable) -> None:
        parties = self.bot.services.parties
        round_row = await parties.get_round(int(round_id))  # type: ignore[call-overload]
        if round_row is None or round_row.vote_message_id is None:
            return
        party = await parties.party_of(round_row)
        text = await self.round_text(round_row)
        view = None
        if round_row.status == RoundStatus.VOTING.value:
            view = round_view(round_row, await parties.candidates(round_row))
        thread = self.bot.get_partial_messageable(int(party.thread_id))
        await thread.get_partial_message(int(round_row.vote_message_id)).edit(
            content=text, view=view, allowed_mentions=discord.AllowedMentions.none()
        )
