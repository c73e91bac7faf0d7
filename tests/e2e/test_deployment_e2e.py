"""Running Salon on a server: commands synced only when they changed, `python -m bot sync`, a live backup."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.__main__ import _run
from bot.client import SalonBot
from bot.heartbeat import heartbeat_problem
from bot.settings import Settings
from bot.store import Database
from bot.store.backup import backup_data
from bot.store.jobs import recent_jobs_in_channel
from cogs.kit.command_sync import STATE_FILE
from gpu_worker.memory_pool import MemoryPool
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


async def test_salon_answers_while_its_model_loads_and_runs_the_jobs_once_it_has(
    world: World, salon_settings: Callable[..., Settings]
) -> None:
    loaded = asyncio.Event()
    pool = MemoryPool(batch_size=4, start_gate=loaded)
    running = RunningSalon(salon_settings())
    running.bot = SalonBot(running.settings, pool_factory=lambda _settings: pool)
    await running.start()  # connected and ready while the model is still loading
    try:
        alice = world.server.driver(world.users["alice"])
        job = await alice.slash(world.channel_id, "imagine", {"prompt": "an early bird", "count": 1})
        await world.server.wait_for(
            lambda: job.original is not None and "is loading its model" in job.original.content, timeout=30
        )
        queue = await (await alice.slash(world.channel_id, "queue")).wait_for_original()
        assert "is loading its model" in queue.content
        loaded.set()
        await world.server.wait_for(lambda: shows_grid(job.original), timeout=30)
    finally:
        await running.stop()


async def test_a_model_that_cannot_load_stops_run_in_one_line(
    world: World, salon_settings: Callable[..., Settings], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = salon_settings(model_source=str(tmp_path / "gone.safetensors"))
    # Through the command line's own code, with the real worker process, which refuses the source.
    assert await asyncio.wait_for(_run(settings), timeout=120) == 1
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith("the model cannot load: ") and "gone.safetensors" in errors[0]
    assert "does not exist" in errors[0]
