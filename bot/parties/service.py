"""Parties: facilitated group sessions with a topic, roles, associations, prompt versions, rounds and votes.

Plain async Python without Discord types. The store is the source of truth for every step (and
every step is an event), so a restart loses no vote, timer or prompt version, and the gallery and
blog export need nothing else. The rules themselves live in `bot.parties.rules`.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosqlite

from bot.catalogue import _
from bot.errors import UserInputError
from bot.imagine.composer import ImagineOptions, Lineage, PromptComposer, StartImage
from bot.jobs.spec import Feature, Origin, PartyRef, Place, PreparedGeneration
from bot.member_text import one_line
from bot.parties.round import PartyRound, RoundStatus, check_move
from bot.parties.rules import (
    TIE_BREAK_TEXT,
    PartyMember,
    PartyRuleError,
    Phase,
    Role,
    RoundOutcome,
    TieBreak,
    VoteMode,
    next_phase,
    normalize_association,
    prompt_diff,
    require_art_expert,
    require_member,
    require_phase,
    require_prompt_master,
    require_steer,
)
from bot.parties.store import (
    AssociationRow,
    FragmentRow,
    MemberRow,
    PartyRow,
    ProposalRow,
    RoundRow,
    VersionRow,
    add_star,
    associations_of,
    close_voting_round,
    count_contributions,
    fragments_of,
    generating_rounds,
    get_party,
    get_proposal,
    get_round,
    insert_association,
    insert_fragment,
    insert_party,
    insert_proposal,
    insert_round,
    insert_version,
    job_state_of_round,
    members_of,
    open_parties_in_channel,
    parties_with_phase_timers,
    party_event,
    party_event_at,
    party_id_of_session,
    party_in_thread,
    proposals_of,
    replace_votes,
    rounds_of,
    set_brief_message,
    set_party_phase,
    set_proposal_status,
    stars_of,
    update_round,
    upsert_member,
    versions_of,
    votes_of_round,
    voting_rounds,
)
from bot.parties.timers import PartyTimers
from bot.store import SYSTEM, Actor, Database, ImageFiles, record, utc_now
from bot.store.database import parse_utc, utc_iso
from bot.store.images import ImageRecord, get_image, images_of_job
from bot.store.prompts import insert_prompt
from bot.store.sessions import insert_party_session

log = logging.getLogger(__name__)

# Called with a round id when its vote is due, or a party id when its timed phase is.
DeadlineHandler = Callable[[int], Awaitable[None]]

PARTY_PRIORITY = 10  # party rounds run before everyday channel generations
ROUND_STRENGTH = 0.6  # later rounds start from the winner: keep its composition, refine the rest
MAX_TOPIC_CHARS = 200
MAX_ASSOCIATION_CHARS = 100
MAX_PARTY_PROMPT_CHARS = 1000
ASSOCIATION_KINDS = ("word", "style", "artist")


@dataclass(frozen=True)
class PartySettings:
    """How a party votes: single choice or approval, quorum, tie-break, and how long a vote lasts."""

    vote_mode: VoteMode = VoteMode.SINGLE
    tie_break: TieBreak = TieBreak.EARLIEST
    quorum: int = 0
    vote_minutes: float = 5.0
    # Long votes (hours) can also run as a native Discord poll beside the buttons.
    native_poll: bool = False
    # When above 0, a timer moves the party from associations to rounds after this many minutes.
    associations_minutes: float = 0.0

    def __post_init__(self) -> None:
        if self.native_poll and self.vote_minutes < 60:
            raise UserInputError(
                _("A native poll lasts whole hours: use vote_minutes of 60 or more, or the buttons for shorter votes.")
            )
        if not 0 <= self.quorum <= 100:
            raise UserInputError(_("The quorum is a number of votes from 0 (none needed) to 100."))
        if not 0 <= self.associations_minutes <= 7 * 24 * 60:
            raise UserInputError(_("The associations phase lasts from 0 (the facilitator moves on) to 10080 minutes."))
        if not 0.05 <= self.vote_minutes <= 7 * 24 * 60:
            raise UserInputError(_("A vote lasts from 0.05 minutes (3 seconds) to 7 days (10080 minutes)."))


@dataclass(frozen=True)
class AssociationTally:
    """One association with how many people brought it up, and who."""

    text: str
    kind: str
    count: int
    authors: tuple[str, ...]


@dataclass(frozen=True)
class PartyState:
    """Everything about a party, read in one go for rendering and rules."""

    party: PartyRow
    members: dict[str, MemberRow]
    associations: list[AssociationRow]
    fragments: list[FragmentRow]
    versions: list[VersionRow]
    proposals: list[ProposalRow]
    rounds: list[RoundRow]
    stars: list[tuple[int, str]]

    @property
    def phase(self) -> Phase:
        """Return the party's phase."""
        return Phase(self.party.phase)

    @property
    def rule_members(self) -> dict[str, PartyMember]:
        """Return the members as the rules see them."""
        return {
            user_id: PartyMember(user_id, frozenset(Role(role) for role in row.roles), row.active)
            for user_id, row in self.members.items()
        }

    @property
    def current_version(self) -> VersionRow | None:
        """Return the latest prompt version."""
        return self.versions[-1] if self.versions else None

    def holders(self, role: Role) -> list[str]:
        """Return the ids of active members holding a role."""
        return [m.user_id for m in self.members.values() if m.active and role.value in m.roles]

    def tallied_associations(self) -> list[AssociationTally]:
        """Return associations aggregated by their normalised text, most mentioned first."""
        groups: dict[str, list[AssociationRow]] = defaultdict(list)
        for row in self.associations:
            groups[row.normalized].append(row)
        tallies = [
            AssociationTally(
                text=rows[0].text,
                kind=Counter(r.kind for r in rows).most_common(1)[0][0],
                count=len({r.author_id for r in rows}),
                authors=tuple(dict.fromkeys(r.author_id for r in rows)),
            )
            for rows in groups.values()
        ]
        return sorted(tallies, key=lambda t: (-t.count, t.text.casefold()))


