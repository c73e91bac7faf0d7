"""Buttons under party rounds (vote, star, close) and the messages that tell how a vote ended.

Each button is a `DynamicItem` whose custom_id holds its state, so votes keep working after a
restart. Callbacks turn the party's rule errors into ephemeral replies.
"""

from __future__ import annotations

import io
import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import discord

from bot.catalogue import N_, _
from bot.parties.service import PartyService, PartyState, RoundResult
from bot.parties.store import RoundRow
from bot.parties.summary import party_collage, party_summary
from bot.store import SYSTEM, Actor
from bot.store.images import ImageRecord
from cogs.kit.components import NUMBER, POSITION, SalonItem, one_of
from cogs.kit.places import actor_of, is_admin, message_link, services_of

if TYPE_CHECKING:
    from cogs.parties.board import PartyBoards

MAX_CANDIDATES = 9


def boards_of(client: Any) -> PartyBoards:
    """Return the live party messages of the bot (kept by the party cog)."""
    cog = client.get_cog("PartyCog")
    assert cog is not None, "the party cog is not loaded"
    boards: PartyBoards = cog.boards
    return boards


def parties_of(interaction: discord.Interaction) -> PartyService:
    """Return the party service of the bot that received the interaction."""
    return services_of(interaction.client).parties


class VoteButton(
    SalonItem[discord.ui.Button], key="pvote", parts={"round_id": NUMBER, "idx": POSITION}, where=N_("a party vote")
):
    """Vote for image n of a round (a second click moves a single-choice vote, or toggles an approval)."""

    def __init__(self, round_id: int, idx: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=_("Vote {number}").format(number=idx + 1),
                style=discord.ButtonStyle.primary,
                custom_id=self.make_id(round_id, idx),
            )
        )
        self.round_id, self.idx = round_id, idx

    async def act(self, interaction: discord.Interaction) -> None:
        chosen = await parties_of(interaction).vote(actor_of(interaction), self.round_id, self.idx)
        if chosen:
            text = _("Your vote: image {numbers}. Click again to change it.").format(
                numbers=", ".join(str(i + 1) for i in chosen)
            )
        else:
            text = _("You have no vote in this round now.")
        await interaction.response.send_message(text, ephemeral=True)
        # The round's message counts the voters (not the votes, so nobody follows the crowd).
        boards_of(interaction.client).vote_changed(self.round_id)


class StarButton(
    SalonItem[discord.ui.Button], key="pstar", parts={"image_id": NUMBER, "n": POSITION}, where=N_("a star")
):
    """⭐n: the Art Expert stars image n for the final selection."""

    def __init__(self, image_id: int, n: int) -> None:
        super().__init__(
            discord.ui.Button(label=f"⭐{n}", style=discord.ButtonStyle.secondary, custom_id=self.make_id(image_id, n))
        )
        self.image_id, self.n = image_id, n

    async def act(self, interaction: discord.Interaction) -> None:
        starred = await parties_of(interaction).star(actor_of(interaction), self.image_id)
        if starred.added:
            text = _("⭐ Image {number} is starred for the final selection; the round's message shows it.")
        else:
            text = _("Image {number} is already starred.")
        await interaction.response.send_message(text.format(number=self.n), ephemeral=True)
        if starred.added and starred.round is not None:
            boards_of(interaction.client).round_changed(starred.round)


class CloseVoteButton(
    SalonItem[discord.ui.Button], key="pclose", parts={"round_id": NUMBER}, where=N_("closing a vote")
):
    """The facilitator closes a vote before its deadline."""

    def __init__(self, round_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=_("Close vote"), emoji="🏁", style=discord.ButtonStyle.danger, custom_id=self.make_id(round_id)
            )
        )
        self.round_id = round_id

    async def act(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await close_vote(
            interaction.client, self.round_id, actor_of(interaction), is_admin=is_admin(interaction)
        )
        await interaction.edit_original_response(content=closed_text(result))
        await announce_result(interaction.client, result, announce=False)


def consent_text(publish: bool) -> str:
    """Return what a member is told once they chose whether their images may be published."""
    if publish:
        return _("Your images may be published in this server's blog exports. Change it any time: `/party consent`.")
    return _("Your images will be left out of this server's blog exports. Change it any time: `/party consent`.")


class ConsentButton(
    SalonItem[discord.ui.Button],
    key="consent",
    parts={"publish": one_of("yes", "no")},
    where=N_("choosing publication"),
):
    """Asked as a member joins a party: may their images (and rounds they shape) be published?"""

    def __init__(self, publish: str) -> None:
        label, style = (
            (_("Publish my images"), discord.ButtonStyle.success)
            if publish == "yes"
            else (_("Keep them private"), discord.ButtonStyle.secondary)
        )
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=self.make_id(publish)))
        self.publish = publish

    async def act(self, interaction: discord.Interaction) -> None:
        publish = self.publish == "yes"
        await services_of(interaction.client).consents.choose(actor_of(interaction), str(interaction.guild_id), publish)
        await interaction.response.send_message(consent_text(publish), ephemeral=True)


def consent_view() -> discord.ui.View:
    """Return the two buttons that ask a member about publication."""
    view = discord.ui.View(timeout=None)
    view.add_item(ConsentButton("yes"))
    view.add_item(ConsentButton("no"))
    return view


