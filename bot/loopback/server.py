"""LoopbackDiscord: a Discord-compatible REST API and gateway on 127.0.0.1 for unmodified discord.py.

It implements what Salon uses and keeps the rules bots trip over: a first interaction callback
later than 3 s is refused with "Unknown interaction" (10062), a second one with 40060, interaction
tokens expire after 15 minutes (50027), uploads over the size limit get 413 (40005). Time comes
from a `LoopbackClock` that tests advance.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import WSMsgType, web

from bot.loopback.clock import LoopbackClock
from bot.loopback.driver import UserDriver
from bot.loopback.state import (
    EPHEMERAL,
    LOADING,
    Channel,
    Guild,
    Message,
    Snowflakes,
    StoredFile,
    User,
)

log = logging.getLogger(__name__)

INITIAL_RESPONSE_SECONDS = 3.0
TOKEN_LIFETIME_SECONDS = 15 * 60
DEFAULT_MAX_UPLOAD = 10 * 1024 * 1024


def json_response(data: Any, status: int = 200) -> web.Response:
    """Return a JSON response typed exactly `application/json`, as discord.py checks for that."""
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


def number_components(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return components with Discord's numeric `id` on each, counting rows and children in order."""
    counter = 0
    numbered = []
    for row in rows:
        counter += 1
        children = []
        for child in row.get("components", []):
            counter += 1
            children.append({**child, "id": child.get("id", counter)})
        numbered.append({**row, "id": row.get("id", counter - len(children)), "components": children})
    return numbered


class DiscordHTTPError(Exception):
    """An error answered the way Discord answers it: HTTP status plus JSON code and message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Interaction:
    """One interaction the driver sent, and everything the bot answered."""

    id: int
    token: str
    type: int
    user: User
    channel: Channel
    created_at: float
    payload: dict[str, Any]
    source_message: Message | None = None
    callback_type: int | None = None
    original: Message | None = None
    followups: list[Message] = field(default_factory=list)
    modal: dict[str, Any] | None = None
    refused: list[tuple[int, int]] = field(default_factory=list)  # (status, code) of refused calls

    @property
    def acknowledged(self) -> bool:
        """Return whether the bot answered the interaction in time."""
        return self.callback_type is not None


@dataclass
class RecordedResponse:
    """A REST response, kept for validation against Discord's OpenAPI document."""

    method: str
    path: str
    status: int
    body: Any


