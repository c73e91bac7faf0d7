"""/party: facilitated group sessions in a thread. A thin cog over `bot.parties.service`."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.catalogue import _
from bot.client import SalonBot
from bot.errors import UserInputError
from bot.jobs.spec import Feature
from bot.member_text import one_line
from bot.parties.rules import Phase, Role, TieBreak, VoteMode, phase_name
from bot.parties.service import PartySettings, PartyState
from bot.render.grid import grid_png
from bot.store import Actor
from bot.store.images import ImageRecord
from bot.store.jobs import Job, Shown
from cogs.imagine.presenter import failure_text
from cogs.kit.choices import id_choices
from cogs.kit.delivery import Presentation, result_marker
from cogs.kit.places import actor_of, is_admin, place_of
from cogs.parties.board import PartyBoards, board_text, member_mentions
from cogs.parties.views import (
    CONSENT_QUESTION,
    PARTY_ITEMS,
    announce_result,
    close_vote,
    consent_text,
    consent_view,
    post_poll,
    post_summary,
    round_view,
)

log = logging.getLogger(__name__)

ROLE_CHOICES = [app_commands.Choice(name=role.value, value=role.value) for role in Role if role is not Role.PARTICIPANT]


def check_role_candidate(interaction: discord.Interaction, member: discord.Member) -> None:
    """Refuse a party role for a bot (Salon too) or for someone who cannot see the party's thread."""
    name = discord.utils.escape_markdown(member.display_name)
    if member.bot or member.system or (interaction.client.user and member.id == interaction.client.user.id):
        raise UserInputError(
            _("Party roles go to people; {name} is a bot. Name a member of this server.").format(name=name)
        )
    channel = interaction.channel
    if isinstance(channel, discord.Thread | discord.TextChannel) and not channel.permissions_for(member).view_channel:
        raise UserInputError(
            _("{name} cannot see this thread, so they cannot take part; name someone who can.").format(name=name)
        )


def status_text(state: PartyState) -> str:
    """Return the party's phase, members, associations, prompt and rounds, for `/party status`."""
    party = state.party
    topic = discord.utils.escape_markdown(party.topic)
    lines = [_("**{topic}** — phase: {phase}").format(topic=topic, phase=phase_name(state.phase))]
    members = member_mentions(state)
    lines.append(_("Members: {members}").format(members=", ".join(members) or _("none")))
    tallies = state.tallied_associations()
    if tallies:
        associations = ", ".join(f"{discord.utils.escape_markdown(t.text)} ×{t.count}" for t in tallies[:30])
        lines.append(_("Associations: {associations}").format(associations=associations))
    version = state.current_version
    if version:
        lines.append(_("Prompt v{version}: `{text}`").format(version=version.version, text=version.text))
    open_proposals = [p for p in state.proposals if p.status == "open"]
    for proposal in open_proposals[:10]:
        lines.append(
            _("Proposal #{id} by <@{author_id}>: `{text}`").format(
                id=proposal.id, author_id=proposal.author_id, text=proposal.text
            )
        )
    rounds = [r for r in state.rounds if r.kind == "round"]
    if rounds:
        lines.append(_("Rounds: {count} (last: {status})").format(count=len(rounds), status=rounds[-1].status))
    return "\n".join(lines)[:2000]


