"""The wrap-up of a party: a text summary and a best-of collage, built only from the store."""

from __future__ import annotations

import asyncio

from bot.catalogue import _
from bot.jobs.names import image_name
from bot.parties.rules import Role, role_name
from bot.parties.service import PartyService, PartyState
from bot.parties.store import votes_of_round
from bot.render.grid import grid_png
from bot.store.images import get_image, images_of_job

MAX_COLLAGE = 9


async def best_of(service: PartyService, state: PartyState) -> list[int]:
    """Return the image ids of the best-of: the final pick, each round's winner, then the stars."""
    finals = [r for r in state.rounds if r.kind == "final" and r.winner_image_id]
    winners = [r.winner_image_id for r in state.rounds if r.kind == "round" and r.winner_image_id]
    ids = [*(r.winner_image_id for r in finals), *winners, *(image_id for image_id, _unused in state.stars)]
    return [int(i) for i in dict.fromkeys(ids) if i is not None][:MAX_COLLAGE]


async def party_collage(service: PartyService, state: PartyState) -> bytes | None:
    """Return a numbered PNG collage of the party's best images, or None when it made none."""
    pngs = []
    for image_id in await best_of(service, state):
        image = await get_image(service.db, image_id)
        if image is not None:
            pngs.append(service.files.read(image.sha256))
    if not pngs:
        return None
    return await asyncio.to_thread(grid_png, pngs)


async def party_summary(service: PartyService, state: PartyState) -> str:
    """Return the summary posted at the end: topic, people and roles, associations, prompt, rounds, picks, counts."""
    party = state.party
    lines = [_("# 🎬 {topic} — the party in review").format(topic=party.topic)]
    roles = []
    for role in (Role.FACILITATOR, Role.PROMPT_MASTER, Role.ART_EXPERT):
        holders = state.holders(role)
        if holders:
            roles.append(
                _("{role}: {holders}").format(role=role_name(role), holders=", ".join(f"<@{h}>" for h in holders))
            )
    people = [f"<@{m.user_id}>" for m in state.members.values()]
    lines.append(_("**People** ({count}): {people}").format(count=len(people), people=", ".join(people)))
    if roles:
        lines.append(_("**Roles**: {roles}").format(roles="; ".join(roles)))
    tallies = state.tallied_associations()
    if tallies:
        associations = ", ".join(f"{t.text} ×{t.count}" for t in tallies[:25])
        lines.append(_("**Associations**: {associations}").format(associations=associations))
    lines.append(_("**The prompt's evolution**:"))
    for version in state.versions[-8:]:
        lines.append(
            _("v{version} by <@{author_id}>: `{text}`").format(
                version=version.version, author_id=version.author_id, text=version.text
            )
        )
    names = await image_names(service, state)
    positions = await _grid_positions(service, state)
    vote_count = 0
    for round_row in state.rounds:
        ballots = await votes_of_round(service.db, round_row.id)
        vote_count += len(ballots)
        what = _("Final vote") if round_row.kind == "final" else _("Round {number}").format(number=round_row.number)
        reason = round_row.outcome.get("reason", round_row.status)
        if round_row.winner_image_id is None:
            result = _("no winner — {reason}").format(reason=reason)
        elif round_row.kind == "final":
            # The final vote's buttons number its candidates; the winner is named by where it was made.
            pick = names.get(round_row.winner_image_id, _("an image"))
            result = _("{pick} is the party's pick — among the candidates, {reason}").format(pick=pick, reason=reason)
        else:
            result = _("image {value} won — {reason}").format(
                value=positions.get(round_row.winner_image_id, "?"), reason=reason
            )
        lines.append(
            _("**{what}** (prompt v{version}): {result}").format(
                what=what, version=round_row.prompt_version or "–", result=result
            )
        )
    if state.stars:
        lines.append(
            _("**Art Expert's picks**: ") + ", ".join(names.get(i, _("an image")) for i, _unused in state.stars)
        )
    rounds = sum(1 for r in state.rounds if r.kind == "round")
    lines.append(
        _(
            "**Counts**: {count} people, {count2} associations, {count3} prompt versions, "
            "{count4} proposals, {rounds} rounds, {vote_count} ballots, {count5} stars."
        ).format(
            count=len(people),
            count2=len(state.associations),
            count3=len(state.versions),
            count4=len(state.proposals),
            rounds=rounds,
            vote_count=vote_count,
            count5=len(state.stars),
        )
    )
    if await best_of(service, state):
        lines.append(_("The collage shows the best of the party (final pick first)."))
    return "\n".join(lines)


async def _grid_positions(service: PartyService, state: PartyState) -> dict[int, int]:
    """Return each round image's place in its round's grid, from 1."""
    positions: dict[int, int] = {}
    for round_row in state.rounds:
        if round_row.kind == "round" and round_row.job_id is not None:
            for n, image in enumerate(await images_of_job(service.db, round_row.job_id), start=1):
                positions[image.id] = n
    return positions


async def image_names(service: PartyService, state: PartyState) -> dict[int, str]:
    """Return how members call each round image: "round 2, image 3" (its place in that round's grid)."""
    names: dict[int, str] = {}
    for round_row in state.rounds:
        if round_row.kind == "round" and round_row.job_id is not None:
            for n, image in enumerate(await images_of_job(service.db, round_row.job_id), start=1):
                names[image.id] = image_name(n, round_row.job_id, round_row.number)
    return names