class GatewaySession:
    """One bot connection to the gateway."""

    def __init__(self, ws: web.WebSocketResponse, user: User) -> None:
        self.ws = ws
        self.user = user
        self.sequence = 0
        self.id = secrets.token_hex(16)

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a dispatch (op 0) with the next sequence number."""
        self.sequence += 1
        if not self.ws.closed:
            await self.ws.send_str(json.dumps({"op": 0, "t": event, "s": self.sequence, "d": data}))


class LoopbackDiscord:
    """A small Discord: REST under /api/v10, a gateway websocket, and a driver for tests."""

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
        self.snowflakes = Snowflakes()
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, Message] = {}
        self.files: dict[int, StoredFile] = {}
        self.interactions: dict[int, Interaction] = {}
        self.commands: dict[int, list[dict[str, Any]]] = {}  # guild id (0: global) -> commands
        self.application: User | None = None
        self.sessions: list[GatewaySession] = []
        self.changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- life ---------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Return the server's root URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """Return the REST base to give discord.py."""
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """Return the gateway websocket URL."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1 (an ephemeral port unless given)."""
        app = web.Application(middlewares=[self._errors_middleware], client_max_size=self.max_upload_bytes + 1_000_000)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/gateway/", self._gateway)
        app.router.add_get("/attachments/{channel_id}/{file_id}/{filename}", self._serve_file)
        for method, path, handler in self._routes():
            app.router.add_route(method, "/api/v10" + path, handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("loopback Discord listening on %s", self.base_url)

    async def stop(self) -> None:
        """Close every gateway session and stop listening."""
        for session in list(self.sessions):
            await session.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- world building -------------------------------------------------------------------------

    def create_application(self, name: str, token: str) -> User:
        """Return the bot user of a new application whose bot logs in with `token`."""
        self.application = User(self.snowflakes.next(), name, bot=True, token=token)
        self.users[self.application.id] = self.application
        for guild in self.guilds.values():
            guild.members[self.application.id] = self.application
        return self.application

    def create_user(self, name: str) -> User:
        """Return a new human user."""
        user = User(self.snowflakes.next(), name)
        self.users[user.id] = user
        return user

    def create_guild(self, name: str) -> Guild:
        """Return a new guild (the application's bot is a member)."""
        owner = self.create_user(f"{name} owner")
        guild = Guild(self.snowflakes.next(), name, owner.id)
        guild.members[owner.id] = owner
        if self.application is not None:
            guild.members[self.application.id] = self.application
        self.guilds[guild.id] = guild
        return guild

    def create_text_channel(self, guild_id: int, name: str) -> Channel:
        """Return a new text channel in a guild."""
        channel = Channel(self.snowflakes.next(), guild_id, name)
        self.guilds[guild_id].channels[channel.id] = channel
        self.channels[channel.id] = channel
        return channel

    def add_member(self, guild_id: int, user_id: int) -> None:
        """Make a user a member of a guild."""
        self.guilds[guild_id].members[user_id] = self.users[user_id]

    def driver(self, user_id: int) -> UserDriver:
        """Return a driver that acts as this user."""
        return UserDriver(self, self.users[user_id])

    # --- reading, for tests -------------------------------------------------------------------

    def channel_messages(self, channel_id: int, *, include_ephemeral: bool = False) -> list[Message]:
        """Return a channel's live messages, oldest first."""
        return [
            m for m in self.channels[channel_id].messages if not m.deleted and (include_ephemeral or not m.ephemeral)
        ]

    def file_bytes(self, url: str) -> bytes:
        """Return the bytes behind an attachment URL served by this server."""
        file_id = int(url.split("/attachments/", 1)[1].split("/")[1])
        return self.files[file_id].data

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 60.0) -> Any:
        """Return the first truthy value of `predicate`, re-checked whenever the state changes."""
        async with asyncio.timeout(timeout):
            async with self.changed:
                while not (value := predicate()):
                    await self.changed.wait()
                return value

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    # --- gateway ------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        # discord.py asks for compressed frames but reads text frames as they are; text it is.
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None}))
        session: GatewaySession | None = None
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            message = json.loads(frame.data)
            op = message.get("op")
            if op == 1:
                await ws.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
            elif op in (2, 6):
                user = self._bot_for_token(str((message.get("d") or {}).get("token", "")))
                if user is None:
                    await ws.close(code=4004, message=b"Authentication failed.")
                    break
                session = GatewaySession(ws, user)
                self.sessions.append(session)
                await self._ready(session)
            # other ops (presence, voice, request members) need no answer here
        if session is not None and session in self.sessions:
            self.sessions.remove(session)
        return ws

    async def _ready(self, session: GatewaySession) -> None:
        assert self.application is not None
        await session.dispatch(
            "READY",
            {
                "v": 10,
                "user": {**session.user.payload(), "verified": True, "mfa_enabled": False, "email": None},
                "guilds": [{"id": str(g.id), "unavailable": True} for g in self.guilds.values()],
                "session_id": session.id,
                "resume_gateway_url": self.gateway_url,
                "application": {"id": str(self.application.id), "flags": 0},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "shard": [0, 1],
            },
        )
        for guild in self.guilds.values():
            await session.dispatch("GUILD_CREATE", guild.create_payload())
        await self._notify()

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send an event to every connected bot session."""
        for session in list(self.sessions):
            await session.dispatch(event, data)

    async def wait_for_bot(self, timeout: float = 60.0) -> None:
        """Return once a bot has identified on the gateway."""
        await self.wait_for(lambda: self.sessions, timeout)

    # --- REST plumbing --------------------------------------------------------------------------

    @web.middleware
    async def _errors_middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        try:
            response = await handler(request)
        except DiscordHTTPError as exc:
            response = json_response({"message": exc.message, "code": exc.code}, status=exc.status)
        except web.HTTPRequestEntityTooLarge:
            response = json_response({"message": "Request entity too large", "code": 40005}, status=413)
        if self.record_responses and request.path.startswith("/api/") and isinstance(response, web.Response):
            body = json.loads(response.body) if response.body and response.content_type == "application/json" else None
            path = request.path.removeprefix("/api/v10")
            self.recorded.append(RecordedResponse(request.method, path, response.status, body))
        return response

    def _bot_for_token(self, token: str) -> User | None:
        app = self.application
        return app if app is not None and app.token and secrets.compare_digest(token, app.token) else None

    def _authorized(self, request: web.Request) -> User:
        header = request.headers.get("Authorization", "")
        user = self._bot_for_token(header.removeprefix("Bot "))
        if user is None:
            raise DiscordHTTPError(401, 0, "401: Unauthorized")
        return user

    def _channel(self, request: web.Request) -> Channel:
        channel = self.channels.get(int(request.match_info["channel_id"]))
        if channel is None:
            raise DiscordHTTPError(404, 10003, "Unknown Channel")
        return channel

    def _message(self, channel: Channel, message_id: str) -> Message:
        message = self.messages.get(int(message_id))
        if message is None or message.deleted or message.channel is not channel:
            raise DiscordHTTPError(404, 10008, "Unknown Message")
        return message

    async def _read_body(self, request: web.Request) -> tuple[dict[str, Any], dict[int, StoredFile]]:
        """Return the JSON payload and the uploaded files (multipart `files[n]` + `payload_json`)."""
        if request.content_length is not None and request.content_length > self.max_upload_bytes:
            raise DiscordHTTPError(413, 40005, "Request entity too large")
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            payload = json.loads(str(form.get("payload_json", "{}")))
            uploads: dict[int, StoredFile] = {}
            total = 0
            for key, value in form.items():
                if not key.startswith("files[") or not hasattr(value, "file"):
                    continue
                data = value.file.read()
                total += len(data)
                stored = StoredFile(self.snowflakes.next(), value.filename, data, value.content_type)
                uploads[int(key[6:-1])] = stored
            if total > self.max_upload_bytes:
                raise DiscordHTTPError(413, 40005, "Request entity too large")
            return payload, uploads
        if request.can_read_body:
            return await request.json(), {}
        return {}, {}

    def _apply_message_fields(
        self, message: Message, payload: dict[str, Any], uploads: dict[int, StoredFile], *, editing: bool
    ) -> None:
        if "content" in payload:
            message.content = payload["content"] or ""
        if "embeds" in payload:
            message.embeds = payload["embeds"] or []
        if "components" in payload:
            message.components = number_components(payload["components"] or [])
        if "flags" in payload and payload["flags"] is not None and not editing:
            message.flags |= int(payload["flags"]) & EPHEMERAL
        if "attachments" in payload or uploads:
            kept = {f.id: f for f in message.attachments}
            attachments = []
            for item in payload.get("attachments") or [{"id": index} for index in uploads]:
                item_id = int(item["id"])
                if item_id in uploads:
                    stored = uploads[item_id]
                    if item.get("filename"):
                        stored.filename = item["filename"]
                    attachments.append(stored)
                elif item_id in kept:
                    attachments.append(kept[item_id])
            for stored in attachments:
                self.files[stored.id] = stored
            message.attachments = attachments
        if editing:
            message.flags &= ~LOADING
            message.edited_at = message.edited_at or message.created_at

    async def post_message(
        self, channel: Channel, author: User, payload: dict[str, Any], uploads: dict[int, StoredFile], **extra: Any
    ) -> Message:
        """Create a message, tell the bot (MESSAGE_CREATE) and return it."""
        message = Message(self.snowflakes.next(), channel, author, **extra)
        self._apply_message_fields(message, payload, uploads, editing=False)
        self.messages[message.id] = message
        channel.messages.append(message)
        if not message.ephemeral:
            await self.dispatch("MESSAGE_CREATE", self._message_event(message))
        await self._notify()
        return message

    async def edit_message(self, message: Message, payload: dict[str, Any], uploads: dict[int, StoredFile]) -> None:
        """Edit a message and tell the bot (MESSAGE_UPDATE)."""
        self._apply_message_fields(message, payload, uploads, editing=True)
        if not message.ephemeral:
            await self.dispatch("MESSAGE_UPDATE", self._message_event(message))
        await self._notify()

    async def delete_message(self, message: Message) -> None:
        """Delete a message and tell the bot (MESSAGE_DELETE)."""
        message.deleted = True
        if not message.ephemeral:
            data = {
                "id": str(message.id),
                "channel_id": str(message.channel.id),
                "guild_id": str(message.channel.guild_id),
            }
            await self.dispatch("MESSAGE_DELETE", data)
        await self._notify()

    def _message_event(self, message: Message) -> dict[str, Any]:
        data = message.payload(self.base_url)
        data["guild_id"] = str(message.channel.guild_id)
        guild = self.guilds[message.channel.guild_id]
        if not message.author.bot and message.author.id in guild.members:
            member = guild.member_payload(message.author)
            member.pop("user")
            data["member"] = member
        return data

    def message_json(self, message: Message, viewer: User | None = None) -> web.Response:
        """Return a message as a REST response."""
        return json_response(message.payload(self.base_url, viewer.id if viewer else None))

    # --- REST routes ----------------------------------------------------------------------------

    def _routes(self) -> list[tuple[str, str, Callable[..., Any]]]:
        return [
            ("GET", "/users/@me", self._get_me),
            ("GET", "/oauth2/applications/@me", self._get_application),
            ("GET", "/gateway/bot", self._get_gateway_bot),
            ("GET", "/gateway", self._get_gateway_bot),
            ("PUT", "/applications/{app_id}/commands", self._put_commands),
            ("GET", "/applications/{app_id}/commands", self._get_commands),
            ("PUT", "/applications/{app_id}/guilds/{guild_id}/commands", self._put_commands),
            ("GET", "/applications/{app_id}/guilds/{guild_id}/commands", self._get_commands),
            ("GET", "/channels/{channel_id}", self._get_channel),
            ("GET", "/channels/{channel_id}/messages", self._list_messages),
            ("POST", "/channels/{channel_id}/messages", self._create_message),
            ("GET", "/channels/{channel_id}/messages/pins", self._list_pins),
            ("PUT", "/channels/{channel_id}/messages/pins/{message_id}", self._pin),
            ("DELETE", "/channels/{channel_id}/messages/pins/{message_id}", self._unpin),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self._get_message),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self._edit_message),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self._delete_message),
            ("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", self._bot_react),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", self._bot_unreact),
            ("POST", "/channels/{channel_id}/messages/{message_id}/threads", self._thread_from_message),
            ("POST", "/channels/{channel_id}/threads", self._thread_without_message),
            ("POST", "/interactions/{interaction_id}/{token}/callback", self._callback),
            ("POST", "/webhooks/{app_id}/{token}", self._followup),
            ("GET", "/webhooks/{app_id}/{token}/messages/{message_id}", self._webhook_get),
            ("PATCH", "/webhooks/{app_id}/{token}/messages/{message_id}", self._webhook_edit),
            ("DELETE", "/webhooks/{app_id}/{token}/messages/{message_id}", self._webhook_delete),
        ]

    async def _get_me(self, request: web.Request) -> web.Response:
        user = self._authorized(request)
        return json_response({**user.payload(), "verified": True, "mfa_enabled": False, "locale": "en-US"})

    async def _get_application(self, request: web.Request) -> web.Response:
        user = self._authorized(request)
        return json_response(
            {
                "id": str(user.id),
                "name": user.name,
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "flags_new": "0",
                "role_connections_verification_url": None,
                "approximate_guild_count": len(self.guilds),
                "approximate_user_install_count": 0,
                "approximate_user_authorization_count": 0,
                "explicit_content_filter": 0,
                "eligible_oauth2_scopes": ["bot", "applications.commands"],
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": 0,
                "owner": next(iter(self.guilds.values())).members[next(iter(self.guilds.values())).owner_id].payload()
                if self.guilds
                else user.payload(),
                "team": None,
                "bot": user.payload(),
                "rpc_origins": [],
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "tags": [],
            }
        )

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1},
            }
        )

    async def _put_commands(self, request: web.Request) -> web.Response:
        self._authorized(request)
        scope = int(request.match_info.get("guild_id", 0))
        commands = []
        for command in await request.json():
            command = {
                "id": str(self.snowflakes.next()),
                "application_id": request.match_info["app_id"],
                "version": str(self.snowflakes.next()),
                "type": 1,
                "description": "",
                "default_member_permissions": None,
                "dm_permission": True,
                "nsfw": False,
                **command,
            }
            # discord.py sends null for "any"; Discord answers with the effective default.
            command["integration_types"] = command.get("integration_types") or [0]
            command["contexts"] = command.get("contexts") or [0, 1, 2]
            if scope:
                command["guild_id"] = str(scope)
            commands.append(command)
        self.commands[scope] = commands
        await self._notify()
        return json_response(commands)

    async def _get_commands(self, request: web.Request) -> web.Response:
        self._authorized(request)
        return json_response(self.commands.get(int(request.match_info.get("guild_id", 0)), []))

    async def _get_channel(self, request: web.Request) -> web.Response:
        self._authorized(request)
        return json_response(self._channel(request).payload())

    async def _list_messages(self, request: web.Request) -> web.Response:
        bot = self._authorized(request)
        channel = self._channel(request)
        limit = int(request.query.get("limit", 50))
        messages = list(reversed(self.channel_messages(channel.id)))[:limit]
        return json_response([m.payload(self.base_url, bot.id) for m in messages])

    async def _create_message(self, request: web.Request) -> web.Response:
        bot = self._authorized(request)
        channel = self._channel(request)
        payload, uploads = await self._read_body(request)
        if not (payload.get("content") or payload.get("embeds") or uploads or payload.get("components")):
            raise DiscordHTTPError(400, 50006, "Cannot send an empty message")
        message = await self.post_message(channel, bot, payload, uploads)
        return self.message_json(message, bot)

    async def _get_message(self, request: web.Request) -> web.Response:
        bot = self._authorized(request)
        return self.message_json(self._message(self._channel(request), request.match_info["message_id"]), bot)

    async def _edit_message(self, request: web.Request) -> web.Response:
        bot = self._authorized(request)
        message = self._message(self._channel(request), request.match_info["message_id"])
        if message.author is not bot:
            raise DiscordHTTPError(403, 50005, "Cannot edit a message authored by another user")
        payload, uploads = await self._read_body(request)
        await self.edit_message(message, payload, uploads)
        return self.message_json(message, bot)

    async def _delete_message(self, request: web.Request) -> web.Response:
        self._authorized(request)
        await self.delete_message(self._message(self._channel(request), request.match_info["message_id"]))
        return web.Response(status=204)

    async def _bot_react(self, request: web.Request) -> web.Response:
        bot = self._authorized(request)
        message = self._message(self._channel(request), request.match_info["message_id"])
        await self.set_reaction(message, bot, unquote(request.match_info["emoji"]), added=True)
        return web.Response(status=204)

    async def _bot_unreact(self, request: web.Request) -> web.Response:
        bot = self._authorized(request)
        message = self._message(self._channel(request), request.match_info["message_id"])
        await self.set_reaction(message, bot, unquote(request.match_info["emoji"]), added=False)
        return web.Response(status=204)

    async def set_reaction(self, message: Message, user: User, emoji: str, *, added: bool) -> None:
        """Add or remove a reaction and tell the bot (MESSAGE_REACTION_ADD/REMOVE)."""
        users = message.reactions.setdefault(emoji, set())
        if (user.id in users) == added:
            return
        (users.add if added else users.discard)(user.id)
        data: dict[str, Any] = {
            "user_id": str(user.id),
            "channel_id": str(message.channel.id),
            "message_id": str(message.id),
            "guild_id": str(message.channel.guild_id),
            "emoji": {"id": None, "name": emoji},
            "burst": False,
            "type": 0,
        }
        if added:
            guild = self.guilds[message.channel.guild_id]
            data["member"] = guild.member_payload(user)
            data["message_author_id"] = str(message.author.id)
            data["burst_colors"] = []
        await self.dispatch("MESSAGE_REACTION_ADD" if added else "MESSAGE_REACTION_REMOVE", data)
        await self._notify()

    async def _list_pins(self, request: web.Request) -> web.Response:
        bot = self._authorized(request)
        channel = self._channel(request)
        items = [
            {"pinned_at": self.messages[m].created_at, "message": self.messages[m].payload(self.base_url, bot.id)}
            for m in reversed(channel.pins)
        ]
        return json_response({"items": items, "has_more": False})

    async def _pin(self, request: web.Request) -> web.Response:
        self._authorized(request)
        channel = self._channel(request)
        message = self._message(channel, request.match_info["message_id"])
        if message.id not in channel.pins:
            channel.pins.append(message.id)
            await self.dispatch(
                "CHANNEL_PINS_UPDATE",
                {
                    "guild_id": str(channel.guild_id),
                    "channel_id": str(channel.id),
                    "last_pin_timestamp": message.created_at,
                },
            )
            await self._notify()
        return web.Response(status=204)

    async def _unpin(self, request: web.Request) -> web.Response:
        self._authorized(request)
        channel = self._channel(request)
        message = self._message(channel, request.match_info["message_id"])
        if message.id in channel.pins:
            channel.pins.remove(message.id)
            await self._notify()
        return web.Response(status=204)

    async def _thread_from_message(self, request: web.Request) -> web.Response:
        bot = self._authorized(request)
        channel = self._channel(request)
        message = self._message(channel, request.match_info["message_id"])
        payload = await request.json()
        thread = await self.create_thread(channel, bot, payload.get("name") or "thread", thread_id=message.id)
        return json_response(thread.payload(), status=201)

    async def _thread_without_message(self, request: web.Request) -> web.Response:
        bot = self._authorized(request)
        payload = await request.json()
        thread = await self.create_thread(self._channel(request), bot, payload.get("name") or "thread")
        return json_response(thread.payload(), status=201)

    async def create_thread(self, parent: Channel, owner: User, name: str, thread_id: int | None = None) -> Channel:
        """Create a public thread under a text channel and tell the bot (THREAD_CREATE)."""
        if not 1 <= len(name) <= 100:
            raise DiscordHTTPError(400, 50035, "Invalid Form Body: name must be 1 to 100 characters")
        thread = Channel(thread_id or self.snowflakes.next(), parent.guild_id, name, type=11, parent_id=parent.id)
        thread.owner_id = owner.id
        self.channels[thread.id] = thread
        self.guilds[parent.guild_id].channels[thread.id] = thread
        await self.dispatch("THREAD_CREATE", {**thread.payload(), "newly_created": True})
        await self._notify()
        return thread

    # --- interactions -------------------------------------------------------------------------

    def _interaction_for_token(self, request: web.Request) -> Interaction:
        token = request.match_info["token"]
        for interaction in self.interactions.values():
            if secrets.compare_digest(interaction.token, token):
                if self.clock.now() - interaction.created_at > TOKEN_LIFETIME_SECONDS:
                    interaction.refused.append((401, 50027))
                    raise DiscordHTTPError(401, 50027, "Invalid Webhook Token")
                return interaction
        raise DiscordHTTPError(404, 10015, "Unknown Webhook")

    async def _callback(self, request: web.Request) -> web.Response:
        interaction = self.interactions.get(int(request.match_info["interaction_id"]))
        if interaction is None or not secrets.compare_digest(interaction.token, request.match_info["token"]):
            raise DiscordHTTPError(404, 10062, "Unknown interaction")
        payload, uploads = await self._read_body(request)
        if interaction.acknowledged:
            interaction.refused.append((400, 40060))
            raise DiscordHTTPError(400, 40060, "Interaction has already been acknowledged.")
        if self.clock.now() - interaction.created_at > INITIAL_RESPONSE_SECONDS:
            interaction.refused.append((404, 10062))
            await self._notify()
            raise DiscordHTTPError(404, 10062, "Unknown interaction")
        kind = int(payload.get("type", 0))
        data = payload.get("data") or {}
        bot = self.application
        assert bot is not None
        resource: dict[str, Any] = {"type": kind}
        if kind in (4, 5):
            flags = int(data.get("flags") or 0) & EPHEMERAL
            message = await self.post_message(
                interaction.channel,
                bot,
                {**data, "flags": flags},
                uploads,
                webhook_id=bot.id,
                interaction=self._interaction_metadata(interaction),
            )
            if kind == 5:
                message.flags |= LOADING
            interaction.original = message
            resource["message"] = message.payload(self.base_url, bot.id)
        elif kind == 7:
            if interaction.source_message is None:
                raise DiscordHTTPError(400, 40060, "This interaction has no message to update")
            await self.edit_message(interaction.source_message, data, uploads)
            interaction.original = interaction.source_message
            resource["message"] = interaction.source_message.payload(self.base_url, bot.id)
        elif kind == 6:
            interaction.original = interaction.source_message
        elif kind == 9:
            interaction.modal = data
        elif kind != 1:
            raise DiscordHTTPError(400, 50035, f"Invalid Form Body: unknown callback type {kind}")
        interaction.callback_type = kind
        await self._notify()
        body = {
            "interaction": {
                "id": str(interaction.id),
                "type": interaction.type,
                "activity_instance_id": None,
                "response_message_id": str(interaction.original.id) if interaction.original else None,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(interaction.original and interaction.original.ephemeral),
            },
        }
        # Discord's document defines a resource only for messages sent or updated (4, 7).
        if kind in (4, 7):
            body["resource"] = resource
        if request.query.get("with_response") in ("1", "true", "True"):
            return json_response(body)
        return web.Response(status=204)

    def _interaction_metadata(self, interaction: Interaction) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(interaction.id),
            "type": interaction.type,
            "user": interaction.user.payload(),
            "authorizing_integration_owners": {"0": str(interaction.channel.guild_id)},
        }
        if interaction.source_message is not None:
            data["interacted_message_id"] = str(interaction.source_message.id)
        return data

    def _webhook_target(self, interaction: Interaction, message_id: str) -> Message:
        if message_id == "@original":
            if interaction.original is None:
                raise DiscordHTTPError(404, 10008, "Unknown Message")
            return interaction.original
        for message in interaction.followups:
            if str(message.id) == message_id:
                return message
        raise DiscordHTTPError(404, 10008, "Unknown Message")

    async def _followup(self, request: web.Request) -> web.Response:
        interaction = self._interaction_for_token(request)
        if not interaction.acknowledged:
            raise DiscordHTTPError(404, 10015, "Unknown Webhook")
        payload, uploads = await self._read_body(request)
        bot = self.application
        assert bot is not None
        message = await self.post_message(
            interaction.channel,
            bot,
            payload,
            uploads,
            webhook_id=bot.id,
            interaction=self._interaction_metadata(interaction),
        )
        interaction.followups.append(message)
        await self._notify()
        return self.message_json(message, bot)

    async def _webhook_get(self, request: web.Request) -> web.Response:
        interaction = self._interaction_for_token(request)
        return self.message_json(self._webhook_target(interaction, request.match_info["message_id"]), self.application)

    async def _webhook_edit(self, request: web.Request) -> web.Response:
        interaction = self._interaction_for_token(request)
        message = self._webhook_target(interaction, request.match_info["message_id"])
        payload, uploads = await self._read_body(request)
        await self.edit_message(message, payload, uploads)
        return self.message_json(message, self.application)

    async def _webhook_delete(self, request: web.Request) -> web.Response:
        interaction = self._interaction_for_token(request)
        await self.delete_message(self._webhook_target(interaction, request.match_info["message_id"]))
        return web.Response(status=204)

    async def create_interaction(
        self,
        user: User,
        channel: Channel,
        kind: int,
        data: dict[str, Any],
        source_message: Message | None = None,
    ) -> Interaction:
        """Create an interaction as `user` and dispatch INTERACTION_CREATE to the bot."""
        assert self.application is not None
        guild = self.guilds[channel.guild_id]
        interaction = Interaction(
            id=self.snowflakes.next(),
            token=f"aW50ZXJhY3Rpb24.{secrets.token_urlsafe(48)}",
            type=kind,
            user=user,
            channel=channel,
            created_at=self.clock.now(),
            payload={},
            source_message=source_message,
        )
        payload: dict[str, Any] = {
            "id": str(interaction.id),
            "application_id": str(self.application.id),
            "type": kind,
            "data": data,
            "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
            "guild_id": str(guild.id),
            "channel": channel.payload(),
            "channel_id": str(channel.id),
            "member": guild.member_payload(user, with_permissions=True),
            "token": interaction.token,
            "version": 1,
            "app_permissions": "2251799813685247",
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": self.max_upload_bytes,
        }
        if source_message is not None:
            payload["message"] = self._message_event(source_message)
        interaction.payload = payload
        self.interactions[interaction.id] = interaction
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction

    async def _serve_file(self, request: web.Request) -> web.Response:
        stored = self.files.get(int(request.match_info["file_id"]))
        if stored is None:
            raise web.HTTPNotFound()
        return web.Response(body=stored.data, content_type=stored.content_type)