@dataclass(frozen=True)
class RoundResult:
    """A closed round: its outcome, and the winning image (None without a winner)."""

    round: RoundRow
    outcome: RoundOutcome
    winner: ImageRecord | None
    # The party as it was read for the close, so whoever announces the result need not read it again.
    party: PartyRow


@dataclass(frozen=True)
class Starred:
    """A star given (or found already there), and the round whose grid holds the image."""

    added: bool
    round: RoundRow | None


@dataclass(frozen=True)
class PartyLimits:
    """What one member may add to one party in bulk (settings `SALON_MAX_ASSOCIATIONS_PER_MEMBER`, ...)."""

    associations_per_member: int = 50
    proposals_per_member: int = 20


async def _check_contribution_limit(
    conn: aiosqlite.Connection, party_id: int, actor: Actor, kind: str, limit: int
) -> None:
    """Refuse one more association or proposal from a member who has added `limit` to this party."""
    if await count_contributions(conn, party_id, actor.id, kind) >= limit:
        raise PartyRuleError(
            _(
                "You have added {limit} {kind} to this party, the most one member may. The ones "
                "you added stay; vote, and comment in the thread. A new party starts afresh."
            ).format(limit=limit, kind=kind)
        )


@dataclass(frozen=True)
class RoleAssigned:
    """A role handed out: the party after it, and whether its holder joined the party by it."""

    state: PartyState
    joined: bool