class PartyRoundPresenter:
    """Presents a party round's job: its vote opens (with its deadline) before anyone sees the grid.

    The grid's message is the round's live message from then on: votes, stars and the outcome edit it.
    """

    # The round's message is Salon's own, posted as the round starts: the result is edited into it.
    in_place = True

    def __init__(self, bot: SalonBot, boards: PartyBoards) -> None:
        self.bot = bot
        self.boards = boards

    async def present(self, job: Job, images: list[ImageRecord], notes: tuple[str, ...]) -> Presentation:
        """Return the round's grid with its vote buttons, opening the vote if it is not open yet."""
        party_ref = job.spec.party
        assert party_ref is not None
        round_row = await self.bot.services.parties.open_vote(party_ref.round_id, job.id)
        grid = await self.bot.services.jobs.grid_png(job, images)
        text = await self.boards.round_text(round_row, notes)
        return Presentation(text, [(result_marker(job), grid)], round_view(round_row, images))

    async def shown(self, job: Job, message: discord.Message) -> None:
        """Remember the vote message, and post the native poll beside it when the party runs polls."""
        party_ref = job.spec.party
        assert party_ref is not None
        await self.bot.services.parties.record_vote_message(party_ref.round_id, str(message.id))
        round_row = await self.bot.services.parties.get_round(party_ref.round_id)
        if round_row is not None:
            self.boards.party_changed(round_row.party_id)
        party = await self.bot.services.parties.party_in(job.channel_id)
        if round_row is not None and party.native_poll and not round_row.poll_message_id:
            _unused, images = await self.bot.services.jobs.job_with_images(job.id)
            await post_poll(self.bot, self.bot.get_partial_messageable(int(job.channel_id)), round_row, images)

    async def failed(self, job: Job) -> Presentation:
        """Mark the round failed, so the facilitator can start it again, and say so."""
        party_ref = job.spec.party
        assert party_ref is not None
        await self.bot.services.parties.round_failed(party_ref.round_id, job.error or job.state.value)
        self.boards.party_changed((await self.bot.services.parties.party_in(job.channel_id)).id)
        return Presentation(
            failure_text(job) + "\n" + _("The facilitator can start the round again with `/party round`.")
        )


