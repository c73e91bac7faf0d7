"""What an admin needs before opening Salon to a community: where commands run, through the loopback Discord."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.settings import Settings
from bot.store.jobs import recent_jobs_in_channel
from loopback import CommandUnavailable
from tests.e2e.conftest import RunningSalon, World


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
