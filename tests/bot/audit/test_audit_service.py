"""/audit's answers from the event log: a member's actions, a job's history, moderation; one server only."""

from __future__ import annotations

import pytest

from bot.errors import UserInputError
from bot.jobs.spec import ImagineOptions, Place
from bot.services import Services
from bot.store import Actor
from tests.bot.service_kit import generate

HERE = Place(guild_id="1", channel_id="10")
ELSEWHERE = Place(guild_id="2", channel_id="20")
ALICE = Actor("100", "alice")
MOD = Actor("200", "mod")


async def test_a_members_actions_newest_first_with_their_words(services: Services) -> None:
    first = await generate(services, ALICE, HERE, ImagineOptions(prompt="a quiet harbour at dawn"))
    second = await generate(services, ALICE, HERE, ImagineOptions(prompt="a lighthouse\nin fog"))
    await generate(services, ALICE, ELSEWHERE, ImagineOptions(prompt="another server's cat"))
    entries = await services.audit.member("1", ALICE.id)
    queued = [entry.text for entry in entries if entry.event.kind == "job.queued"]
    assert queued == [
        f"asked for job #{second.job.id}: “a lighthouse in fog”",  # one line, newest first
        f"asked for job #{first.job.id}: “a quiet harbour at dawn”",
    ]
    assert all(entry.event.guild_id == "1" for entry in entries)


async def test_a_jobs_history_and_its_deletion_by_a_moderator(services: Services) -> None:
    done = await generate(services, ALICE, HERE, ImagineOptions(prompt="a red kite"))
    await services.jobs.delete(MOD, HERE, done.job.id, may_moderate=True)
    history = await services.audit.job("1", done.job.id)
    kinds = [entry.event.kind for entry in history]
    assert kinds[0] == "job.queued" and kinds[-1] == "job.deleted"
    assert "image.created" in kinds  # its images' events belong to its history
    assert history[-1].event.actor_id == MOD.id and history[-1].text == f"deleted job #{done.job.id}: by a moderator"
    moderation = await services.audit.moderation("1")
    assert [entry.event.kind for entry in moderation] == ["job.deleted"]
    # Another server's moderators cannot read this job's history, nor learn that it exists.
    with pytest.raises(UserInputError, match="no job #"):
        await services.audit.job("2", done.job.id)


async def test_blocklist_refusals_are_logged_for_moderators(services: Services) -> None:
    await services.themes.block(MOD, "1", "kraken")
    with pytest.raises(UserInputError):
        await services.imagine.prepare(ALICE, HERE, ImagineOptions(prompt="a ｋｒａｋｅｎ rising"))
    with pytest.raises(UserInputError):
        await services.parties.start(
            ALICE, guild_id="1", channel_id="10", thread_id="11", topic="kraken", settings=_party_settings()
        )
    moderation = await services.audit.moderation("1")
    assert [entry.event.kind for entry in moderation] == ["blocklist.refused", "blocklist.refused", "blocklist.added"]
    assert moderation[1].text == "was refused for a blocked term: `kraken` in “a ｋｒａｋｅｎ rising”"
    assert moderation[1].event.actor_id == ALICE.id
    assert moderation[2].text == "blocked a term: `kraken`"
    # Nothing was queued: a refusal is only a line in the log.
    assert await services.jobs.recent_in("10") == []


def _party_settings():  # type: ignore[no-untyped-def]
    from bot.parties.service import PartySettings

    return PartySettings()
