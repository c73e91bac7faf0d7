"""SalonBot: the discord.py client that owns Salon's lifecycle (store, generation pool, cogs)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.heartbeat import Heartbeat, write_heartbeat
from bot.services import Services
from bot.settings import Settings
from bot.store import Database, ImageFiles
from bot.store.disk_space import describe_low_space
from cogs.imagine.views import progress_view
from cogs.kit.command_sync import CommandSync
from cogs.kit.command_tree import SalonCommandTree
from cogs.kit.components import ComponentRegistry, answer_if_unhandled
from cogs.kit.delivery import DeliveryTiming, ResultDeliverer
from gpu_worker import GenerationPool, ProcessPool

log = logging.getLogger(__name__)

INITIAL_COGS: tuple[str, ...] = (
    "cogs.imagine.commands",
    "cogs.themes.commands",
    "cogs.parties.commands",
    "cogs.regions.commands",
    "cogs.export.commands",
    "cogs.reactions.commands",
    "cogs.help.commands",
    "cogs.audit.commands",
)

PoolFactory = Callable[[Settings], GenerationPool]

# Every permission Salon's requests need, and no other: read and post in its channels, post
# images, open party threads and post in them, pin a theme's or party's brief, run votes as polls.
# The end-to-end tests connect Salon with exactly these, so a request needing more fails there.
REQUIRED_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    attach_files=True,
    read_message_history=True,
    pin_messages=True,
    send_polls=True,
)
INVITE_SCOPES = ("bot", "applications.commands")


def client_id_from_token(token: str) -> int | None:
    """Return the application's id that a bot token begins with, or None for a token not shaped so.

    A bot token's first dot-separated part is the bot user's id in base64, and a bot's user id is
    its application's id.
    """
    head = token.split(".", 1)[0]
    try:
        decoded = base64.b64decode(head + "=" * (-len(head) % 4), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return int(decoded) if decoded.isdigit() else None


def invite_url(client_id: int) -> str:
    """Return the URL that adds Salon to a server with its commands and exactly the permissions it needs."""
    return discord.utils.oauth_url(client_id, permissions=REQUIRED_PERMISSIONS, scopes=INVITE_SCOPES)


def default_pool(settings: Settings) -> GenerationPool:
    """Return the process-per-device pool that the settings describe."""
    return ProcessPool(
        model_source=settings.model_registry,
        devices=settings.devices,
        memory_budget_bytes=settings.model_memory_bytes,
        cache_dir=settings.models_dir,
        batch_size=settings.batch_size,
        job_timeout=settings.job_timeout_seconds,
        preview_decoder=settings.preview_decoder or None,
        max_attempts=settings.job_max_crashes,
        restart_backoff_seconds=settings.worker_restart_seconds,
        restart_backoff_cap_seconds=max(settings.worker_restart_cap_seconds, settings.worker_restart_seconds),
    )


def point_discord_at(settings: Settings) -> None:
    """Point discord.py's REST and gateway at the overrides in settings (a proxy, or the loopback)."""
    if settings.discord_api_base or settings.discord_gateway_url:
        from bot.discord_endpoint import point_discord_py_at

        point_discord_py_at(settings.discord_api_base, settings.discord_gateway_url)


def discord_endpoint(settings: Settings) -> str:
    """Return where Salon talks to Discord, for messages that say it could not."""
    return settings.discord_api_base or "https://discord.com/api"


async def discord_problem(settings: Settings) -> str | None:
    """Return why Discord does not accept Salon's token (or cannot be reached), or None when it does.

    Logs in over REST only (no gateway, no commands synced), as `python -m bot check --deep` needs.
    """
    point_discord_at(settings)
    client = discord.Client(intents=discord.Intents.none())
    try:
        await client.login(settings.require_token())
    except discord.LoginFailure:
        return "DISCORD_TOKEN: Discord refused it; copy the bot token again from the developer portal"  # admin-read
    except (aiohttp.ClientError, OSError) as exc:
        return f"Discord cannot be reached at {discord_endpoint(settings)}: {exc}"  # admin-read
    finally:
        await client.close()
    return None