CONSENT_QUESTION = N_(
    "Welcome! When this party is exported as a gallery or blog post, may your images, and the rounds you"
    " shape with your proposals and votes, be published? You can change it later with `/party consent`."
)

PARTY_ITEMS = (VoteButton, StarButton, CloseVoteButton, ConsentButton)


async def post_poll(
    client: Any, thread: discord.abc.Messageable, round_row: RoundRow, images: list[ImageRecord]
) -> None:
    """Post a native poll beside a round's buttons, for votes that last hours, and remember it."""
    service: PartyService = client.services.parties
    state = await service.state(round_row.party_id)
    question = (
        _("{topic}: which image wins the final vote?")
        if round_row.kind == "final"
        else _("{topic}: which image wins round {number}?")
    )
    poll = discord.Poll(
        question=question.format(topic=state.party.topic[:200], number=round_row.number),
        duration=timedelta(hours=max(1, math.ceil(state.party.vote_minutes / 60))),
        multiple=state.party.vote_mode == "approval",
    )
    for n in range(1, min(len(images), 10) + 1):
        poll.add_answer(text=_("Image {number}").format(number=n))
    message = await thread.send(poll=poll)
    await service.record_poll_message(round_row.id, str(message.id))


async def close_vote(client: Any, round_id: int, actor: Actor = SYSTEM, *, is_admin: bool = False) -> RoundResult:
    """Close a vote: fold in its native poll's votes (members only), tally, and end the poll."""
    service: PartyService = client.services.parties
    round_row = await service.get_round(round_id)
    poll_message = None
    votes: dict[int, list[str]] = {}
    if round_row is not None and round_row.poll_message_id and round_row.status == "voting":
        party = await service.party_of(round_row)
        thread = client.get_channel(int(party.thread_id))
        if isinstance(thread, discord.abc.Messageable):
            poll_message = await thread.fetch_message(int(round_row.poll_message_id))
            if poll_message.poll is not None:
                votes = {
                    idx: [str(user.id) async for user in answer.voters()]
                    for idx, answer in enumerate(poll_message.poll.answers)
                }
    result = await service.close_round(round_id, actor, is_admin=is_admin, poll_votes=votes)
    if poll_message is not None and poll_message.poll is not None and not poll_message.poll.is_finalised():
        try:
            await poll_message.end_poll()
        except discord.HTTPException:
            pass
    return result


def round_view(round_row: RoundRow, images: list[ImageRecord]) -> discord.ui.View:
    """Return the buttons under a round's grid: a vote per image, a star per image, and close."""
    view = discord.ui.View(timeout=None)
    shown = images[:MAX_CANDIDATES]
    per_row = 5 if len(shown) > 4 else max(1, len(shown))
    row = 0
    for start in range(0, len(shown), per_row):
        for n in range(start, min(start + per_row, len(shown))):
            item = VoteButton(round_row.id, n)
            item.row = row
            view.add_item(item)
        row += 1
    if round_row.kind == "round":
        for start in range(0, len(shown), per_row):
            for n, image in enumerate(shown[start : start + per_row], start=start):
                star = StarButton(image.id, n + 1)
                star.row = row
                view.add_item(star)
            row += 1
    close = CloseVoteButton(round_row.id)
    close.row = min(row, 4)
    view.add_item(close)
    return view


async def post_summary(client: Any, channel: Any, state: PartyState) -> None:
    """Post a party's wrap-up in its thread: the summary text and the best-of collage."""
    if not isinstance(channel, discord.abc.Messageable):
        return
    summary = await party_summary(client.services.parties, state)
    collage = await party_collage(client.services.parties, state)
    files = [discord.File(io.BytesIO(collage), filename=f"salon-party-{state.party.id}.png")] if collage else []
    await channel.send(summary[:2000], files=files, allowed_mentions=discord.AllowedMentions.none())


def closed_text(result: RoundResult) -> str:
    """Return what the facilitator is told privately as they close a vote: the outcome and what comes next."""
    if result.round.kind == "final":
        return _("Vote closed: {reason}. The party wraps up now.").format(reason=result.outcome.reason)
    return _(
        "Vote closed: {reason}. Next: `/party round` for another round, or `/party next` for the final vote."
    ).format(reason=result.outcome.reason)


async def announce_result(client: Any, result: RoundResult, *, announce: bool = True) -> None:
    """Show how a vote ended on the round's own message, and wrap up after the final vote.

    `announce` posts one short line too, pointing at the round: for a vote closed by its deadline,
    when nobody was there to see it close. A facilitator who closes a vote is told privately.
    """
    boards_of(client).round_changed(result.round)
    thread = client.get_channel(int(result.party.thread_id))
    if not isinstance(thread, discord.abc.Messageable):
        return
    if announce and result.round.vote_message_id:
        link = message_link(result.party.guild_id, result.party.thread_id, result.round.vote_message_id)
        name = (
            _("The final vote")
            if result.round.kind == "final"
            else _("Round {number}").format(number=result.round.number)
        )
        await thread.send(
            _("⏰ {round}'s vote has closed: {reason}. {link}").format(
                round=name, reason=result.outcome.reason, link=link
            ),
            allowed_mentions=discord.AllowedMentions.none(),
        )
    if result.round.kind == "final":
        # The final vote is the last step: the party wraps up on its own.
        await post_summary(client, thread, await client.services.parties.wrap_up(result.party.id))
        boards_of(client).party_changed(result.party.id)
