"""LoopbackDiscord: a Discord-compatible REST API and gateway on 127.0.0.1 for the unmodified discord.py client.

Build a world (application, guilds, channels, users), start the server, point discord.py at it
with `point_discord_py_at(server.api_base, server.gateway_url)`, and act as users through
`server.driver(user_id)`. Everything the bot does lands in `server.messages`, `server.channels`,
`server.interactions` and `server.commands`; `wait_for*` wake on changes, never poll.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Self, TypeVar

import aiohttp
from aiohttp import web

from loopback import errors
from loopback.changes import ChangeSignal
from loopback.clock import LoopbackClock
from loopback.driver import UserDriver
from loopback.errors import DiscordHTTPError, invalid_form
from loopback.faults import FaultPlan
from loopback.gateway import GUILD_MEMBERS, MESSAGE_CONTENT, PRIVILEGED_INTENTS, Gateway, GatewaySession
from loopback.interactions import Interaction, InteractionService
from loopback.messages import MessageActions
from loopback.rest import RecordedResponse, RestAPI
from loopback.state import (
    BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    DM,
    GUILD_CATEGORY,
    GUILD_TEXT,
    PUBLIC_THREAD,
    THREAD_CREATED,
    Channel,
    Guild,
    Member,
    Message,
    Role,
    Snowflakes,
    StoredFile,
    User,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_MAX_UPLOAD = 10 * 1024 * 1024
# JSON bodies are small; files are counted against max_upload_bytes while they stream in.
JSON_BODY_LIMIT = 8 * 1024 * 1024
AUTO_ARCHIVE_MINUTES = frozenset({60, 1440, 4320, 10080})
# What a bot may do in a DM: view, send, embed, attach, read history, react, use external emojis.
DM_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16) | (1 << 6) | (1 << 18)
# Application flags for the privileged intents an application has switched on (the "limited" bits).
_INTENT_FLAGS = {GUILD_MEMBERS: 1 << 15, MESSAGE_CONTENT: 1 << 19, 1 << 8: 1 << 13}


class LoopbackDiscord(MessageActions):
    """A small Discord: REST under /api/v10, a gateway websocket, uploaded files, and a driver for tests.

    `clock` measures Discord's deadlines (advance it in tests), `max_upload_bytes` is the total
    size of the files one request may carry (Discord's 413 / 40005 above it), and
    `record_responses` keeps every REST answer in `recorded` for schema checks.

    `faults` makes chosen REST requests fail (see `loopback.faults`). `guild_create_delay`
    is how many seconds after READY the gateway sends each guild's GUILD_CREATE (0: right
    behind READY; `math.inf`: only at `release_guild_creates()`); it applies to the next IDENTIFY.
    """

    def __init__(
        self,
        *,
        clock: LoopbackClock | None = None,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
        record_responses: bool = False,
    ) -> None:
        self.clock = clock or LoopbackClock()
        self.max_upload_bytes = max_upload_bytes
        self.record_responses = record_responses
        self.recorded: list[RecordedResponse] = []
        # Bulk command overwrites accepted: Discord rate-limits them, so tests count them.
        self.command_syncs = 0
        self.snowflakes = Snowflakes(self.clock)
        self.changed = ChangeSignal()
        self.faults = FaultPlan(self.changed)
        self.guild_create_delay: float = 0.0
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, Message] = {}
        self.files: dict[int, StoredFile] = {}
        self.interactions: dict[int, Interaction] = {}
        self.commands: dict[int, list[dict[str, Any]]] = {}  # scope (0: global, else guild id) -> commands
        self.application: User | None = None
        self.allowed_privileged_intents = PRIVILEGED_INTENTS
        self.dm_permissions = DM_PERMISSIONS
        self._bot_permissions = BOT_PERMISSIONS
        self.gateway = Gateway(self)
        self.rest = RestAPI(self)
        self.interaction_service = InteractionService(self)
        self.port = 0
        self._dms: dict[int, Channel] = {}  # user id -> DM channel with the bot
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    # --- life -------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Return the server's root URL, e.g. http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """Return the REST base to give discord.py (`Route.BASE`)."""
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """Return the gateway websocket URL (also READY's `resume_gateway_url`)."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def sessions(self) -> list[GatewaySession]:
        """Return the bot sessions connected to the gateway now."""
        return self.gateway.connected

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1 only (an ephemeral port unless one is given)."""
        app = web.Application(middlewares=[self.rest.middleware], client_max_size=JSON_BODY_LIMIT)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/gateway/", self.gateway.handle)
        app.router.add_get("/attachments/{channel_id}/{file_id}/{filename}", self._serve_file)
        self.rest.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        log.info("loopback Discord listening on %s", self.base_url)

    async def stop(self) -> None:
        """Close every gateway session and stop listening."""
        await self.gateway.close_all()
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        log.info("loopback Discord stopped")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # --- building the world -----------------------------------------------------------------------

    def create_application(
        self,
        name: str,
        token: str,
        *,
        privileged_intents: int = PRIVILEGED_INTENTS,
        permissions: int = BOT_PERMISSIONS,
    ) -> User:
        """Return the bot user of the application whose bot logs in with `token`.

        `privileged_intents` are those switched on in the (imaginary) developer portal: asking
        for others at IDENTIFY closes the gateway with 4014, as on Discord. The bot joins every
        guild with a managed role holding `permissions`.
        """
        if self.application is not None:
            raise RuntimeError("the loopback Discord has one application")
        self.application = User(self.snowflakes.next(), name, bot=True, token=token)
        self.users[self.application.id] = self.application
        self.allowed_privileged_intents = privileged_intents
        self._bot_permissions = permissions
        for guild in self.guilds.values():
            self._add_bot(guild)
        return self.application

    def require_application(self) -> User:
        """Return the application's bot user (create_application() must have run)."""
        if self.application is None:
            raise RuntimeError("call create_application() first")
        return self.application

    @property
    def application_flags(self) -> int:
        """Return the application's flags: which privileged intents it has switched on."""
        return sum(flag for intent, flag in _INTENT_FLAGS.items() if self.allowed_privileged_intents & intent)

    def create_user(self, name: str, *, guilds: Iterable[int] = (), accepts_dms: bool = True) -> User:
        """Return a new human user, a member of `guilds`; `accepts_dms=False` makes DMs to them fail (50007)."""
        user = User(self.snowflakes.next(), name, accepts_dms=accepts_dms)
        self.users[user.id] = user
        for guild_id in guilds:
            self.add_member(guild_id, user.id)
        return user

    def create_guild(self, name: str, *, owner_id: int | None = None) -> Guild:
        """Return a new guild with a #general text channel; the owner (made up unless given) and the bot join it."""
        owner = self.users[owner_id] if owner_id is not None else self.create_user(f"{name} owner")
        guild = Guild(self.snowflakes.next(), name, owner.id, joined_at=self.clock.iso())
        guild.roles[guild.id] = Role(guild.id, guild.id, "@everyone", DEFAULT_EVERYONE_PERMISSIONS)
        guild.members[owner.id] = Member(owner, guild.id, joined_at=self.clock.iso())
        self.guilds[guild.id] = guild
        # Created quietly: the bot learns of it with the guild itself.
        self._new_channel(guild, "general", GUILD_TEXT, None, None)
        if self.application is not None:
            self._add_bot(guild)
            self.dispatch("GUILD_CREATE", guild.create_payload(self.application.id))
        self.changed.notify()
        return guild

    def _add_bot(self, guild: Guild) -> None:
        bot = self.require_application()
        role = Role(self.snowflakes.next(), guild.id, bot.name, self._bot_permissions, position=1, bot_id=bot.id)
        guild.roles[role.id] = role
        guild.members[bot.id] = Member(bot, guild.id, joined_at=self.clock.iso(), roles=[role.id])

    def create_text_channel(self, guild_id: int, name: str, *, topic: str | None = None) -> Channel:
        """Return a new text channel in a guild (CHANNEL_CREATE if a bot is connected)."""
        return self.create_channel(guild_id, name, kind=GUILD_TEXT, topic=topic)

    def create_channel(
        self,
        guild_id: int,
        name: str,
        *,
        kind: int = GUILD_TEXT,
        topic: str | None = None,
        parent_id: int | None = None,
    ) -> Channel:
        """Return a new text channel or category; text channel names are lower-cased and dashed, as Discord does."""
        channel = self._new_channel(self.guilds[guild_id], name, kind, topic, parent_id)
        self.dispatch("CHANNEL_CREATE", channel.payload())
        self.changed.notify()
        return channel

    def _new_channel(self, guild: Guild, name: str, kind: int, topic: str | None, parent_id: int | None) -> Channel:
        if kind == GUILD_TEXT:
            name = "-".join(name.lower().split())
        position = sum(1 for c in guild.channels.values() if not c.is_thread)
        channel = Channel(
            self.snowflakes.next(),
            guild.id,
            name,
            created_at=self.clock.iso(),
            type=kind,
            topic=topic,
            parent_id=parent_id,
            position=position,
        )
        guild.channels[channel.id] = channel
        self.channels[channel.id] = channel
        return channel

    def create_category(self, guild_id: int, name: str) -> Channel:
        """Return a new channel category."""
        return self.create_channel(guild_id, name, kind=GUILD_CATEGORY)

    def create_role(self, guild_id: int, name: str, permissions: int = 0) -> Role:
        """Return a new role in a guild (GUILD_ROLE_CREATE)."""
        guild = self.guilds[guild_id]
        role = Role(self.snowflakes.next(), guild_id, name, permissions, position=len(guild.roles))
        guild.roles[role.id] = role
        self.dispatch("GUILD_ROLE_CREATE", {"guild_id": str(guild_id), "role": role.payload()})
        self.changed.notify()
        return role

    def add_member(
        self, guild_id: int, user_id: int, *, roles: Iterable[int] = (), permissions: int | None = None
    ) -> Member:
        """Return the user's membership of a guild, adding it (GUILD_MEMBER_ADD) if new.

        `permissions` gives the member a role of their own with those permission bits (on top of
        @everyone's), so `interaction.permissions` and `member.guild_permissions` agree.
        """
        guild = self.guilds[guild_id]
        user = self.users[user_id]
        role_ids = list(roles)
        if permissions is not None:
            role_ids.append(self.create_role(guild_id, f"{user.name} permissions", permissions).id)
        member = guild.members.get(user_id)
        if member is not None:
            member.roles.extend(r for r in role_ids if r not in member.roles)
            self.dispatch("GUILD_MEMBER_UPDATE", {**member.payload(), "guild_id": str(guild_id)})
        else:
            member = Member(user, guild_id, joined_at=self.clock.iso(), roles=role_ids)
            guild.members[user_id] = member
            self.dispatch("GUILD_MEMBER_ADD", {**member.payload(), "guild_id": str(guild_id)})
        self.changed.notify()
        return member

    def driver(self, user_id: int) -> UserDriver:
        """Return a driver that acts on Discord as this user."""
        return UserDriver(self, self.users[user_id])

    # --- channels, threads, DMs -------------------------------------------------------------------

    def can_see(self, user: User, channel: Channel) -> bool:
        """Return whether a user can see a channel (guild membership, or being in the DM)."""
        if channel.guild_id is None:
            return user.bot or any(u is user for u in channel.recipients)
        guild = self.guilds.get(channel.guild_id)
        return guild is not None and user.id in guild.members

    def open_dm(self, bot: User, user: User) -> Channel:
        """Return the DM channel between the bot and a user, created on first use."""
        channel = self._dms.get(user.id)
        if channel is None:
            channel = Channel(self.snowflakes.next(), None, "", created_at=self.clock.iso(), type=DM, recipients=[user])
            self._dms[user.id] = channel
            self.channels[channel.id] = channel
        return channel

    def dm_channel(self, user_id: int) -> Channel | None:
        """Return the DM channel between the bot and a user, if either opened one."""
        return self._dms.get(user_id)

    def create_thread(
        self,
        parent: Channel,
        owner: User,
        name: str,
        *,
        kind: int = PUBLIC_THREAD,
        from_message: Message | None = None,
        auto_archive_duration: int = 1440,
    ) -> Channel:
        """Return a new thread under a text channel (THREAD_CREATE); from a message, it takes the message's id."""
        if parent.type != GUILD_TEXT:
            raise DiscordHTTPError(400, errors.WRONG_CHANNEL_TYPE, "Cannot execute action on this channel type")
        if not 1 <= len(name) <= 100:
            raise invalid_form("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if auto_archive_duration not in AUTO_ARCHIVE_MINUTES:
            raise invalid_form(
                "auto_archive_duration", "BASE_TYPE_CHOICES", "Value must be one of {60, 1440, 4320, 10080}."
            )
        if from_message is not None:
            if from_message.thread is not None:
                raise DiscordHTTPError(
                    400, errors.THREAD_ALREADY_CREATED, "A thread has already been created for this message"
                )
            kind = PUBLIC_THREAD
        thread = Channel(
            from_message.id if from_message is not None else self.snowflakes.next(),
            parent.guild_id,
            name,
            created_at=self.clock.iso(),
            type=kind,
            parent_id=parent.id,
            owner_id=owner.id,
            auto_archive_duration=auto_archive_duration,
        )
        thread.thread_members[owner.id] = self.clock.iso()
        self.channels[thread.id] = thread
        assert parent.guild_id is not None
        self.guilds[parent.guild_id].channels[thread.id] = thread
        viewer = self.application.id if self.application else None
        self.dispatch("THREAD_CREATE", {**thread.payload(viewer), "newly_created": True})
        if from_message is not None:
            from_message.thread = thread
            self.dispatch("MESSAGE_UPDATE", self.message_event(from_message))
        elif kind == PUBLIC_THREAD:
            # Discord announces a thread started without a message in its parent channel.
            self._post_system(parent, owner, THREAD_CREATED, name, thread)
        self.changed.notify()
        return thread

    def update_channel(self, channel: Channel, changes: dict[str, Any]) -> None:
        """Change a channel's name/topic or a thread's archived/locked state (CHANNEL_UPDATE / THREAD_UPDATE)."""
        if "name" in changes:
            name = str(changes["name"] or "")
            if not 1 <= len(name) <= 100:
                raise invalid_form("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
            channel.name = "-".join(name.lower().split()) if channel.type == GUILD_TEXT else name
        if channel.is_thread:
            if changes.get("auto_archive_duration") is not None:
                if int(changes["auto_archive_duration"]) not in AUTO_ARCHIVE_MINUTES:
                    raise invalid_form(
                        "auto_archive_duration", "BASE_TYPE_CHOICES", "Value must be one of {60, 1440, 4320, 10080}."
                    )
                channel.auto_archive_duration = int(changes["auto_archive_duration"])
            for key in ("archived", "locked"):
                if changes.get(key) is not None:
                    setattr(channel, key, bool(changes[key]))
        elif "topic" in changes:
            channel.topic = changes["topic"]
        viewer = self.application.id if self.application else None
        self.dispatch("THREAD_UPDATE" if channel.is_thread else "CHANNEL_UPDATE", channel.payload(viewer))
        self.changed.notify()

    def delete_channel(self, channel: Channel) -> None:
        """Delete a channel (and its threads) or a thread (CHANNEL_DELETE / THREAD_DELETE)."""
        for thread in [c for c in self.channels.values() if c.parent_id == channel.id and c.is_thread]:
            self.delete_channel(thread)
        channel.deleted = True
        if channel.is_thread:
            data = {
                "id": str(channel.id),
                "guild_id": str(channel.guild_id),
                "parent_id": str(channel.parent_id),
                "type": channel.type,
            }
            self.dispatch("THREAD_DELETE", data)
        else:
            self.dispatch("CHANNEL_DELETE", channel.payload())
        self.changed.notify()

    def join_thread(self, thread: Channel, user: User) -> None:
        """Add a user to a thread (THREAD_MEMBERS_UPDATE)."""
        if thread.archived:
            raise DiscordHTTPError(400, errors.THREAD_ARCHIVED, "Thread is archived")
        if user.id in thread.thread_members:
            return
        thread.thread_members[user.id] = self.clock.iso()
        added = thread.thread_member_payload(user.id)
        assert thread.guild_id is not None
        member = self.guilds[thread.guild_id].members.get(user.id)
        if member is not None:
            added["member"] = member.payload()
        self._thread_members_changed(thread, added_members=[added])

    def leave_thread(self, thread: Channel, user: User) -> None:
        """Remove a user from a thread (THREAD_MEMBERS_UPDATE)."""
        if thread.thread_members.pop(user.id, None) is not None:
            self._thread_members_changed(thread, removed_member_ids=[str(user.id)])

    def _thread_members_changed(self, thread: Channel, **change: Any) -> None:
        data = {
            "id": str(thread.id),
            "guild_id": str(thread.guild_id),
            "member_count": min(len(thread.thread_members), 50),
            **change,
        }
        self.dispatch("THREAD_MEMBERS_UPDATE", data)
        self.changed.notify()

    # --- the gateway ------------------------------------------------------------------------------

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send an event to every bot session (with the next sequence number of each)."""
        self.gateway.dispatch(event, data)

    def bot_for_token(self, token: str) -> User | None:
        """Return the bot user a token belongs to, or None."""
        app = self.application
        if app is None or not app.token or not token:
            return None
        return app if secrets.compare_digest(token.encode(), app.token.encode()) else None

    async def request_reconnect(self) -> None:
        """Ask every connected bot to reconnect and RESUME (gateway op 7)."""
        await self.gateway.request_reconnect()

    def release_guild_creates(self) -> None:
        """Send now every GUILD_CREATE that `guild_create_delay` still holds back."""
        self.gateway.release_guild_creates()

    async def drop_connections(self, code: int = 4000) -> None:
        """Close every bot's websocket abruptly; events until it RESUMEs are replayed to it then."""
        await self.gateway.drop_connections(code)

    # --- reading and waiting, for tests -----------------------------------------------------------

    def channel_messages(
        self, channel_id: int, *, include_ephemeral: bool = False, include_system: bool = True
    ) -> list[Message]:
        """Return a channel's live messages, oldest first (ephemeral ones only when asked)."""
        return [
            m
            for m in self.channels[channel_id].messages
            if not m.deleted
            and (include_ephemeral or not m.ephemeral)
            and (include_system or m.type in (0, 19, 20, 23))
        ]

    def message(self, message_id: int) -> Message:
        """Return a message by id (deleted ones too: check `.deleted`)."""
        return self.messages[message_id]

    def threads(self, channel_id: int) -> list[Channel]:
        """Return the live threads under a channel, oldest first."""
        return [c for c in self.channels.values() if c.parent_id == channel_id and c.is_thread and not c.deleted]

    def file_bytes(self, url: str) -> bytes:
        """Return the bytes behind an attachment URL this server serves (from memory)."""
        file_id = int(url.split("/attachments/", 1)[1].split("/")[1])
        return self.files[file_id].data

    async def download(self, url: str) -> bytes:
        """Return the bytes an attachment URL serves, fetched over HTTP as a Discord client would."""
        if self._http is None:
            self._http = aiohttp.ClientSession()
        async with self._http.get(url) as response:
            response.raise_for_status()
            return await response.read()

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0) -> T:
        """Return the first truthy value of `predicate`, re-checked whenever the loopback's state changes."""
        return await self.changed.wait_for(predicate, timeout)

    async def wait_for_message(
        self,
        channel_id: int,
        predicate: Callable[[Message], Any] | None = None,
        timeout: float = 10.0,
        *,
        include_ephemeral: bool = False,
    ) -> Message:
        """Return the oldest live message in a channel that satisfies `predicate` (any message by default)."""

        def found() -> Message | None:
            messages = self.channel_messages(channel_id, include_ephemeral=include_ephemeral)
            return next((m for m in messages if predicate is None or predicate(m)), None)

        return await self.changed.wait_for(found, timeout, f"a matching message in channel {channel_id}")

    async def wait_for_bot(self, timeout: float = 10.0) -> None:
        """Return once a bot has identified on the gateway and is connected."""
        await self.changed.wait_for(lambda: self.gateway.connected, timeout, "a bot connecting to the gateway")

    async def wait_for_ready_sent(self, timeout: float = 10.0, *, count: int = 1) -> GatewaySession:
        """Return the session whose READY was the `count`-th written to a bot's websocket (1: the first).

        Whatever is dispatched after this returns reaches the bot after READY: before its
        guilds' GUILD_CREATE when `guild_create_delay` holds them, and so before `on_ready`.
        """
        sent = self.gateway.ready_sent
        await self.changed.wait_for(lambda: len(sent) >= count, timeout, f"READY number {count} sent to a bot")
        return sent[count - 1]

    async def _serve_file(self, request: web.Request) -> web.Response:
        """GET /attachments/{channel_id}/{file_id}/{filename}: an uploaded file, as Discord's CDN serves it."""
        file_id = request.match_info["file_id"]
        stored = self.files.get(int(file_id)) if file_id.isdigit() else None
        if stored is None:
            raise web.HTTPNotFound()
        return web.Response(body=stored.data, content_type=stored.content_type)
