"""What an admin needs before opening Salon to a community: where commands run, through the loopback Discord."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.settings import Settings
from bot.store.jobs import recent_jobs_in_channel
from loopback import CommandUnavailable
from tests.e2e.conftest import RunningSalon, World, add_moderator, shows_grid


async def answered(interaction):  # type: ignore[no-untyped-def]
    """Return the bot's reply to an interaction once it says something."""
    return await interaction.wait_for_original(lambda m: m.content and not m.loading, timeout=60)


async def test_commands_are_for_servers_unless_dms_are_allowed(world: World, salon: RunningSalon) -> None:
    server = world.server
    alice = server.driver(world.users["alice"])
    dm = alice.dm_channel()
    # Discord does not offer Salon's commands in DMs: they are registered for servers only.
    imagine = next(c for c in server.commands[0] if c["name"] == "imagine")
    assert imagine["contexts"] == [0]
    with pytest.raises(CommandUnavailable):
        await alice.slash(dm.id, "imagine", {"prompt": "a cat"})
    # Sent anyway (a stale client, a forged request): refused privately, nothing queued.
    forged = await alice.forged_slash(dm.id, "imagine", {"prompt": "a cat"})
    answer = await server.wait_for(lambda: next((m for m in forged.messages if m.content), None), timeout=30)
    assert answer.ephemeral and "Salon works in servers" in answer.content
    await salon.settled()
    assert await recent_jobs_in_channel(salon.bot.db, str(dm.id)) == []


async def test_an_admin_may_allow_dms(world: World, salon_settings: Callable[..., Settings]) -> None:
    running = RunningSalon(salon_settings(allow_dms=True))
    await running.start()
    try:
        server = world.server
        imagine = next(c for c in server.commands[0] if c["name"] == "imagine")
        assert sorted(imagine["contexts"]) == [0, 1, 2]
        alice = server.driver(world.users["alice"])
        dm = alice.dm_channel()
        made = await alice.slash(dm.id, "imagine", {"prompt": "a cat", "count": 1})
        await made.wait_for_original()
        await running.settled()
        [job] = await recent_jobs_in_channel(running.bot.db, str(dm.id))
        assert job.guild_id is None and job.spec.user_prompt == "a cat"
    finally:
        await running.stop()


async def test_moderators_audit_a_member_a_job_and_moderation(world: World, salon: RunningSalon) -> None:
    server = world.server
    mod_id = add_moderator(world)
    alice, mod, bob = (server.driver(world.users["alice"]), server.driver(mod_id), server.driver(world.users["bob"]))
    await answered(await mod.slash(world.channel_id, "blocklist add", {"term": "kraken"}))
    refused = await answered(await alice.slash(world.channel_id, "imagine", {"prompt": "a krаken"}))  # Cyrillic а
    assert "blocked by the moderators" in refused.content
    made = await alice.slash(world.channel_id, "imagine", {"prompt": "a harbour @everyone at dawn"})
    await server.wait_for(lambda: made.original if shows_grid(made.original) else None, 60)
    await salon.settled()
    (job,) = await recent_jobs_in_channel(salon.bot.db, str(world.channel_id))

    member = await answered(await mod.slash(world.channel_id, "audit member", {"member": world.users["alice"]}))
    assert member.ephemeral and f"<@{world.users['alice']}>" in member.content
    assert f"asked for job #{job.id}" in member.content and "was refused for a blocked term" in member.content
    # Member text is quoted as data: no one is pinged by what the log repeats.
    assert member.mention_ids == []
    history = await answered(await mod.slash(world.channel_id, "audit job", {"job": job.id}))
    assert f"History of job #{job.id}" in history.content and "was shown" in history.content
    moderation = await answered(await mod.slash(world.channel_id, "audit moderation"))
    assert "blocked a term: `kraken`" in moderation.content
    # Discord offers /audit to moderators only (its default permissions), and Salon checks again.
    with pytest.raises(CommandUnavailable):
        await bob.slash(world.channel_id, "audit moderation")
    forged = await answered(await bob.forged_slash(world.channel_id, "audit moderation", {}))
    assert forged.ephemeral and "Manage Messages" in forged.content
