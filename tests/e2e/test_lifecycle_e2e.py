"""The bot's lifecycle: a broken cog, an unexpected error, SIGTERM, and a wrong token."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.store import Database
from tests.e2e.conftest import BOT_TOKEN, RunningSalon, World, shows_grid

REPO = Path(__file__).resolve().parents[2]


async def test_broken_cog_is_logged_and_the_rest_load(
    world: World, salon_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    running = RunningSalon(salon_settings())
    running.bot._cog_names = ("tests.e2e.broken_cog", "cogs.imagine.commands")
    with caplog.at_level(logging.ERROR, logger="bot.client"):
        await running.start()
    try:
        assert running.bot.failed_cogs == ["tests.e2e.broken_cog"]
        assert "cog tests.e2e.broken_cog failed to load" in caplog.text
        interaction = await world.server.driver(world.users["alice"]).slash(
            world.channel_id, "imagine", {"prompt": "still works", "count": 1}
        )
        await world.server.wait_for(lambda: shows_grid(interaction.original), timeout=120)
    finally:
        await running.stop()


async def test_unexpected_error_shows_a_reference_that_is_in_the_log(
    world: World, salon: RunningSalon, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(*args: object, **kwargs: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(salon.bot.services.jobs, "submit", explode)
    with caplog.at_level(logging.ERROR, logger="cogs.kit.command_tree"):
        interaction = await world.server.driver(world.users["bob"]).slash(
            world.channel_id, "imagine", {"prompt": "a cat"}
        )
        reply = await world.server.wait_for(lambda: interaction.followups, timeout=30)
    [message] = reply
    assert message.ephemeral
    reference = re.search(r"reference `([0-9a-f]{8})`", message.content)
    assert reference, message.content
    assert f"(ref {reference[1]})" in caplog.text and "KeyError" in caplog.text
    assert interaction.original is not None and interaction.original.deleted, "no lingering 'thinking…'"


async def drain(stream: asyncio.StreamReader | None, into: list[bytes]) -> None:
    """Keep reading a subprocess's pipe until it closes, keeping what it wrote."""
    assert stream is not None
    while chunk := await stream.read(65536):
        into.append(chunk)


@pytest.mark.worker  # `python -m bot` in a subprocess, on its real worker
async def test_sigterm_stops_the_bot_cleanly(world: World, tmp_path: Path, models_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SALON_", "DISCORD_"))}
    env.update(
        DISCORD_TOKEN=BOT_TOKEN,
        DISCORD_API_BASE=world.server.api_base,
        DISCORD_GATEWAY_URL=world.server.gateway_url,
        SALON_DATA_DIR=str(tmp_path / "data"),
        SALON_MODEL_CACHE_DIR=str(models_dir),
        SALON_IMAGE_WIDTH="64",
        SALON_IMAGE_HEIGHT="64",
        SALON_STEPS="2",
        SALON_GUILD_READY_TIMEOUT_SECONDS="0.1",
        PYTHONPATH=str(REPO),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
    )
    # Read the log as it comes: a pipe nobody reads fills up and stalls the bot on a busy machine.
    chunks: list[bytes] = []
    drained = asyncio.create_task(drain(process.stderr, chunks))
    try:
        await world.server.wait_for_bot(timeout=120)
        await world.server.wait_for(lambda: world.server.commands.get(0), timeout=60)
        interaction = await world.server.driver(world.users["carol"]).slash(
            world.channel_id, "imagine", {"prompt": "before the stop", "count": 1}
        )
        await world.server.wait_for(lambda: shows_grid(interaction.original), timeout=120)
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 60)
    finally:
        if process.returncode is None:
            process.kill()
        await drained
    log_text = b"".join(chunks).decode()
    assert process.returncode == 0, log_text
    assert "SIGTERM received: shutting down" in log_text
    assert BOT_TOKEN not in log_text
    assert BOT_TOKEN not in (tmp_path / "data" / "logs" / "salon.log").read_text()
    db = Database(tmp_path / "data" / "salon.db")
    await db.open()
    row = await db.fetchone("SELECT state FROM jobs")
    await db.close()
    assert row is not None and row[0] == "delivered"


async def test_wrong_token_exits_with_a_clear_line(world: World, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SALON_", "DISCORD_"))}
    env.update(
        DISCORD_TOKEN="not-the-token",
        DISCORD_API_BASE=world.server.api_base,
        DISCORD_GATEWAY_URL=world.server.gateway_url,
        SALON_DATA_DIR=str(tmp_path / "data"),
        PYTHONPATH=str(REPO),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 1
    assert "Discord refused the token in DISCORD_TOKEN" in stderr.decode()
    assert "not-the-token" not in stderr.decode()
