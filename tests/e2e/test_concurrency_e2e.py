"""Fifty /imagine at once from ten users: every one is acknowledged in time and gets its grid."""

from __future__ import annotations

import asyncio

from bot.store.jobs import JobState, jobs_in_states
from tests.e2e.conftest import RunningSalon, World, shows_grid


async def test_fifty_concurrent_imagines_from_ten_users(world: World, salon: RunningSalon) -> None:
    server = world.server
    drivers = []
    for index in range(10):
        user = server.create_user(f"member{index}")
        server.add_member(world.guild_id, user.id)
        drivers.append(server.driver(user.id))
    interactions = await asyncio.gather(
        *(
            drivers[n % 10].slash(world.channel_id, "imagine", {"prompt": f"a tiny house number {n}", "count": 1})
            for n in range(50)
        )
    )

    def all_delivered() -> bool:
        return all(i.original is not None and shows_grid(i.original) for i in interactions)

    await server.wait_for(all_delivered, timeout=280)
    assert [i.refused for i in interactions] == [[]] * 50, "no callback was refused by the 3-second rule"
    assert {i.callback_type for i in interactions} == {5}
    for n, interaction in enumerate(interactions):
        assert f"a tiny house number {n}" in interaction.original.content
    await salon.settled()
    done = await jobs_in_states(salon.bot.services.jobs.db, (JobState.DELIVERED,))
    assert len(done) == 50
    assert len({job.requester_id for job in done}) == 10
