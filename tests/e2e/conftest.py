"""End-to-end fixtures: the loopback Discord, a guild with users, and Salon connected to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.client import SalonBot, point_discord_at
from bot.settings import Settings, load_settings
from loopback import LoopbackDiscord

BOT_TOKEN = "loopback-bot-token.salon"


def shows_grid(message: object) -> bool:
    """Return whether a loopback message shows a finished grid (not a progress preview)."""
    attachments = getattr(message, "attachments", None) or []
    return any(attachment.filename.startswith("salon-") for attachment in attachments)


@dataclass
class World:
    """A loopback Discord with one guild, one channel and three members."""

    server: LoopbackDiscord
    guild_id: int
    channel_id: int
    users: dict[str, int]


@pytest.fixture
async def world() -> AsyncIterator[World]:
    server = LoopbackDiscord()
    await server.start()
    server.create_application(name="Salon", token=BOT_TOKEN)
    guild = server.create_guild("Salon test guild")
    channel = server.create_text_channel(guild.id, "imagine")
    users = {}
    for name in ("alice", "bob", "carol"):
        user = server.create_user(name)
        server.add_member(guild.id, user.id)
        users[name] = user.id
    yield World(server, guild.id, channel.id, users)
    await server.stop()


@pytest.fixture
def salon_settings(world: World, tmp_path: Path, models_dir: Path) -> Callable[..., Settings]:
    """Return a factory of settings that point Salon at the loopback server, small images, tiny model."""

    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "discord_token": BOT_TOKEN,
            "discord_api_base": world.server.api_base,
            "discord_gateway_url": world.server.gateway_url,
            "data_dir": tmp_path / "data",
            "model_source": "tiny",
            "model_cache_dir": models_dir,
            "image_width": 64,
            "image_height": 64,
            "steps": 4,
            "batch_size": 4,
            "log_level": "INFO",
        }
        values.update(overrides)
        return load_settings(**values)

    return make


class RunningSalon:
    """A SalonBot started against the loopback server, stopped by `stop()`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bot = SalonBot(settings)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> SalonBot:
        point_discord_at(self.settings)
        self._task = asyncio.create_task(self.bot.start(self.settings.require_token()))
        ready = asyncio.create_task(self.bot.wait_until_ready())
        done, _ = await asyncio.wait({self._task, ready}, timeout=120, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            self._task.result()
        assert ready in done, "Salon did not become ready"
        return self.bot

    async def settled(self, timeout: float = 120) -> None:
        """Return once every job has ended and its outcome is shown (delivery is recorded after the message)."""
        await asyncio.wait_for(self.bot.generation.wait_until_settled(), timeout)

    async def stop(self) -> None:
        await self.bot.close()
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=30)


@pytest.fixture
async def salon(salon_settings: Callable[..., Settings]) -> AsyncIterator[RunningSalon]:
    running = RunningSalon(salon_settings())
    await running.start()
    yield running
    await running.stop()