class SalonBot(commands.Bot):
    """The bot process: opens resources in `setup_hook`, releases them in `close`."""

    def __init__(
        self,
        settings: Settings,
        *,
        pool_factory: PoolFactory = default_pool,
        cogs: Sequence[str] = INITIAL_COGS,
        serving: bool = True,
    ) -> None:
        """`serving=False` builds the command tree and syncs it, without starting the pool or any job."""
        intents = discord.Intents.default()
        intents.members = False
        # Slash commands, buttons and reactions need no message-content intent.
        intents.message_content = False
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=SalonCommandTree,
            # Where Discord offers the commands: servers, and DMs only when the admin allows them.
            allowed_contexts=app_commands.AppCommandContext(
                guild=True, dm_channel=settings.allow_dms, private_channel=settings.allow_dms
            ),
            help_command=None,
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True),
            guild_ready_timeout=settings.guild_ready_timeout_seconds,
        )
        self.settings = settings
        self._pool_factory = pool_factory
        self._cog_names = tuple(cogs)
        self.serving = serving
        self.failed_cogs: list[str] = []
        self.db = Database(settings.resolved_database_path)
        self.files = ImageFiles(settings.images_dir)
        self.pool: GenerationPool | None = None
        self._services: Services | None = None
        # Which custom_ids Salon handles, so anything else is answered instead of failing silently.
        self.components = ComponentRegistry()
        self._deliverer: ResultDeliverer | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._pool_start: asyncio.Task[None] | None = None
        # Set when the pool's first start fails (a model that cannot load): `run` stops on it.
        self.startup_failed = asyncio.Event()

    @property
    def services(self) -> Services:
        """Return Salon's services (available once `setup_hook` has run)."""
        if self._services is None:
            raise RuntimeError("the bot is not set up yet")
        return self._services

    @property
    def deliverer(self) -> ResultDeliverer:
        """Return the one deliverer of job outcomes (available once `setup_hook` has run)."""
        if self._deliverer is None:
            raise RuntimeError("the bot is not set up yet")
        return self._deliverer

    def add_persistent_items(self, *items: type[discord.ui.DynamicItem[Any]]) -> None:
        """Register buttons and menus that survive restarts, and remember their custom_ids."""
        self.add_dynamic_items(*items)
        self.components.add_items(items)

    async def setup_hook(self) -> None:
        # REST works here and the gateway is not connected yet: every unfinished job is requeued
        # before any new interaction can arrive, so a new job is never taken for a leftover.
        await self.db.open()
        low_space = describe_low_space(self.settings.data_dir, self.settings.low_disk_bytes)
        if low_space:
            log.warning(low_space)
        self.pool = self._pool_factory(self.settings)
        if self.serving:
            # The models load while Salon connects: members are answered at once and their jobs
            # wait, told that the model is loading, instead of meeting a bot that is offline.
            self._pool_start = asyncio.create_task(self._start_pool(self.pool), name="salon-pool-start")
        self._services = Services.build(self.settings, self.db, self.files, self.pool)
        self._deliverer = ResultDeliverer(
            self,
            progress_view,
            DeliveryTiming(
                ping_after_seconds=self.settings.ping_after_seconds,
                retry_first_seconds=self.settings.delivery_retry_seconds,
                retry_cap_seconds=self.settings.delivery_retry_cap_seconds,
                give_up_after_seconds=self.settings.delivery_give_up_seconds,
            ),
        )
        self._services.jobs.add_outcome_listener(self._deliverer.deliver)
        # Each cog loads on its own: a broken one is logged and the others still serve.
        for name in self._cog_names:
            try:
                await self.load_extension(name)
            except Exception:
                log.exception("cog %s failed to load; the others keep working", name)
                self.failed_cogs.append(name)
        if self.serving:
            await self._resume()
        await CommandSync(self.settings.data_dir).sync(self.tree, self.settings.dev_guild_id, force=not self.serving)

    async def _start_pool(self, pool: GenerationPool) -> None:
        try:
            await pool.start()
        except Exception as exc:
            # A model that cannot load is for the admin to fix: one line, then `run` stops.
            log.error("the model cannot load: %s (python -m bot check names every problem)", exc)
            self.startup_failed.set()
            return
        log.info("the generation pool is ready: %s", ", ".join(self.settings.devices))

    async def _resume(self) -> None:
        """Requeue unfinished jobs, unstick party rounds, and deliver every result never shown."""
        for queued in await self.services.jobs.resume_pending():
            await self.deliverer.follow(queued)
        await self.services.parties.repair_rounds()
        self.deliverer.spawn(self.deliverer.deliver_pending())

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await answer_if_unhandled(self.components, interaction)

    def write_heartbeat(self, *, stopped: bool = False) -> None:
        """Record, for `python -m bot health`, whether Salon is connected and can generate now."""
        health = self.pool.health() if self.pool is not None else None
        beat = Heartbeat(
            at=discord.utils.utcnow().isoformat(),
            connected=self.is_ready() and not self.is_closed() and not stopped,
            ready_workers=health.ready_workers if health else 0,
            total_workers=health.total_workers if health else 0,
            stopped=stopped,
            last_error=health.last_error if health else None,
        )
        try:
            write_heartbeat(self.settings.data_dir, beat)
        except OSError as exc:  # a full disk must not take the bot down; health then reports a stale beat
            log.warning("cannot write the heartbeat: %s", exc)

    async def _beat(self) -> None:
        while True:
            self.write_heartbeat()
            await asyncio.sleep(self.settings.heartbeat_seconds)

    async def on_ready(self) -> None:
        if self.serving and self._heartbeat is None:
            self._heartbeat = asyncio.create_task(self._beat())
        log.info("connected as %s (%s) to %d guilds", self.user, self.user.id if self.user else "?", len(self.guilds))

    async def close(self) -> None:
        # The service first: it refuses new jobs, stops the pool and requeues unfinished jobs
        # while the store is still open. Then the gateway, then the store. Closing twice is harmless.
        if self.is_closed():
            return
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self.write_heartbeat(stopped=True)
        if self._pool_start is not None and not self._pool_start.done():
            self._pool_start.cancel()  # the pool stops the workers still loading
            with contextlib.suppress(asyncio.CancelledError):
                await self._pool_start
        if self._deliverer is not None:
            await self._deliverer.close()
        if self._services is not None:
            await self._services.jobs.shutdown()
        elif self.pool is not None:
            await self.pool.close()
        await super().close()
        await self.db.close()