class PartyService:
    """Return and change parties, keeping every step in the store and the event log."""

    def __init__(
        self, db: Database, files: ImageFiles, composer: PromptComposer, limits: PartyLimits | None = None
    ) -> None:
        self.db = db
        self.files = files
        self.composer = composer
        self.limits = limits or PartyLimits()
        # The service owns its deadlines: it schedules a vote's as it opens and a phase's as a party
        # starts, and cancels a vote's as it closes. What happens when one is due is the caller's
        # (the cog posts the result), set by `on_deadlines`.
        self.timers = PartyTimers(self._vote_due, self._phase_due)
        self._on_vote_due: DeadlineHandler | None = None
        self._on_phase_due: DeadlineHandler | None = None

    # --- deadlines ------------------------------------------------------------------------------

    def on_deadlines(self, vote_due: DeadlineHandler, phase_due: DeadlineHandler) -> None:
        """Call `vote_due(round_id)` when a vote's deadline passes and `phase_due(party_id)` when a phase's does."""
        self._on_vote_due, self._on_phase_due = vote_due, phase_due

    async def start_timers(self) -> int:
        """Start the timers and re-add one per open vote and timed phase in the store; return how many."""
        self.timers.start()
        return self.timers.rebuild(await voting_rounds(self.db), await parties_with_phase_timers(self.db))

    def stop_timers(self) -> None:
        """Stop the timers; their deadlines stay in the store for the next start."""
        self.timers.shutdown()

    async def _vote_due(self, round_id: int) -> None:
        if self._on_vote_due is not None:
            await self._on_vote_due(round_id)

    async def _phase_due(self, party_id: int) -> None:
        if self._on_phase_due is not None:
            await self._on_phase_due(party_id)

    # --- reading --------------------------------------------------------------------------------

    async def party_in(self, thread_id: str) -> PartyRow:
        """Return the party held in a thread, or raise saying how to start one."""
        party = await party_in_thread(self.db, thread_id)
        if party is None:
            raise PartyRuleError(await self._where_parties_are(thread_id))
        return party

    async def _where_parties_are(self, channel_id: str) -> str:
        """Return what to tell someone who used a party command outside a party's thread."""
        nearby = await open_parties_in_channel(self.db, channel_id)
        if not nearby:
            return _("There is no party in this thread. Start one with `/party start topic:`.")
        shown = [
            _("the party on **{topic}** is in <#{thread_id}>").format(
                topic=one_line(p.topic)[:60], thread_id=p.thread_id
            )
            for p in nearby[:3]
        ]
        more = _(" (and {count} more)").format(count=len(nearby) - 3) if len(nearby) > 3 else ""
        return _("Party commands work in the party's own thread: {shown}{more}. Use the command there.").format(
            shown="; ".join(shown), more=more
        )

    async def open_proposals(self, thread_id: str) -> list[ProposalRow]:
        """Return the open proposals of the party in a thread, newest first (none outside a party)."""
        party = await party_in_thread(self.db, thread_id)
        return list(reversed(await proposals_of(self.db, party.id, "open"))) if party else []

    async def versions(self, thread_id: str) -> list[VersionRow]:
        """Return the prompt versions of the party in a thread, newest first (none outside a party)."""
        party = await party_in_thread(self.db, thread_id)
        return list(reversed(await versions_of(self.db, party.id))) if party else []

    async def state(self, party_id: int) -> PartyState:
        """Return everything about a party."""
        return await load_party_state(self.db, party_id)

    async def state_in(self, thread_id: str) -> PartyState:
        """Return everything about the party in a thread."""
        return await self.state((await self.party_in(thread_id)).id)

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(
        self,
        actor: Actor,
        *,
        guild_id: str | None,
        channel_id: str,
        thread_id: str,
        topic: str,
        settings: PartySettings,
    ) -> PartyState:
        """Start a party in a new thread with the caller as facilitator; the topic is prompt version 1."""
        topic = one_line(topic)
        if not 1 <= len(topic) <= MAX_TOPIC_CHARS:
            raise UserInputError(
                _("A party's topic is 1 to {max_topic_chars} characters, such as `loneliness`.").format(
                    max_topic_chars=MAX_TOPIC_CHARS
                )
            )
        await self.composer.themes.check_blocklist(guild_id, topic, actor=actor, channel_id=channel_id)
        async with record(self.db) as change:
            session_id = await insert_party_session(
                change.conn, guild_id=guild_id, channel_id=channel_id, thread_id=thread_id, topic=topic, actor=actor
            )
            party_id = await insert_party(
                change.conn,
                session_id=session_id,
                guild_id=guild_id,
                channel_id=channel_id,
                thread_id=thread_id,
                topic=topic,
                vote_mode=settings.vote_mode.value,
                tie_break=settings.tie_break.value,
                quorum=settings.quorum,
                vote_minutes=settings.vote_minutes,
                created_by=actor.id,
                native_poll=settings.native_poll,
                phase_deadline_at=utc_iso(datetime.now(UTC) + timedelta(minutes=settings.associations_minutes))
                if settings.associations_minutes
                else None,
            )
            await upsert_member(
                change.conn,
                party_id=party_id,
                user_id=actor.id,
                user_name=actor.name,
                roles=(Role.FACILITATOR.value,),
                active=True,
            )
            # "Start the generation with a very simple prompt": the topic itself.
            prompt_id = await insert_prompt(change.conn, session_id=session_id, author_id=actor.id, text=topic)
            await insert_version(
                change.conn,
                party_id=party_id,
                text=topic,
                negative="",
                author_id=actor.id,
                committed_by=actor.id,
                diff=f"+{topic}",
                prompt_id=prompt_id,
            )
            change.log(
                party_event_at(
                    party_id,
                    session_id,
                    guild_id,
                    thread_id,
                    actor,
                    "party.started",
                    {
                        "topic": topic,
                        "vote_mode": settings.vote_mode.value,
                        "tie_break": settings.tie_break.value,
                        "quorum": settings.quorum,
                        "vote_minutes": settings.vote_minutes,
                        "parent_channel_id": channel_id,
                    },
                )
            )
        state = await self.state(party_id)
        if state.party.phase_deadline_at and self.timers.scheduler.running:
            self.timers.schedule_phase(party_id, parse_utc(state.party.phase_deadline_at))
        return state

    async def record_brief(self, party_id: int, message_id: str) -> None:
        """Remember the pinned brief message."""
        async with self.db.transaction() as conn:
            await set_brief_message(conn, party_id, message_id)

    async def join(self, actor: Actor, thread_id: str) -> PartyState:
        """Add the caller as a participant (again, if they had left)."""
        state = await self.state_in(thread_id)
        require_phase(state.phase, (Phase.ASSOCIATIONS, Phase.ROUNDS, Phase.FINAL_VOTE), "join")
        existing = state.members.get(actor.id)
        if existing is not None and existing.active:
            raise PartyRuleError(_("You are already in this party."))
        roles = existing.roles if existing else ()
        await self._set_member(state, actor.id, actor.name, roles, True, actor, "party.joined")
        return await self.state(state.party.id)

    async def leave(self, actor: Actor, thread_id: str) -> PartyState:
        """Remove the caller from the party; their votes and contributions stay in the history."""
        state = await self.state_in(thread_id)
        member = state.members.get(actor.id)
        if member is None or not member.active:
            raise PartyRuleError(_("You are not in this party."))
        await self._set_member(state, actor.id, actor.name, member.roles, False, actor, "party.left")
        return await self.state(state.party.id)

    async def assign_role(
        self, actor: Actor, thread_id: str, target: Actor, role: Role, *, is_admin: bool
    ) -> RoleAssigned:
        """Give a member a role (facilitator, Prompt Master, Art Expert); only the facilitator or an admin may.

        A role is a way of taking part, so someone named who is not in the party joins it with the
        role (the caller tells them); they can leave like anyone else.
        """
        state = await self.state_in(thread_id)
        require_steer(state.rule_members, actor.id, is_admin=is_admin, doing=_("hand out roles"))
        if role is Role.PARTICIPANT:
            raise UserInputError(
                _("Everyone who joins is a participant; give facilitator, prompt-master or art-expert.")
            )
        member = state.members.get(target.id)
        joined = member is None or not member.active
        if joined:
            require_phase(state.phase, (Phase.ASSOCIATIONS, Phase.ROUNDS, Phase.FINAL_VOTE), "join")
        roles = set(member.roles if member else ())
        roles.add(role.value)
        await self._set_member(
            state,
            target.id,
            target.name,
            tuple(sorted(roles)),
            True,
            actor,
            "party.role_assigned",
            {"member_id": target.id, "role": role.value, "joined": joined},
        )
        return RoleAssigned(await self.state(state.party.id), joined)

    async def advance(self, actor: Actor, thread_id: str, *, is_admin: bool) -> PartyState:
        """Move the party to its next phase (facilitator or admin only)."""
        state = await self.state_in(thread_id)
        require_steer(state.rule_members, actor.id, is_admin=is_admin, doing=_("move the party to its next phase"))
        return await self._move_to(state, next_phase(state.phase), actor)

    async def end(self, actor: Actor, thread_id: str, *, is_admin: bool) -> PartyState:
        """End the party (facilitator or admin only); its whole history stays in the store."""
        state = await self.state_in(thread_id)
        require_steer(state.rule_members, actor.id, is_admin=is_admin, doing=_("end the party"))
        if state.phase is Phase.ENDED:
            raise PartyRuleError(_("This party has already ended."))
        return await self._move_to(state, Phase.ENDED, actor)

    async def advance_on_timer(self, party_id: int) -> PartyState | None:
        """Move a party from associations to rounds when its timer fires; None if it had moved on already."""
        state = await self.state(party_id)
        if state.phase is not Phase.ASSOCIATIONS:
            return None
        return await self._move_to(state, Phase.ROUNDS, SYSTEM)

    async def wrap_up(self, party_id: int) -> PartyState:
        """End a party once its final vote has closed (the wrap-up); its history stays in the store."""
        state = await self.state(party_id)
        if state.phase is Phase.ENDED:
            return state
        return await self._move_to(state, Phase.ENDED, SYSTEM)

    async def _move_to(self, state: PartyState, phase: Phase, actor: Actor) -> PartyState:
        async with record(self.db) as change:
            if not await set_party_phase(change.conn, state.party.id, phase.value, expected=state.phase.value):
                # Someone else moved it between our read and this write (a second click, a timer).
                now = await self.state(state.party.id)
                if now.phase is Phase.ENDED:
                    raise PartyRuleError(_("This party has already ended."))
                raise PartyRuleError(_("The party has already moved on to {value}.").format(value=now.phase.value))
            change.log(
                party_event(
                    state.party,
                    actor,
                    "party.ended" if phase is Phase.ENDED else "party.phase",
                    {"from": state.phase.value, "to": phase.value},
                )
            )
        return await self.state(state.party.id)

    # --- associations and fragments -------------------------------------------------------------

    async def associate(self, actor: Actor, thread_id: str, text: str, kind: str = "word") -> PartyState:
        """Record an association (a word, a style or an artist) a member has with the topic."""
        state = await self.state_in(thread_id)
        require_member(state.rule_members, actor.id, _("post associations"))
        require_phase(state.phase, (Phase.ASSOCIATIONS, Phase.ROUNDS), _("post associations"))
        cleaned = one_line(text)
        if not 1 <= len(cleaned) <= MAX_ASSOCIATION_CHARS:
            raise UserInputError(
                _("An association is 1 to {max_association_chars} characters: a word or short phrase.").format(
                    max_association_chars=MAX_ASSOCIATION_CHARS
                )
            )
        await self._check_blocklist(state, cleaned, actor=actor)
        if kind not in ASSOCIATION_KINDS:
            raise UserInputError(
                _("An association is one of: {association_kinds}.").format(
                    association_kinds=", ".join(ASSOCIATION_KINDS)
                )
            )
        normalized = normalize_association(cleaned)
        async with record(self.db) as change:
            limit = self.limits.associations_per_member
            await _check_contribution_limit(change.conn, state.party.id, actor, "associations", limit)
            association_id = await insert_association(
                change.conn,
                party_id=state.party.id,
                author_id=actor.id,
                author_name=actor.name,
                text=cleaned,
                normalized=normalized,
                kind=kind,
            )
            change.log(
                party_event(
                    state.party,
                    actor,
                    "party.associated",
                    {"association_id": association_id, "text": cleaned, "kind": kind},
                )
            )
        return await self.state(state.party.id)

    async def make_fragment(
        self, actor: Actor, thread_id: str, text: str, *, from_associations: list[str], is_admin: bool
    ) -> FragmentRow:
        """Turn associations into a prompt fragment (Prompt Master or facilitator), crediting their authors."""
        state = await self.state_in(thread_id)
        require_prompt_master(
            state.rule_members, actor.id, is_admin=is_admin, doing=_("turn associations into a prompt fragment")
        )
        cleaned = one_line(text)
        if not 1 <= len(cleaned) <= MAX_PARTY_PROMPT_CHARS:
            raise UserInputError(
                _("A fragment is 1 to {max_party_prompt_chars} characters.").format(
                    max_party_prompt_chars=MAX_PARTY_PROMPT_CHARS
                )
            )
        wanted = {normalize_association(a) for a in from_associations if a.strip()}
        known = {row.normalized for row in state.associations}
        missing = sorted(wanted - known)
        if missing:
            raise UserInputError(
                _("These are not associations of this party: {missing}.").format(missing=", ".join(missing))
            )
        await self._check_blocklist(state, cleaned, actor=actor)
        contributors = list(dict.fromkeys(r.author_id for r in state.associations if r.normalized in wanted))
        async with record(self.db) as change:
            fragment_id = await insert_fragment(
                change.conn, party_id=state.party.id, text=cleaned, made_by=actor.id, contributors=contributors
            )
            change.log(
                party_event(
                    state.party,
                    actor,
                    "party.fragment",
                    {
                        "fragment_id": fragment_id,
                        "text": cleaned,
                        "associations": sorted(wanted),
                        "contributors": contributors,
                    },
                )
            )
        return next(f for f in await fragments_of(self.db, state.party.id) if f.id == fragment_id)

    # --- the shared prompt ----------------------------------------------------------------------

    async def propose(self, actor: Actor, thread_id: str, text: str, negative: str = "") -> ProposalRow:
        """Propose an edit of the shared prompt (any member); the Prompt Master commits it or not."""
        state = await self.state_in(thread_id)
        require_member(state.rule_members, actor.id, _("propose prompt edits"))
        require_phase(state.phase, (Phase.ASSOCIATIONS, Phase.ROUNDS), _("propose prompt edits"))
        text, negative = _checked_prompt(text), " ".join(negative.split())
        await self._check_blocklist(state, text, negative, actor=actor)
        async with record(self.db) as change:
            limit = self.limits.proposals_per_member
            await _check_contribution_limit(change.conn, state.party.id, actor, "proposals", limit)
            proposal_id = await insert_proposal(
                change.conn, party_id=state.party.id, author_id=actor.id, text=text, negative=negative
            )
            change.log(
                party_event(
                    state.party,
                    actor,
                    "party.proposed",
                    {"proposal_id": proposal_id, "text": text, "negative": negative},
                )
            )
        proposal = await get_proposal(self.db, state.party.id, proposal_id)
        assert proposal is not None
        return proposal

    async def commit(
        self,
        actor: Actor,
        thread_id: str,
        *,
        proposal_id: int | None = None,
        text: str | None = None,
        negative: str | None = None,
        is_admin: bool = False,
    ) -> VersionRow:
        """Commit a proposal (or text of one's own) as the next prompt version (Prompt Master or facilitator)."""
        state = await self.state_in(thread_id)
        require_prompt_master(state.rule_members, actor.id, is_admin=is_admin)
        require_phase(state.phase, (Phase.ASSOCIATIONS, Phase.ROUNDS), _("commit prompt versions"))
        author = actor.id
        proposal = None
        if proposal_id is not None:
            proposal = await get_proposal(self.db, state.party.id, proposal_id)
            if proposal is None or proposal.status != "open":
                open_ids = ", ".join(f"#{p.id}" for p in state.proposals if p.status == "open") or "none"
                raise UserInputError(
                    _("Proposal #{proposal_id} is not open in this party (open: {open_ids}).").format(
                        proposal_id=proposal_id, open_ids=open_ids
                    )
                )
            text, negative, author = proposal.text, proposal.negative, proposal.author_id
        if text is None:
            raise UserInputError(_("Give the proposal number to commit, or the new prompt text."))
        current = state.current_version
        new_negative = (current.negative if current else "") if negative is None else " ".join(negative.split())
        text = _checked_prompt(text)
        await self._check_blocklist(
            state, text, new_negative, actor=actor
        )  # the list may have grown since it was proposed
        return await self._add_version(state, actor, text, new_negative, author, proposal)

    async def revert(self, actor: Actor, thread_id: str, version: int, *, is_admin: bool) -> VersionRow:
        """Make an earlier version current again, as a new version that says where it came from."""
        state = await self.state_in(thread_id)
        require_prompt_master(state.rule_members, actor.id, is_admin=is_admin)
        require_phase(state.phase, (Phase.ASSOCIATIONS, Phase.ROUNDS), _("revert the prompt"))
        target = next((v for v in state.versions if v.version == version), None)
        if target is None:
            raise UserInputError(
                _("There is no version {version}; this party has versions 1 to {count}.").format(
                    version=version, count=len(state.versions)
                )
            )
        return await self._add_version(state, actor, target.text, target.negative, target.author_id, None, version)

    async def _add_version(
        self,
        state: PartyState,
        actor: Actor,
        text: str,
        negative: str,
        author: str,
        proposal: ProposalRow | None,
        reverted_from: int | None = None,
    ) -> VersionRow:
        current = state.current_version
        async with record(self.db) as change:
            # First, so that of two members committing one proposal at once, one commits it.
            if proposal is not None and not await set_proposal_status(change.conn, proposal.id, "committed"):
                raise UserInputError(_("Proposal #{id} was committed already.").format(id=proposal.id))
            prompt_id = await insert_prompt(
                change.conn,
                session_id=state.party.session_id,
                author_id=author,
                text=text,
                negative_text=negative,
                parent_id=current.prompt_id if current else None,
            )
            number = await insert_version(
                change.conn,
                party_id=state.party.id,
                text=text,
                negative=negative,
                author_id=author,
                committed_by=actor.id,
                diff=prompt_diff(current.text if current else "", text),
                prompt_id=prompt_id,
                proposal_id=proposal.id if proposal else None,
                reverted_from=reverted_from,
            )
            change.log(
                party_event(
                    state.party,
                    actor,
                    "party.prompt_committed",
                    {
                        "version": number,
                        "text": text,
                        "negative": negative,
                        "author_id": author,
                        "proposal_id": proposal.id if proposal else None,
                        "reverted_from": reverted_from,
                    },
                )
            )
        return next(v for v in await versions_of(self.db, state.party.id) if v.version == number)

    # --- rounds and votes -----------------------------------------------------------------------

    async def prepare_round(
        self, actor: Actor, thread_id: str, *, is_admin: bool, count: int | None = None
    ) -> tuple[RoundRow, PreparedGeneration]:
        """Return a new round and its generation: the current prompt, from the last winner when there is one."""
        state = await self.state_in(thread_id)
        require_steer(state.rule_members, actor.id, is_admin=is_admin, doing=_("start a round"))
        require_phase(state.phase, (Phase.ROUNDS,), _("start a round (move on with `/party next` first)"))
        if any(r.status in ("generating", "voting") for r in state.rounds if r.kind == "round"):
            raise PartyRuleError(_("A round is still generating or voting; close its vote before starting the next."))
        version = state.current_version
        assert version is not None  # version 1 is written at start
        winners = [r for r in state.rounds if r.kind == "round" and r.winner_image_id is not None]
        base = await get_image(self.db, winners[-1].winner_image_id) if winners else None
        party = state.party
        # A party in a thread follows its channel's theme: the thread shows, the channel rules.
        place = Place(party.guild_id, party.thread_id, party.channel_id)
        options = ImagineOptions(version.text, version.negative, count=count, journey=True)
        start = lineage = None
        if base is not None:
            # The winner carries forward: its image is the start, its seed the first seed.
            start = StartImage(base.sha256, base.width, base.height, ROUND_STRENGTH, first_seed=base.seed)
            lineage = Lineage(base.job_id, base.prompt_id, base.id)
        prepared = await self.composer.compose(
            actor.id,
            place,
            options,
            feature=Feature.PARTY_ROUND,
            origin=Origin.ROUND_BASE if base else Origin.ROUND,
            start=start,
            lineage=lineage,
            # The round's id is set below, once the round exists; the spec is checked first so a
            # refused prompt leaves no round behind.
            party=PartyRef(party.id, 0, version.version),
            priority=PARTY_PRIORITY,
            share_key=f"party:{party.id}",
            session_id=party.session_id,
        )
        async with record(self.db) as change:
            round_id = await insert_round(
                change.conn,
                party_id=state.party.id,
                kind="round",
                prompt_version=version.version,
                base_image_id=base.id if base else None,
            )
            change.log(
                party_event(
                    state.party,
                    actor,
                    "party.round_started",
                    {
                        "round_id": round_id,
                        "prompt_version": version.version,
                        "base_image_id": base.id if base else None,
                    },
                )
            )
        spec = replace(prepared.spec, party=PartyRef(party.id, round_id, version.version))
        prepared = replace(prepared, spec=spec)
        round_row = await get_round(self.db, round_id)
        assert round_row is not None
        return round_row, prepared

    async def prepare_final(
        self, actor: Actor, thread_id: str, *, is_admin: bool
    ) -> tuple[RoundRow, list[ImageRecord]]:
        """Return the final vote over every round's winner and the Art Expert's stars."""
        state = await self.state_in(thread_id)
        require_steer(state.rule_members, actor.id, is_admin=is_admin, doing=_("open the final vote"))
        require_phase(state.phase, (Phase.FINAL_VOTE,), _("open the final vote"))
        if any(r.kind == "final" for r in state.rounds):
            raise PartyRuleError(_("The final vote has already been opened."))
        candidate_ids = [r.winner_image_id for r in state.rounds if r.kind == "round" and r.winner_image_id]
        candidate_ids += [image_id for image_id, _unused in state.stars]
        candidate_ids = list(dict.fromkeys(candidate_ids))[:9]
        if not candidate_ids:
            raise PartyRuleError(_("There is nothing to vote on: no round has a winner and nothing was starred."))
        images = [image for image_id in candidate_ids if (image := await get_image(self.db, image_id))]
        async with record(self.db) as change:
            round_id = await insert_round(
                change.conn, party_id=state.party.id, kind="final", prompt_version=None, base_image_id=None
            )
            await update_round(change.conn, round_id, outcome={"candidates": [i.id for i in images]})
            change.log(
                party_event(
                    state.party,
                    actor,
                    "party.final_vote_opened",
                    {"round_id": round_id, "candidates": [i.id for i in images]},
                )
            )
        round_row = await get_round(self.db, round_id)
        assert round_row is not None
        return round_row, images

    async def round_generated(self, round_id: int, job_id: int | None) -> RoundRow:
        """Open a round's vote once its grid is posted, with its deadline; return the round."""
        round_row = await self._round(round_id)
        party = await get_party(self.db, round_row.party_id)
        assert party is not None
        status = check_move(RoundStatus(round_row.status), RoundStatus.VOTING)
        deadline = datetime.now(UTC) + timedelta(minutes=party.vote_minutes)
        async with record(self.db) as change:
            await update_round(change.conn, round_id, job_id=job_id, status=status.value, deadline_at=utc_iso(deadline))
            change.log(
                party_event(
                    party,
                    SYSTEM,
                    "party.vote_opened",
                    {"round_id": round_id, "job_id": job_id, "deadline_at": deadline.isoformat()},
                )
            )
        if self.timers.scheduler.running:
            # The stored deadline (to the millisecond), so a restart's rebuilt timer is the same one.
            self.timers.schedule(round_id, parse_utc(utc_iso(deadline)))
        return await self._round(round_id)

    async def open_vote(self, round_id: int, job_id: int) -> RoundRow:
        """Return a round with its vote open for the job's grid; open it now unless it already is (idempotent).

        Called by the round's presenter before the grid is shown, so the first click already counts,
        and again after a restart: a vote opened before keeps its deadline.
        """
        round_row = await self._round(round_id)
        if round_row.status == "generating":
            return await self.round_generated(round_id, job_id)
        return round_row

    async def repair_rounds(self) -> int:
        """Mark rounds stuck generating with no job that can finish them as failed; return how many.

        A crash between a round's creation and its job's leaves such a round, and a generating round
        blocks `/party round`. Rounds whose job is still alive are left to it.
        """
        repaired = 0
        for round_row in await generating_rounds(self.db):
            state = await job_state_of_round(self.db, round_row.id)
            if state in (None, "failed", "cancelled"):
                await self.round_failed(round_row.id, _("its generation was lost when Salon stopped"))
                repaired += 1
        if repaired:
            log.info("marked %d stuck party rounds as failed", repaired)
        return repaired

    async def round_failed(self, round_id: int, reason: str) -> None:
        """Mark a round whose generation failed, so the facilitator can start another (once)."""
        round_row = await self._round(round_id)
        if round_row.status != RoundStatus.GENERATING:
            return  # a round whose grid was shown keeps its vote; a closed one its result
        status = check_move(RoundStatus.GENERATING, RoundStatus.FAILED)
        party = await get_party(self.db, round_row.party_id)
        assert party is not None
        async with record(self.db) as change:
            await update_round(change.conn, round_id, status=status.value, closed_at=utc_now())
            change.log(
                party_event(
                    party,
                    SYSTEM,
                    "party.round_failed",
                    {"round_id": round_id, "reason": reason},
                )
            )

    async def record_vote_message(self, round_id: int, message_id: str) -> None:
        """Remember the message that carries a round's vote buttons."""
        async with self.db.transaction() as conn:
            await update_round(conn, round_id, vote_message_id=message_id)

    async def record_poll_message(self, round_id: int, message_id: str) -> None:
        """Remember the native poll that runs beside a round's vote buttons."""
        async with self.db.transaction() as conn:
            await update_round(conn, round_id, poll_message_id=message_id)

    async def candidates(self, round_row: RoundRow) -> list[ImageRecord]:
        """Return the images a round votes on, in button order."""
        if round_row.kind == "final":
            ids = round_row.outcome.get("candidates", [])
            return [image for image_id in ids if (image := await get_image(self.db, int(image_id)))]
        return await images_of_job(self.db, round_row.job_id) if round_row.job_id else []

    async def vote(self, actor: Actor, round_id: int, idx: int) -> list[int]:
        """Record a member's vote for image `idx` (0-based) and return their choices as indexes.

        Single choice: a second click moves the vote. Approval: a click toggles that image.
        """
        round_row = await self._round(round_id)
        state = await self.state(round_row.party_id)
        require_member(state.rule_members, actor.id, "vote")
        party_round = await self.party_round(round_row)
        mine = party_round.ballots.get(actor.id, ())
        new = party_round.click(actor.id, idx, VoteMode(state.party.vote_mode))
        async with record(self.db) as change:
            await replace_votes(change.conn, round_id, actor.id, list(new))
            change.log(
                party_event(
                    state.party,
                    actor,
                    "party.voted",
                    {"round_id": round_id, "image_ids": list(new), "changed_from": list(mine)},
                )
            )
        return party_round.positions(new)

    async def party_round(self, round_row: RoundRow) -> PartyRound:
        """Return a round's vote as the rules see it: status, candidates in button order, ballots."""
        images = await self.candidates(round_row)
        ballots = {voter: tuple(ids) for voter, ids in (await votes_of_round(self.db, round_row.id)).items()}
        return PartyRound(
            round_row.id, round_row.kind, RoundStatus(round_row.status), tuple(i.id for i in images), ballots
        )

    async def close_round(
        self,
        round_id: int,
        actor: Actor = SYSTEM,
        *,
        is_admin: bool = False,
        poll_votes: Mapping[int, Iterable[str]] | None = None,
    ) -> RoundResult:
        """Close a round's vote (at its deadline, or early by the facilitator) and return the outcome.

        `poll_votes` (answer index → voter ids) are a native poll's votes: members' ones replace their
        button ballots, in the same transaction as the close. The party is read once for all of it.
        """
        round_row = await self._round(round_id)
        state = await self.state(round_row.party_id)
        if actor is not SYSTEM:
            require_steer(state.rule_members, actor.id, is_admin=is_admin, doing=_("close a vote"))
        party_round = await self.party_round(round_row)
        party_round.require_closable()
        poll = party_round.count_poll(poll_votes or {}, state.rule_members)
        party_round = party_round.with_ballots(poll.ballots)
        outcome, winner_id = party_round.tally(
            quorum=state.party.quorum,
            tie_break=TieBreak(state.party.tie_break),
            art_experts=state.holders(Role.ART_EXPERT),
            facilitators=state.holders(Role.FACILITATOR),
            starred=[image_id for image_id, _unused in state.stars],
        )
        ids = party_round.candidates
        async with record(self.db) as change:
            if poll.ballots:
                for voter, image_ids in poll.ballots.items():
                    await replace_votes(change.conn, round_id, voter, list(image_ids))
                payload = {"round_id": round_id, "voters": sorted(poll.ballots), "ignored": list(poll.ignored)}
                change.log(party_event(state.party, SYSTEM, "party.poll_counted", payload))
            if not await close_voting_round(change.conn, round_id):
                raise PartyRuleError(_("This vote is already closed."))
            await update_round(
                change.conn,
                round_id,
                winner_image_id=winner_id,
                outcome={
                    **round_row.outcome,
                    "counts": {str(ids[k]): v for k, v in outcome.counts.items()},
                    "reason": outcome.reason,
                    "quorum_met": outcome.quorum_met,
                    "tied": [ids[k] for k in outcome.tied],
                },
            )
            change.log(
                party_event(
                    state.party,
                    actor,
                    "party.vote_closed",
                    {
                        "round_id": round_id,
                        "kind": round_row.kind,
                        "winner_image_id": winner_id,
                        "reason": outcome.reason,
                        "counts": {str(ids[k]): v for k, v in outcome.counts.items()},
                    },
                )
            )
        self.timers.cancel(round_id)
        winner = await get_image(self.db, winner_id) if winner_id is not None else None
        return RoundResult(await self._round(round_id), outcome, winner, state.party)

    async def star(self, actor: Actor, image_id: int) -> Starred:
        """Star an image of the party for the final selection (Art Expert only)."""
        image = await get_image(self.db, image_id)
        if image is None:
            raise UserInputError(_("That image is gone: it can no longer be starred."))
        party_id = await party_id_of_session(self.db, image.session_id)
        if party_id is None:
            raise PartyRuleError(_("Only images made in a party can be starred for its final selection."))
        state = await self.state(party_id)
        require_art_expert(state.rule_members, actor.id)
        async with record(self.db) as change:
            added = await add_star(change.conn, party_id=state.party.id, image_id=image_id, starred_by=actor.id)
            if added:
                change.log(party_event(state.party, actor, "party.starred", {"image_id": image_id}))
        round_row = next((r for r in state.rounds if r.kind == "round" and r.job_id == image.job_id), None)
        return Starred(added, round_row)

    async def party_of(self, round_row: RoundRow) -> PartyRow:
        """Return the party a round belongs to (one read, not the whole party state)."""
        party = await get_party(self.db, round_row.party_id)
        assert party is not None, f"round {round_row.id} has no party"
        return party

    async def get_round(self, round_id: int) -> RoundRow | None:
        """Return a round by id, or None."""
        return await get_round(self.db, round_id)

    # --- helpers --------------------------------------------------------------------------------

    async def _check_blocklist(self, state: PartyState, *texts: str, actor: Actor) -> None:
        """Refuse party text that uses a term blocked in the party's server (it is shown on the board)."""
        await self.composer.themes.check_blocklist(
            state.party.guild_id, *texts, actor=actor, channel_id=state.party.thread_id
        )

    async def _round(self, round_id: int) -> RoundRow:
        round_row = await get_round(self.db, round_id)
        if round_row is None:
            raise UserInputError(_("There is no round #{round_id}.").format(round_id=round_id))
        return round_row

    async def _set_member(
        self,
        state: PartyState,
        user_id: str,
        name: str,
        roles: tuple[str, ...],
        active: bool,
        actor: Actor,
        kind: str,
        payload: dict[str, Any] | None = None,
    ) -> None:
        async with record(self.db) as change:
            await upsert_member(
                change.conn, party_id=state.party.id, user_id=user_id, user_name=name, roles=roles, active=active
            )
            change.log(
                party_event(
                    state.party,
                    actor,
                    kind,
                    payload or {"member_id": user_id},
                )
            )


async def load_party_state(db: Database, party_id: int) -> PartyState:
    """Return everything about a party, read from the store (for the service and for exports)."""
    party = await get_party(db, party_id)
    if party is None:
        raise PartyRuleError(_("Party #{party_id} does not exist.").format(party_id=party_id))
    return PartyState(
        party=party,
        members={m.user_id: m for m in await members_of(db, party_id)},
        associations=await associations_of(db, party_id),
        fragments=await fragments_of(db, party_id),
        versions=await versions_of(db, party_id),
        proposals=await proposals_of(db, party_id),
        rounds=await rounds_of(db, party_id),
        stars=await stars_of(db, party_id),
    )


def _checked_prompt(text: str) -> str:
    cleaned = one_line(text)
    if not 1 <= len(cleaned) <= MAX_PARTY_PROMPT_CHARS:
        raise UserInputError(
            _("A party prompt is 1 to {max_party_prompt_chars} characters.").format(
                max_party_prompt_chars=MAX_PARTY_PROMPT_CHARS
            )
        )
    return cleaned


def describe_tie_break(tie_break: str) -> str:
    """Return the tie-break rule in words, for the brief."""
    return _(TIE_BREAK_TEXT[TieBreak(tie_break)])
