"""Running Salon on a server: commands synced only when they changed, `python -m bot sync`, a live backup."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.__main__ import _run
from bot.heartbeat import heartbeat_problem
from bot.settings import Settings
from bot.store import Database
from bot.store.backup import backup_data
from bot.store.jobs import recent_jobs_in_channel
from cogs.kit.command_sync import STATE_FILE
from tests.e2e.conftest import RunningSalon, World, shows_grid


async def test_commands_are_synced_only_when_the_tree_changed(
    world: World, salon_settings: Callable[..., Settings]
) -> None:
    settings = salon_settings()
    first = RunningSalon(settings)
    await first.start()
    await first.stop()
    assert world.server.command_syncs == 1
    assert "imagine" in {c["name"] for c in world.server.commands[0]}
    # A restart with the same commands sends nothing: Discord already has them.
    again = RunningSalon(settings)
    await again.start()
    await again.stop()
    assert world.server.command_syncs == 1
    # Another place for the commands is another tree: the dev guild gets them at once.
    dev = RunningSalon(salon_settings(dev_guild_id=world.guild_id))
    await dev.start()
    await dev.stop()
    assert world.server.command_syncs == 2
    assert "imagine" in {c["name"] for c in world.server.commands[world.guild_id]}
    # A lost or damaged record only costs one sync more.
    (settings.data_dir / STATE_FILE).write_text("{not json", encoding="utf-8")
    damaged = RunningSalon(settings)
    await damaged.start()
    await damaged.stop()
    assert world.server.command_syncs == 3


async def test_python_m_bot_sync_forces_a_sync_and_starts_no_job(
    world: World, salon_settings: Callable[..., Settings]
) -> None:
    settings = salon_settings()
    running = RunningSalon(settings)
    await running.start()
    await running.stop()
    assert world.server.command_syncs == 1
    world.server.commands.clear()  # someone deleted them on the developer portal
    # Through the same code as the command line; it neither serves nor starts the worker.
    assert await _run(settings, serving=False) == 0
    assert world.server.command_syncs == 2
    assert "imagine" in {c["name"] for c in world.server.commands[0]}
    assert not world.server.sessions


async def test_a_backup_while_salon_serves_has_every_finished_job(world: World, salon: RunningSalon) -> None:
    alice = world.server.driver(world.users["alice"])
    sent = await alice.slash(world.channel_id, "imagine", {"prompt": "a lighthouse at dusk"})
    await world.server.wait_for(lambda: sent.original if shows_grid(sent.original) else None, 60)
    await salon.settled()
    settings = salon.settings
    result = backup_data(settings.resolved_database_path, settings.images_dir, settings.data_dir.parent / "backup")
    assert result.images_copied >= 1
    copy = Database(result.database)
    await copy.open()
    try:
        jobs = await recent_jobs_in_channel(copy, str(world.channel_id))
        assert [job.state.value for job in jobs] == ["delivered"]
    finally:
        await copy.close()


async def test_the_heartbeat_says_whether_salon_is_healthy(
    world: World, salon_settings: Callable[..., Settings]
) -> None:
    settings = salon_settings()
    assert "no heartbeat" in (heartbeat_problem(settings.data_dir, settings.heartbeat_seconds) or "")
    running = RunningSalon(settings)
    await running.start()
    running.bot.write_heartbeat()
    assert heartbeat_problem(settings.data_dir, settings.heartbeat_seconds) is None
    # Three beats missed: hung, whatever the file says.
    later = datetime.now(UTC) + timedelta(seconds=4 * settings.heartbeat_seconds)
    assert "hung or gone" in (heartbeat_problem(settings.data_dir, settings.heartbeat_seconds, now=later) or "")
    running.pool.crash()
    running.bot.write_heartbeat()
    assert "no generation worker is ready" in (heartbeat_problem(settings.data_dir, settings.heartbeat_seconds) or "")
    await running.stop()
    assert "stopped" in (heartbeat_problem(settings.data_dir, settings.heartbeat_seconds) or "")