class PartyCog(commands.Cog):
    """Parties in threads: lifecycle, associations, the shared prompt, rounds and votes."""

    party = app_commands.Group(name="party", description="Facilitated group sessions on a topic", guild_only=True)

    def __init__(self, bot: SalonBot) -> None:
        self.bot = bot
        self.boards = PartyBoards(bot)
        bot.deliverer.register(Feature.PARTY_ROUND, PartyRoundPresenter(bot, self.boards))

    async def cog_load(self) -> None:
        if not self.bot.serving:  # only syncing commands: no deadline may act now
            return
        # Timers are rows in the store: rebuild them as the cog loads, before Salon reports ready.
        parties = self.bot.services.parties
        parties.on_deadlines(self._vote_due, self._phase_due)
        count = await parties.start_timers()
        log.info("rebuilt %d party timers", count)

    async def cog_unload(self) -> None:
        self.bot.services.parties.stop_timers()
        await self.boards.settled()

    async def _vote_due(self, round_id: int) -> None:
        # A deadline that passed while Salon was down fires at once: wait until the threads are known.
        await self.bot.wait_until_ready()
        round_row = await self.bot.services.parties.get_round(round_id)
        if round_row is None or round_row.status != "voting":
            return
        result = await close_vote(self.bot, round_id)
        await announce_result(self.bot, result)

    async def _phase_due(self, party_id: int) -> None:
        await self.bot.wait_until_ready()
        state = await self.bot.services.parties.advance_on_timer(party_id)
        if state is None:
            return
        thread = self.bot.get_channel(int(state.party.thread_id))
        self.boards.party_changed(party_id)
        if isinstance(thread, discord.abc.Messageable):
            await thread.send(
                _("⏰ Time is up for associations. Rounds begin: the facilitator starts each with `/party round`.")
            )

    def _thread_id(self, interaction: discord.Interaction) -> str:
        return str(interaction.channel_id)

    # --- lifecycle ------------------------------------------------------------------------------

    @party.command(name="start", description="Start a party on a topic in a new thread; you facilitate it")
    @app_commands.describe(
        topic="What the party explores, e.g. loneliness, love, the meaning of life",
        vote_mode="single: one image per member; approval: any number",
        tie_break="How a tied vote is decided",
        quorum="Votes needed for a round to have a winner (0: none)",
        vote_minutes="How long each vote lasts, in minutes",
        native_poll="Also run each vote as a native Discord poll (votes of 60 minutes or more)",
        associations_minutes="Move on from associations to rounds after this many minutes (0: the facilitator does)",
    )
    @app_commands.choices(
        vote_mode=[app_commands.Choice(name=m.value, value=m.value) for m in VoteMode],
        tie_break=[app_commands.Choice(name=t.value, value=t.value) for t in TieBreak],
    )
    async def start(
        self,
        interaction: discord.Interaction,
        topic: app_commands.Range[str, 1, 200],
        vote_mode: str = VoteMode.SINGLE.value,
        tie_break: str = TieBreak.EARLIEST.value,
        quorum: app_commands.Range[int, 0, 100] = 0,
        vote_minutes: app_commands.Range[float, 0.05, 10080.0] = 5.0,
        native_poll: bool = False,
        associations_minutes: app_commands.Range[float, 0.0, 10080.0] = 0.0,
    ) -> None:
        settings = PartySettings(
            VoteMode(vote_mode), TieBreak(tie_break), quorum, vote_minutes, native_poll, associations_minutes
        )
        channel = interaction.channel
        if not isinstance(channel, discord.TextChannel):
            raise UserInputError(_("Start a party in a text channel; Salon opens a thread for it there."))
        await interaction.response.defer(thinking=True)
        thread = await channel.create_thread(
            name=f"Party: {topic}"[:100], type=discord.ChannelType.public_thread, auto_archive_duration=1440
        )
        state = await self.bot.services.parties.start(
            actor_of(interaction),
            guild_id=str(interaction.guild_id),
            channel_id=str(channel.id),
            thread_id=str(thread.id),
            topic=topic,
            settings=settings,
        )
        await thread.add_user(interaction.user)
        # The party's board: how a party goes and what is happening now, kept current by `PartyBoards`.
        brief = await thread.send(board_text(state), allowed_mentions=discord.AllowedMentions.none())
        await brief.pin()
        await self.bot.services.parties.record_brief(state.party.id, str(brief.id))
        await interaction.edit_original_response(
            content=_("🎉 {member} started a party on **{topic}** in {thread}. Join with `/party join` there.").format(
                member=interaction.user.mention, topic=discord.utils.escape_markdown(topic), thread=thread.mention
            )
        )

    @party.command(name="join", description="Join the party in this thread")
    async def join(self, interaction: discord.Interaction) -> None:
        state = await self.bot.services.parties.join(actor_of(interaction), self._thread_id(interaction))
        # Private: the pinned board lists the members, so a join needs no message of its own.
        await interaction.response.send_message(
            _("👋 You are in the party on **{topic}**. The pinned message shows what is happening now.").format(
                topic=discord.utils.escape_markdown(state.party.topic)
            ),
            ephemeral=True,
        )
        self.boards.party_changed(state.party.id)
        # Asked once per server: the answer is remembered, and `/party consent` changes it.
        if await self.bot.services.consents.choice_of(str(interaction.guild_id), str(interaction.user.id)) is None:
            await interaction.followup.send(_(CONSENT_QUESTION), view=consent_view(), ephemeral=True)

    @party.command(name="leave", description="Leave the party in this thread")
    async def leave(self, interaction: discord.Interaction) -> None:
        state = await self.bot.services.parties.leave(actor_of(interaction), self._thread_id(interaction))
        await interaction.response.send_message(_("You left the party; `/party join` brings you back."), ephemeral=True)
        self.boards.party_changed(state.party.id)

    @party.command(name="role", description="Give a member a party role (facilitator only)")
    @app_commands.describe(member="A member of this server who can see the thread", role="The role to give")
    @app_commands.choices(role=ROLE_CHOICES)
    async def role(self, interaction: discord.Interaction, member: discord.Member, role: str) -> None:
        check_role_candidate(interaction, member)
        target = Actor(str(member.id), member.display_name)
        assigned = await self.bot.services.parties.assign_role(
            actor_of(interaction), self._thread_id(interaction), target, Role(role), is_admin=is_admin(interaction)
        )
        text = _("{member} is now {role} of this party.").format(member=member.mention, role=role)
        if assigned.joined:
            # They did not ask to take part: say so to them (the only mention allowed), and how to leave.
            text += " " + _("They were not in it, so Salon joined them; `/party leave` takes them out again.")
            if isinstance(interaction.channel, discord.Thread):
                try:
                    await interaction.channel.add_user(member)
                except discord.HTTPException:
                    log.warning("could not add %s to thread %s", member.id, interaction.channel_id, exc_info=True)
        await interaction.response.send_message(
            text, allowed_mentions=discord.AllowedMentions(users=[member] if assigned.joined else False)
        )
        self.boards.party_changed(assigned.state.party.id)

    @party.command(name="status", description="Show the party's phase, members, associations and prompt")
    async def status(self, interaction: discord.Interaction) -> None:
        state = await self.bot.services.parties.state_in(self._thread_id(interaction))
        await interaction.response.send_message(
            status_text(state), ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    @party.command(name="next", description="Move the party to its next phase (facilitator only)")
    async def next_phase(self, interaction: discord.Interaction) -> None:
        state = await self.bot.services.parties.advance(
            actor_of(interaction), self._thread_id(interaction), is_admin=is_admin(interaction)
        )
        hints = {
            Phase.ROUNDS: _("Rounds begin: the facilitator starts each with `/party round`."),
            Phase.FINAL_VOTE: _("Final vote: the facilitator opens it with `/party final`."),
            Phase.ENDED: _("The party has ended."),
        }
        await interaction.response.send_message(f"➡️ {hints.get(state.phase, phase_name(state.phase))}")
        self.boards.party_changed(state.party.id)
        if state.phase is Phase.ENDED:
            await post_summary(self.bot, interaction.channel, state)

    @party.command(name="end", description="End the party and post its summary (facilitator only)")
    async def end(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        state = await self.bot.services.parties.end(
            actor_of(interaction), self._thread_id(interaction), is_admin=is_admin(interaction)
        )
        await interaction.edit_original_response(content=_("🎬 The party has ended. Its summary follows."))
        await post_summary(self.bot, interaction.channel, state)
        self.boards.party_changed(state.party.id)

    @party.command(name="consent", description="Agree (or not) to have your images published in blog posts")
    async def consent(self, interaction: discord.Interaction, publish: bool) -> None:
        await self.bot.services.consents.choose(actor_of(interaction), str(interaction.guild_id), publish)
        await interaction.response.send_message(consent_text(publish), ephemeral=True)

    @party.command(name="consent-default", description="Publish members who made no choice (Manage Server)")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def consent_default(self, interaction: discord.Interaction, publish: bool) -> None:
        await self.bot.services.consents.set_default(actor_of(interaction), str(interaction.guild_id), publish)
        text = (
            _("Members who made no choice are now published unless they say no.")
            if publish
            else _("Members who made no choice are now left out unless they agree.")
        )
        await interaction.response.send_message(text, ephemeral=True)

    # --- associations and the prompt ------------------------------------------------------------

    @party.command(name="associate", description="Add a word, style or artist the topic brings to mind")
    @app_commands.choices(kind=[app_commands.Choice(name=k, value=k) for k in ("word", "style", "artist")])
    async def associate(
        self, interaction: discord.Interaction, text: app_commands.Range[str, 1, 100], kind: str = "word"
    ) -> None:
        state = await self.bot.services.parties.associate(
            actor_of(interaction), self._thread_id(interaction), text, kind
        )
        # A private answer; the pinned board shows the most mentioned to everyone, so a long run of
        # additions does not flood the thread.
        tallies = state.tallied_associations()
        added = discord.utils.escape_markdown(one_line(text))[:200]
        top = ", ".join(f"{discord.utils.escape_markdown(t.text)} ×{t.count}" for t in tallies[:5])
        await interaction.response.send_message(
            _("💭 Added *{added}*. Most mentioned: {top} ({count} in all; `/party status` lists them).").format(
                added=added, top=top, count=len(tallies)
            ),
            ephemeral=True,
        )
        self.boards.party_changed(state.party.id)

    @party.command(name="fragment", description="Turn associations into a prompt fragment (Prompt Master)")
    @app_commands.describe(text="The fragment", associations="Comma-separated associations it comes from")
    async def fragment(
        self, interaction: discord.Interaction, text: app_commands.Range[str, 1, 1000], associations: str = ""
    ) -> None:
        fragment = await self.bot.services.parties.make_fragment(
            actor_of(interaction),
            self._thread_id(interaction),
            text,
            from_associations=[a for a in associations.split(",") if a.strip()],
            is_admin=is_admin(interaction),
        )
        credits = ", ".join(f"<@{c}>" for c in fragment.contributors) or _("the Prompt Master")
        await interaction.response.send_message(
            _("🧩 Fragment `{text}` — from ideas by {credits}. Commit it with `/party commit text:`.").format(
                text=fragment.text, credits=credits
            ),
            ephemeral=True,
        )

    @party.command(name="suggest", description="Suggest candidate prompts from the topic and associations")
    async def suggest(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        suggestions = await self.bot.services.suggester.suggest(
            await self.bot.services.parties.state_in(self._thread_id(interaction))
        )
        lines = [f"{n}. `{text}`" for n, text in enumerate(suggestions, start=1)]
        await interaction.edit_original_response(
            content=_("💡 Candidate prompts (propose one with `/party propose`):") + "\n" + "\n".join(lines)
        )

    @party.command(name="propose", description="Propose an edit of the shared prompt")
    async def propose(
        self,
        interaction: discord.Interaction,
        text: app_commands.Range[str, 1, 1000],
        negative: app_commands.Range[str, 0, 1000] = "",
    ) -> None:
        proposal = await self.bot.services.parties.propose(
            actor_of(interaction), self._thread_id(interaction), text, negative
        )
        # Public: the Prompt Master has something to act on.
        await interaction.response.send_message(
            _(
                "✏️ Proposal #{id} by {member}: `{text}` — the Prompt Master commits it with "
                "`/party commit proposal:{id}`."
            ).format(id=proposal.id, member=interaction.user.mention, text=proposal.text),
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.boards.party_changed(proposal.party_id)

    @party.command(name="commit", description="Commit a proposal or your own text as the next prompt version")
    async def commit(
        self,
        interaction: discord.Interaction,
        proposal: int | None = None,
        text: app_commands.Range[str, 1, 1000] | None = None,
        negative: app_commands.Range[str, 0, 1000] | None = None,
    ) -> None:
        version = await self.bot.services.parties.commit(
            actor_of(interaction),
            self._thread_id(interaction),
            proposal_id=proposal,
            text=text,
            negative=negative,
            is_admin=is_admin(interaction),
        )
        # Private: the pinned board shows the current prompt to everyone.
        await interaction.response.send_message(
            _("✅ Prompt v{version} by <@{author}>: `{text}` (changes: `{diff}`)").format(
                version=version.version, author=version.author_id, text=version.text, diff=version.diff
            ),
            ephemeral=True,
        )
        self.boards.party_changed(version.party_id)

    @commit.autocomplete("proposal")
    async def _proposal_ids(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[int]]:
        proposals = await self.bot.services.parties.open_proposals(self._thread_id(interaction))
        return id_choices(((p.id, f"#{p.id}: {p.text}") for p in proposals), current)

    @party.command(name="revert", description="Make an earlier prompt version current again (Prompt Master)")
    async def revert(self, interaction: discord.Interaction, version: app_commands.Range[int, 1, 10000]) -> None:
        row = await self.bot.services.parties.revert(
            actor_of(interaction), self._thread_id(interaction), version, is_admin=is_admin(interaction)
        )
        await interaction.response.send_message(
            _("↩️ Prompt v{new} is v{old} again: `{text}`").format(new=row.version, old=version, text=row.text),
            ephemeral=True,
        )
        self.boards.party_changed(row.party_id)

    @revert.autocomplete("version")
    async def _version_numbers(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[int]]:
        versions = await self.bot.services.parties.versions(self._thread_id(interaction))
        return id_choices(((v.version, f"v{v.version}: {v.text}") for v in versions), current)

    @party.command(name="prompt", description="Show how the shared prompt evolved")
    async def prompt(self, interaction: discord.Interaction) -> None:
        state = await self.bot.services.parties.state_in(self._thread_id(interaction))
        lines = [
            f"v{v.version} by <@{v.author_id}>"
            + (_(" (revert of v{reverted_from})").format(reverted_from=v.reverted_from) if v.reverted_from else "")
            + f": `{v.text}`"
            for v in state.versions
        ]
        await interaction.response.send_message(
            "\n".join(lines)[:2000], ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    # --- rounds ---------------------------------------------------------------------------------

    @party.command(name="round", description="Generate the next round from the current prompt (facilitator)")
    async def round(self, interaction: discord.Interaction) -> None:
        actor = actor_of(interaction)
        round_row, prepared = await self.bot.services.parties.prepare_round(
            actor, self._thread_id(interaction), is_admin=is_admin(interaction)
        )
        # The facilitator is answered privately; the round's own message is Salon's, posted in the thread
        # before the job is queued (its id is stored with the job, so a restart finds it), and it can be
        # edited for as long as the vote lasts (an interaction's reply only for 15 minutes).
        await interaction.response.send_message(
            _("🎨 Round {number} is on its way: its grid and vote appear in the thread.").format(
                number=round_row.number
            ),
            ephemeral=True,
        )
        place = place_of(interaction)
        thread = self.bot.get_partial_messageable(int(place.channel_id), guild_id=interaction.guild_id)
        message = await thread.send(_("**Round {number}** is on its way…").format(number=round_row.number))
        shown = Shown(place.channel_id, place.rules_channel, reply_message_id=str(message.id))
        try:
            queued = await self.bot.services.jobs.submit(actor, place, prepared, shown=shown)
        except Exception as exc:
            await self.bot.services.parties.round_failed(round_row.id, str(exc))
            with contextlib.suppress(discord.HTTPException):
                await message.delete()
            raise
        self.boards.party_changed(round_row.party_id)
        # From here the round is the job's: the deliverer shows its progress, opens its vote and shows its
        # grid in that one message, after a restart too, through `PartyRoundPresenter`.
        await self.bot.deliverer.follow(queued)

    @party.command(name="final", description="Open the final vote over the rounds' winners and stars (facilitator)")
    async def final(self, interaction: discord.Interaction) -> None:
        round_row, images = await self.bot.services.parties.prepare_final(
            actor_of(interaction), self._thread_id(interaction), is_admin=is_admin(interaction)
        )
        await interaction.response.defer(ephemeral=True, thinking=True)
        pngs = [self.bot.files.read(image.sha256) for image in images]
        grid = await asyncio.to_thread(grid_png, pngs)
        opened = await self.bot.services.parties.round_generated(round_row.id, None)
        assert opened.deadline_at is not None
        # Salon's own message (not the interaction's reply), so it stays editable while the vote lasts.
        thread = self.bot.get_partial_messageable(int(self._thread_id(interaction)), guild_id=interaction.guild_id)
        message = await thread.send(
            await self.boards.round_text(opened),
            file=discord.File(io.BytesIO(grid), filename=f"salon-final-{round_row.id}.png"),
            view=round_view(round_row, images),
            allowed_mentions=discord.AllowedMentions.none(),
        )
        await interaction.edit_original_response(
            content=_("🗳️ The final vote is open: {link}").format(link=message.jump_url)
        )
        await self.bot.services.parties.record_vote_message(round_row.id, str(message.id))
        self.boards.party_changed(round_row.party_id)
        party = await self.bot.services.parties.party_in(self._thread_id(interaction))
        if party.native_poll and isinstance(interaction.channel, discord.abc.Messageable):
            await post_poll(self.bot, interaction.channel, round_row, images)


async def setup(bot: SalonBot) -> None:
    """Load the cog and register its buttons that survive restarts (discord.py extension entry point)."""
    bot.add_persistent_items(*PARTY_ITEMS)
    await bot.add_cog(PartyCog(bot))
