"""End-to-end fixtures: the loopback Discord, a guild with users, and Salon connected to it.

Every test here is marked `e2e`; those that need the real worker process are marked `worker` too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.client import REQUIRED_PERMISSIONS, SalonBot, default_pool, point_discord_at
from bot.settings import Settings, load_settings
from gpu_worker.memory_pool import MemoryPool
from loopback import LoopbackDiscord

BOT_TOKEN = "loopback-bot-token.salon"


MANAGE_CHANNELS = 1 << 4
MANAGE_MESSAGES = 1 << 13


def add_moderator(world: World) -> int:
    """Add a member who may manage channels and messages (a moderator) and return their id."""
    mod = world.server.create_user("mod")
    world.server.add_member(world.guild_id, mod.id, permissions=MANAGE_CHANNELS | MANAGE_MESSAGES)
    world.users["mod"] = mod.id
    return mod.id


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
    # Exactly the permissions the invite URL asks for: a request that needs more fails every test that makes it.
    # No privileged intents are switched on either: Salon must connect without them.
    server.create_application(
        name="Salon", token=BOT_TOKEN, privileged_intents=0, permissions=REQUIRED_PERMISSIONS.value
    )
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
def salon_settings(world: World, tmp_path: Path) -> Callable[..., Settings]:
    """Return a factory of settings that point Salon at the loopback server, small images, tiny model.

    A test on the real worker passes `model_cache_dir=models_dir` (and so is marked `worker`).
    """

    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "discord_token": BOT_TOKEN,
            "discord_api_base": world.server.api_base,
            "discord_gateway_url": world.server.gateway_url,
            "data_dir": tmp_path / "data",
            "model_source": "tiny",
            "image_width": 64,
            "image_height": 64,
            "steps": 4,
            "batch_size": 4,
            "log_level": "INFO",
            # One test guild arrives at once: no need to wait discord.py's two seconds for more.
            "guild_ready_timeout_seconds": 0.1,
        }
        values.update(overrides)
        return load_settings(**values)

    return make


def memory_pool_for(settings: Settings) -> MemoryPool:
    """Return the in-memory pool a test Salon uses unless it needs a real worker (batches like the settings say)."""
    return MemoryPool(batch_size=settings.batch_size)


class RunningSalon:
    """A SalonBot started against the loopback server, stopped by `stop()`.

    It generates on the in-memory pool (`self.pool` once started); `worker=True` runs the real
    worker process instead, for what only it can show (crashes, previews from latents, batching).
    """

    def __init__(self, settings: Settings, *, worker: bool = False) -> None:
        self.settings = settings
        self.bot = SalonBot(settings, pool_factory=default_pool if worker else memory_pool_for)
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

    @property
    def pool(self) -> MemoryPool:
        """Return the in-memory pool this Salon generates on (not for `worker=True`)."""
        assert isinstance(self.bot.pool, MemoryPool), "this Salon runs the real worker"
        return self.bot.pool

    async def settled(self, timeout: float = 120) -> None:
        """Return once every job has ended and its outcome is shown (delivery is recorded after the message)."""
        await asyncio.wait_for(self.bot.services.jobs.wait_until_settled(), timeout)

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder `e2e`, so a layer can be chosen with `-m`."""
    for item in items:
        if item.path.is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.e2e)
