"""The loopback REST API under /api/v10: the routes discord.py calls, answered as Discord answers them.

Every answer is JSON typed exactly `application/json` (discord.py parses a body as JSON only
then), errors carry Discord's `{"message", "code"}`, unknown routes answer Discord's
`404: Not Found` and are logged so a missing route is easy to spot.
"""

from __future__ import annotations

import contextlib
import json
import logging
import mimetypes
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aiohttp import BodyPartReader, web

from loopback import errors
from loopback.errors import DiscordHTTPError, invalid_form
from loopback.messages import check_emoji
from loopback.state import (
    ATTACH_FILES,
    CREATE_PRIVATE_THREADS,
    CREATE_PUBLIC_THREADS,
    GUILD_CATEGORY,
    GUILD_TEXT,
    PIN_MESSAGES,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    SEND_POLLS,
    THREAD_TYPES,
    VIEW_CHANNEL,
    Channel,
    Guild,
    Message,
    StoredFile,
    User,
)

if TYPE_CHECKING:
    from loopback.faults import Fault
    from loopback.interactions import Interaction
    from loopback.server import LoopbackDiscord

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """Return a JSON response typed exactly `application/json`, the only type discord.py decodes."""
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={**(headers or {}), "Content-Type": "application/json"}
    )


def no_content() -> web.Response:
    """Return Discord's empty 204 answer."""
    return web.Response(status=204)


@dataclass
class RecordedResponse:
    """One REST answer, kept for validation against Discord's OpenAPI document."""

    method: str
    path: str  # concrete, without the /api/v10 prefix
    route: str  # the loopback's route template, e.g. /channels/{channel_id}/messages
    status: int
    body: Any


class RestAPI:
    """The REST routes of one LoopbackDiscord."""

    def __init__(self, server: LoopbackDiscord) -> None:
        self.server = server

    def add_routes(self, app: web.Application) -> None:
        """Register every route under /api/v10 on `app`."""
        for method, path, handler in self.routes():
            app.router.add_route(method, API_PREFIX + path, handler)

    def routes(self) -> list[tuple[str, str, Handler]]:
        """Return (method, path template, handler) for every REST route the loopback implements."""
        message = "/channels/{channel_id}/messages/{message_id}"
        reactions = message + "/reactions"
        commands = "/applications/{application_id}/commands"
        guild_commands = "/applications/{application_id}/guilds/{guild_id}/commands"
        webhook_message = "/webhooks/{application_id}/{token}/messages/{message_id}"
        return [
            ("GET", "/users/@me", self.get_me),
            ("GET", "/users/@me/guilds", self.get_my_guilds),
            ("POST", "/users/@me/channels", self.open_dm),
            ("GET", "/users/{user_id}", self.get_user),
            ("GET", "/oauth2/applications/@me", self.get_application),
            ("GET", "/applications/@me", self.get_application),
            ("GET", "/gateway", self.get_gateway),
            ("GET", "/gateway/bot", self.get_gateway_bot),
            ("GET", commands, self.list_commands),
            ("PUT", commands, self.put_commands),
            ("POST", commands, self.create_command),
            ("GET", commands + "/{command_id}", self.get_command),
            ("PATCH", commands + "/{command_id}", self.edit_command),
            ("DELETE", commands + "/{command_id}", self.delete_command),
            ("GET", guild_commands, self.list_commands),
            ("PUT", guild_commands, self.put_commands),
            ("POST", guild_commands, self.create_command),
            ("GET", guild_commands + "/{command_id}", self.get_command),
            ("PATCH", guild_commands + "/{command_id}", self.edit_command),
            ("DELETE", guild_commands + "/{command_id}", self.delete_command),
            ("GET", "/guilds/{guild_id}", self.get_guild),
            ("GET", "/guilds/{guild_id}/channels", self.list_guild_channels),
            ("POST", "/guilds/{guild_id}/channels", self.create_guild_channel),
            ("GET", "/guilds/{guild_id}/roles", self.list_roles),
            ("GET", "/guilds/{guild_id}/members", self.list_members),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member),
            ("GET", "/guilds/{guild_id}/threads/active", self.active_threads),
            ("GET", "/channels/{channel_id}", self.get_channel),
            ("PATCH", "/channels/{channel_id}", self.edit_channel),
            ("DELETE", "/channels/{channel_id}", self.delete_channel),
            ("POST", "/channels/{channel_id}/typing", self.typing),
            ("GET", "/channels/{channel_id}/messages", self.list_messages),
            ("POST", "/channels/{channel_id}/messages", self.create_message),
            ("POST", "/channels/{channel_id}/messages/bulk-delete", self.bulk_delete),
            ("GET", "/channels/{channel_id}/messages/pins", self.list_pins),
            ("PUT", "/channels/{channel_id}/messages/pins/{message_id}", self.pin),
            ("DELETE", "/channels/{channel_id}/messages/pins/{message_id}", self.unpin),
            ("GET", "/channels/{channel_id}/pins", self.list_pins_legacy),
            ("PUT", "/channels/{channel_id}/pins/{message_id}", self.pin),
            ("DELETE", "/channels/{channel_id}/pins/{message_id}", self.unpin),
            ("GET", message, self.get_message),
            ("PATCH", message, self.edit_message),
            ("DELETE", message, self.delete_message),
            ("DELETE", reactions, self.clear_reactions),
            ("GET", reactions + "/{emoji}", self.reaction_users),
            ("DELETE", reactions + "/{emoji}", self.clear_emoji),
            ("PUT", reactions + "/{emoji}/@me", self.add_own_reaction),
            ("DELETE", reactions + "/{emoji}/@me", self.remove_own_reaction),
            ("DELETE", reactions + "/{emoji}/{user_id}", self.remove_user_reaction),
            ("GET", "/channels/{channel_id}/polls/{message_id}/answers/{answer_id}", self.poll_answer_voters),
            ("POST", "/channels/{channel_id}/polls/{message_id}/expire", self.expire_poll),
            ("POST", message + "/threads", self.thread_from_message),
            ("POST", "/channels/{channel_id}/threads", self.thread_without_message),
            ("GET", "/channels/{channel_id}/threads/archived/public", self.archived_threads),
            ("GET", "/channels/{channel_id}/thread-members", self.list_thread_members),
            ("GET", "/channels/{channel_id}/thread-members/{user_id}", self.get_thread_member),
            ("PUT", "/channels/{channel_id}/thread-members/{user_id}", self.join_thread),
            ("DELETE", "/channels/{channel_id}/thread-members/{user_id}", self.leave_thread),
            ("POST", "/interactions/{interaction_id}/{token}/callback", self.interaction_callback),
            ("POST", "/webhooks/{application_id}/{token}", self.followup),
            ("GET", webhook_message, self.webhook_get),
            ("PATCH", webhook_message, self.webhook_edit),
            ("DELETE", webhook_message, self.webhook_delete),
        ]

    # --- plumbing ---------------------------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer errors as Discord does, apply the server's faults, and record /api answers when asked."""
        is_api = request.path.startswith("/api/")
        fault = self.server.faults.claim(request.method, request.path.removeprefix(API_PREFIX)) if is_api else None
        if fault is not None and not fault.after_effect:
            response = await self._faulted(request, fault)
        else:
            response = await self._handle(request, handler, is_api)
            if fault is not None:
                response = await self._faulted(request, fault)
        if is_api:
            log.debug("%s %s -> %s", request.method, request.path, response.status)
            if self.server.record_responses and isinstance(response, web.Response):
                self._record(request, response)
        return response

    async def _handle(self, request: web.Request, handler: Handler, is_api: bool) -> web.StreamResponse:
        """Return the handler's answer, with every error turned into Discord's JSON error."""
        try:
            return await handler(request)
        except DiscordHTTPError as exc:
            return json_response(exc.body(), exc.status)
        except web.HTTPRequestEntityTooLarge:
            return json_response(errors.too_large().body(), 413)
        except web.HTTPException as exc:
            if not is_api:
                raise
            if exc.status == 404:
                log.warning("loopback Discord has no route for %s %s", request.method, request.path)
            return json_response({"message": f"{exc.status}: {exc.reason}", "code": 0}, exc.status)
        except Exception:
            log.exception("loopback Discord failed on %s %s", request.method, request.path)
            return json_response({"message": "500: Internal Server Error", "code": 0}, 500)

    async def _faulted(self, request: web.Request, fault: Fault) -> web.Response:
        """Return the fault's answer to a request, counting it as a hit."""
        # An unread upload makes aiohttp drop the connection under discord.py's retry; read it all.
        async for _ in request.content.iter_any():
            pass
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else request.path
        log.info("loopback fault: %s %s -> %d", request.method, request.path, fault.status)
        self.server.faults.answered(fault)
        return json_response(fault.body(), fault.status, fault.headers(f"{request.method} {route}"))

    def _record(self, request: web.Request, response: web.Response) -> None:
        body = None
        if response.body and response.content_type == "application/json":
            body = json.loads(response.body)  # type: ignore[arg-type]
        resource = request.match_info.route.resource
        route = resource.canonical.removeprefix(API_PREFIX) if resource is not None else request.path
        self.server.recorded.append(
            RecordedResponse(request.method, request.path.removeprefix(API_PREFIX), route, response.status, body)
        )

    def _bot(self, request: web.Request) -> User:
        """Return the bot whose token the Authorization header carries; 401 otherwise."""
        header = request.headers.get("Authorization", "")
        user = self.server.bot_for_token(header.removeprefix("Bot ")) if header.startswith("Bot ") else None
        if user is None:
            raise errors.unauthorized()
        return user

    @staticmethod
    def _snowflake(request: web.Request, key: str) -> int:
        raw = request.match_info.get(key) or request.query.get(key) or ""
        if not raw.isdigit():
            raise invalid_form(key, "NUMBER_TYPE_COERCE", f'Value "{raw}" is not snowflake.')
        return int(raw)

    def _channel(self, request: web.Request, bot: User) -> Channel:
        channel = self.server.channels.get(self._snowflake(request, "channel_id"))
        if channel is None or channel.deleted or not self.server.can_see(bot, channel):
            raise errors.unknown_channel()
        return channel

    def _require(self, bot: User, channel: Channel, needed: int) -> None:
        """Raise Discord's 403 50013 unless the bot holds every permission in `needed` where `channel` is.

        Guild permissions (the loopback has no channel overwrites); a DM needs none.
        """
        if channel.guild_id is None:
            return
        held = self.server.guilds[channel.guild_id].permissions_of(bot.id)
        if held & (needed | VIEW_CHANNEL) != needed | VIEW_CHANNEL:
            raise errors.missing_permissions()

    def _message(self, request: web.Request, channel: Channel) -> Message:
        message = self.server.messages.get(self._snowflake(request, "message_id"))
        if message is None or message.deleted or message.channel is not channel or message.ephemeral:
            raise errors.unknown_message()
        return message

    def _guild(self, request: web.Request, bot: User) -> Guild:
        guild = self.server.guilds.get(self._snowflake(request, "guild_id"))
        if guild is None or bot.id not in guild.members:
            raise errors.unknown_guild()
        return guild

    def _message_json(self, message: Message, bot: User | None, status: int = 200) -> web.Response:
        viewer = bot.id if bot else None
        return json_response(message.payload(self.server.base_url, viewer, self.server.users), status)

    @staticmethod
    async def _json(request: web.Request) -> Any:
        """Return the JSON body (None when empty); 400 50109 when it is not JSON."""
        raw = await request.read() if request.can_read_body else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise DiscordHTTPError(400, errors.INVALID_JSON, "The request body contains invalid JSON.") from None

    async def _object(self, request: web.Request) -> dict[str, Any]:
        body = await self._json(request)
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise invalid_form("_root", "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return body

    async def _message_body(self, request: web.Request) -> tuple[dict[str, Any], dict[int, StoredFile]]:
        """Return a message body and its files: JSON, or multipart `payload_json` plus `files[n]`.

        The files' total is checked against the server's upload limit while reading (413, 40005).
        """
        if not request.content_type.startswith("multipart/"):
            return await self._object(request), {}
        reader = await request.multipart()
        payload: dict[str, Any] = {}
        uploads: dict[int, StoredFile] = {}
        total = 0
        limit = self.server.max_upload_bytes
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            name = part.name or ""
            if name == "payload_json":
                try:
                    payload = json.loads(await part.text())
                except ValueError:
                    raise DiscordHTTPError(
                        400, errors.INVALID_JSON, "The request body contains invalid JSON."
                    ) from None
            elif name.startswith("files[") and name.endswith("]") and name[6:-1].isdigit():
                chunks = []
                while chunk := await part.read_chunk():
                    total += len(chunk)
                    if total <= limit:
                        chunks.append(chunk)
                # Read to the end even when over the limit, so the client gets the 413 rather than a reset.
                if total <= limit:
                    filename = part.filename or "file"
                    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
                    stored = StoredFile(self.server.snowflakes.next(), filename, b"".join(chunks), content_type)
                    uploads[int(name[6:-1])] = stored
            else:
                await part.release()
        if total > limit:
            log.info("upload of %d bytes refused (limit %d)", total, limit)
            raise errors.too_large()
        return payload, uploads

    # --- users, application, gateway --------------------------------------------------------------

    async def get_me(self, request: web.Request) -> web.Response:
        """GET /users/@me: the bot user."""
        bot = self._bot(request)
        return json_response({**bot.payload(), "verified": True, "mfa_enabled": False, "locale": "en-US"})

    async def get_user(self, request: web.Request) -> web.Response:
        """GET /users/{user_id}."""
        self._bot(request)
        user = self.server.users.get(self._snowflake(request, "user_id"))
        if user is None:
            raise errors.unknown_user()
        return json_response(user.payload())

    async def get_my_guilds(self, request: web.Request) -> web.Response:
        """GET /users/@me/guilds: the guilds the bot is in."""
        bot = self._bot(request)
        return json_response(
            [
                {
                    "id": str(g.id),
                    "name": g.name,
                    "icon": None,
                    "banner": None,
                    "owner": g.owner_id == bot.id,
                    "permissions": str(g.permissions_of(bot.id)),
                    "features": [],
                }
                for g in self.server.guilds.values()
                if bot.id in g.members
            ]
        )

    async def open_dm(self, request: web.Request) -> web.Response:
        """POST /users/@me/channels: the DM channel with a user (created on first use)."""
        bot = self._bot(request)
        body = await self._object(request)
        user = self.server.users.get(int(body.get("recipient_id") or 0))
        if user is None:
            raise invalid_form("recipient_id", "BASE_TYPE_REQUIRED", "This field is required")
        return json_response(self.server.open_dm(bot, user).payload(bot.id))

    async def get_application(self, request: web.Request) -> web.Response:
        """GET /oauth2/applications/@me: the application of the bot."""
        bot = self._bot(request)
        first_guild = next(iter(self.server.guilds.values()), None)
        owner = self.server.users[first_guild.owner_id] if first_guild else bot
        return json_response(
            {
                "id": str(bot.id),
                "name": bot.name,
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "flags": self.server.application_flags,
                "flags_new": str(self.server.application_flags),
                "role_connections_verification_url": None,
                "approximate_guild_count": sum(bot.id in g.members for g in self.server.guilds.values()),
                "approximate_user_install_count": 0,
                "approximate_user_authorization_count": 0,
                "explicit_content_filter": 0,
                "eligible_oauth2_scopes": ["bot", "applications.commands"],
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "owner": owner.payload(),
                "team": None,
                "bot": bot.payload(),
                "rpc_origins": [],
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "tags": [],
            }
        )

    async def get_gateway(self, request: web.Request) -> web.Response:
        """GET /gateway: the gateway URL (no token needed)."""
        return json_response({"url": self.server.gateway_url})

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        """GET /gateway/bot: the gateway URL, shard count and session start limits."""
        self._bot(request)
        return json_response(
            {
                "url": self.server.gateway_url,
                "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1},
            }
        )

    # --- application commands --------------------------------------------------------------------

    def _command_scope(self, request: web.Request, bot: User) -> int:
        """Return the command scope a URL names (0: global, else a guild id); 403 for another application."""
        if request.match_info["application_id"] != str(bot.id):
            raise DiscordHTTPError(403, errors.MISSING_ACCESS, "Missing Access")
        if "guild_id" in request.match_info:
            return self._guild(request, bot).id
        return 0

    def _stored_command(self, scope: int, command: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
        """Return a command as Discord stores it; a command keeps its id when overwritten under the same name."""
        app_id = str(self.server.require_application().id)
        stored: dict[str, Any] = {
            "type": 1,
            "description": "",
            "default_member_permissions": None,
            "dm_permission": True,
            "nsfw": False,
            **command,
            "id": previous["id"] if previous else str(self.server.snowflakes.next()),
            "application_id": app_id,
            "version": str(self.server.snowflakes.next()),
        }
        # Discord answers permissions as a string whatever the bot sent (discord.py sends an int).
        if stored["default_member_permissions"] is not None:
            stored["default_member_permissions"] = str(stored["default_member_permissions"])
        # discord.py sends null for "everywhere"; Discord answers with the effective lists.
        stored["integration_types"] = command.get("integration_types") or [0]
        stored["contexts"] = command.get("contexts") or [0, 1, 2]
        if scope:
            stored["guild_id"] = str(scope)
        return stored

    async def list_commands(self, request: web.Request) -> web.Response:
        """GET the global or guild commands."""
        bot = self._bot(request)
        return json_response(self.server.commands.get(self._command_scope(request, bot), []))

    async def put_commands(self, request: web.Request) -> web.Response:
        """PUT (bulk overwrite) the global or guild commands, validated as Discord validates them."""
        bot = self._bot(request)
        scope = self._command_scope(request, bot)
        body = await self._json(request)
        if not isinstance(body, list):
            raise invalid_form("_root", "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        seen: set[tuple[int, str]] = set()
        for index, command in enumerate(body):
            check_command(str(index), command)
            key = (command.get("type", 1), command["name"])
            if key in seen:
                raise invalid_form(
                    str(index), "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique"
                )
            seen.add(key)
        previous = {(c["type"], c["name"]): c for c in self.server.commands.get(scope, [])}
        stored = [self._stored_command(scope, c, previous.get((c.get("type", 1), c["name"]))) for c in body]
        self.server.commands[scope] = stored
        self.server.command_syncs += 1
        self.server.changed.notify()
        log.info("commands synced (%s): %s", f"guild {scope}" if scope else "global", [c["name"] for c in stored])
        return json_response(stored)

    async def create_command(self, request: web.Request) -> web.Response:
        """POST one command: creates it (201) or overwrites the one with its name (200)."""
        bot = self._bot(request)
        scope = self._command_scope(request, bot)
        command = await self._object(request)
        check_command("", command)
        existing = self.server.commands.setdefault(scope, [])
        previous = next(
            (c for c in existing if (c["type"], c["name"]) == (command.get("type", 1), command["name"])), None
        )
        stored = self._stored_command(scope, command, previous)
        if previous is not None:
            existing[existing.index(previous)] = stored
        else:
            existing.append(stored)
        self.server.changed.notify()
        return json_response(stored, 200 if previous else 201)

    def _command(self, request: web.Request, bot: User) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        commands = self.server.commands.get(self._command_scope(request, bot), [])
        command = next((c for c in commands if c["id"] == request.match_info["command_id"]), None)
        if command is None:
            raise DiscordHTTPError(404, errors.UNKNOWN_APPLICATION_COMMAND, "Unknown application command")
        return commands, command

    async def get_command(self, request: web.Request) -> web.Response:
        """GET one command."""
        return json_response(self._command(request, self._bot(request))[1])

    async def edit_command(self, request: web.Request) -> web.Response:
        """PATCH one command."""
        bot = self._bot(request)
        commands, command = self._command(request, bot)
        changes = await self._object(request)
        updated = {**command, **changes, "version": str(self.server.snowflakes.next())}
        check_command("", updated)
        commands[commands.index(command)] = updated
        self.server.changed.notify()
        return json_response(updated)

    async def delete_command(self, request: web.Request) -> web.Response:
        """DELETE one command."""
        commands, command = self._command(request, self._bot(request))
        commands.remove(command)
        self.server.changed.notify()
        return no_content()

    # --- guilds -----------------------------------------------------------------------------------

    async def get_guild(self, request: web.Request) -> web.Response:
        """GET /guilds/{guild_id} (with approximate counts when asked)."""
        guild = self._guild(request, self._bot(request))
        data = guild.payload()
        if request.query.get("with_counts") in ("true", "1", "True"):
            data.update(approximate_member_count=len(guild.members), approximate_presence_count=0)
        return json_response(data)

    async def list_guild_channels(self, request: web.Request) -> web.Response:
        """GET /guilds/{guild_id}/channels: channels, not threads."""
        bot = self._bot(request)
        guild = self._guild(request, bot)
        return json_response([c.payload(bot.id) for c in guild.channels.values() if not c.deleted and not c.is_thread])

    async def create_guild_channel(self, request: web.Request) -> web.Response:
        """POST /guilds/{guild_id}/channels: a text channel or a category (CHANNEL_CREATE)."""
        bot = self._bot(request)
        guild = self._guild(request, bot)
        body = await self._object(request)
        kind = int(body.get("type") or GUILD_TEXT)
        if kind not in (GUILD_TEXT, GUILD_CATEGORY):
            raise invalid_form("type", "BASE_TYPE_CHOICES", "The loopback Discord has text channels and categories")
        name = str(body.get("name") or "")
        if not 1 <= len(name) <= 100:
            raise invalid_form("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        parent_id = int(body["parent_id"]) if body.get("parent_id") else None
        channel = self.server.create_channel(guild.id, name, kind=kind, topic=body.get("topic"), parent_id=parent_id)
        return json_response(channel.payload(bot.id), 201)

    async def list_roles(self, request: web.Request) -> web.Response:
        """GET /guilds/{guild_id}/roles."""
        guild = self._guild(request, self._bot(request))
        return json_response([r.payload() for r in guild.roles.values()])

    async def list_members(self, request: web.Request) -> web.Response:
        """GET /guilds/{guild_id}/members: needs the server members intent enabled for the application."""
        guild = self._guild(request, self._bot(request))
        if not self.server.allowed_privileged_intents & (1 << 1):
            raise DiscordHTTPError(403, errors.MISSING_ACCESS, "Missing Access")
        limit = min(max(int(request.query.get("limit", 1)), 1), 1000)
        after = int(request.query.get("after", 0))
        members = sorted((m for m in guild.members.values() if m.user.id > after), key=lambda m: m.user.id)
        return json_response([m.payload() for m in members[:limit]])

    async def get_member(self, request: web.Request) -> web.Response:
        """GET /guilds/{guild_id}/members/{user_id}."""
        guild = self._guild(request, self._bot(request))
        member = guild.members.get(self._snowflake(request, "user_id"))
        if member is None:
            raise errors.unknown_member()
        return json_response(member.payload())

    async def active_threads(self, request: web.Request) -> web.Response:
        """GET /guilds/{guild_id}/threads/active."""
        bot = self._bot(request)
        guild = self._guild(request, bot)
        threads = [c for c in guild.channels.values() if c.is_thread and not c.deleted and not c.archived]
        members = [t.thread_member_payload(bot.id) for t in threads if bot.id in t.thread_members]
        return json_response({"threads": [t.payload(bot.id) for t in threads], "members": members, "has_more": False})

    # --- channels and threads ---------------------------------------------------------------------

    async def get_channel(self, request: web.Request) -> web.Response:
        """GET /channels/{channel_id}."""
        bot = self._bot(request)
        return json_response(self._channel(request, bot).payload(bot.id))

    async def edit_channel(self, request: web.Request) -> web.Response:
        """PATCH /channels/{channel_id}: name, topic; for threads archived, locked, auto-archive duration."""
        bot = self._bot(request)
        channel = self._channel(request, bot)
        changes = await self._object(request)
        self.server.update_channel(channel, changes)
        return json_response(channel.payload(bot.id))

    async def delete_channel(self, request: web.Request) -> web.Response:
        """DELETE /channels/{channel_id}: answers the deleted channel."""
        bot = self._bot(request)
        channel = self._channel(request, bot)
        data = channel.payload(bot.id)
        self.server.delete_channel(channel)
        return json_response(data)

    async def typing(self, request: web.Request) -> web.Response:
        """POST /channels/{channel_id}/typing."""
        self._channel(request, self._bot(request))
        return no_content()

    async def thread_from_message(self, request: web.Request) -> web.Response:
        """POST .../messages/{message_id}/threads: a public thread whose id is the message's (THREAD_CREATE)."""
        bot = self._bot(request)
        channel = self._channel(request, bot)
        message = self._message(request, channel)
        self._require(bot, channel, CREATE_PUBLIC_THREADS)
        body = await self._object(request)
        thread = self.server.create_thread(
            channel,
            bot,
            str(body.get("name") or ""),
            from_message=message,
            auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
        )
        return json_response(thread.payload(bot.id), 201)

    async def thread_without_message(self, request: web.Request) -> web.Response:
        """POST /channels/{channel_id}/threads: a thread not started from a message (private by default)."""
        bot = self._bot(request)
        channel = self._channel(request, bot)
        body = await self._object(request)
        kind = int(body.get("type") or PRIVATE_THREAD)
        if kind not in (PUBLIC_THREAD, PRIVATE_THREAD):
            raise invalid_form("type", "BASE_TYPE_CHOICES", "Value must be one of {11, 12}.")
        self._require(bot, channel, CREATE_PUBLIC_THREADS if kind == PUBLIC_THREAD else CREATE_PRIVATE_THREADS)
        thread = self.server.create_thread(
            channel,
            bot,
            str(body.get("name") or ""),
            kind=kind,
            auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
        )
        return json_response(thread.payload(bot.id), 201)

    async def archived_threads(self, request: web.Request) -> web.Response:
        """GET /channels/{channel_id}/threads/archived/public."""
        bot = self._bot(request)
        channel = self._channel(request, bot)
        threads = [
            c
            for c in self.server.channels.values()
            if c.parent_id == channel.id and c.type == PUBLIC_THREAD and c.archived and not c.deleted
        ]
        members = [t.thread_member_payload(bot.id) for t in threads if bot.id in t.thread_members]
        return json_response({"threads": [t.payload(bot.id) for t in threads], "members": members, "has_more": False})

    def _thread(self, request: web.Request, bot: User) -> Channel:
        channel = self._channel(request, bot)
        if not channel.is_thread:
            raise DiscordHTTPError(400, errors.WRONG_CHANNEL_TYPE, "Cannot execute action on this channel type")
        return channel

    def _thread_user(self, request: web.Request, bot: User) -> User:
        raw = request.match_info["user_id"]
        user = bot if raw == "@me" else self.server.users.get(int(raw) if raw.isdigit() else 0)
        if user is None:
            raise errors.unknown_user()
        return user

    async def list_thread_members(self, request: web.Request) -> web.Response:
        """GET /channels/{thread_id}/thread-members."""
        thread = self._thread(request, self._bot(request))
        return json_response([thread.thread_member_payload(u) for u in thread.thread_members])

    async def get_thread_member(self, request: web.Request) -> web.Response:
        """GET /channels/{thread_id}/thread-members/{user_id}."""
        bot = self._bot(request)
        thread = self._thread(request, bot)
        user = self._thread_user(request, bot)
        if user.id not in thread.thread_members:
            raise errors.unknown_member()
        return json_response(thread.thread_member_payload(user.id))

    async def join_thread(self, request: web.Request) -> web.Response:
        """PUT /channels/{thread_id}/thread-members/{user_id or @me}."""
        bot = self._bot(request)
        thread = self._thread(request, bot)
        self.server.join_thread(thread, self._thread_user(request, bot))
        return no_content()

    async def leave_thread(self, request: web.Request) -> web.Response:
        """DELETE /channels/{thread_id}/thread-members/{user_id or @me}."""
        bot = self._bot(request)
        thread = self._thread(request, bot)
        self.server.leave_thread(thread, self._thread_user(request, bot))
        return no_content()

    # --- messages ---------------------------------------------------------------------------------

    async def list_messages(self, request: web.Request) -> web.Response:
        """GET /channels/{channel_id}/messages: newest first, with before / after / around and limit."""
        bot = self._bot(request)
        channel = self._channel(request, bot)
        self._require(bot, channel, READ_MESSAGE_HISTORY)
        limit = int(request.query.get("limit", 50))
        if not 1 <= limit <= 100:
            raise invalid_form("limit", "NUMBER_TYPE_MAX", "int value should be between 1 and 100.")
        live = [m for m in channel.messages if not m.deleted and not m.ephemeral]
        if "before" in request.query:
            before = self._snowflake(request, "before")
            chosen = [m for m in live if m.id < before][-limit:]
        elif "after" in request.query:
            after = self._snowflake(request, "after")
            chosen = [m for m in live if m.id > after][:limit]
        elif "around" in request.query:
            around = self._snowflake(request, "around")
            older = [m for m in live if m.id < around][-(limit // 2) :] if limit > 1 else []
            newer = [m for m in live if m.id >= around][: limit - len(older)]
            chosen = older + newer
        else:
            chosen = live[-limit:]
        base = self.server.base_url
        return json_response([m.payload(base, bot.id, self.server.users) for m in reversed(chosen)])

    async def create_message(self, request: web.Request) -> web.Response:
        """POST /channels/{channel_id}/messages: JSON or multipart with files (MESSAGE_CREATE)."""
        bot = self._bot(request)
        channel = self._channel(request, bot)
        payload, uploads = await self._message_body(request)
        needed = SEND_MESSAGES_IN_THREADS if channel.type in THREAD_TYPES else SEND_MESSAGES
        needed |= ATTACH_FILES if uploads else 0
        needed |= SEND_POLLS if payload.get("poll") else 0
        self._require(bot, channel, needed)
        return self._message_json(self.server.post_message(channel, bot, payload, uploads), bot)

    async def get_message(self, request: web.Request) -> web.Response:
        """GET /channels/{channel_id}/messages/{message_id}."""
        bot = self._bot(request)
        channel = self._channel(request, bot)
        self._require(bot, channel, READ_MESSAGE_HISTORY)
        return self._message_json(self._message(request, channel), bot)

    async def edit_message(self, request: web.Request) -> web.Response:
        """PATCH a message the bot wrote (403 50005 for anyone else's), MESSAGE_UPDATE."""
        bot = self._bot(request)
        message = self._message(request, self._channel(request, bot))
        payload, uploads = await self._message_body(request)
        if message.author is not bot or message.webhook_id:
            raise DiscordHTTPError(
                403, errors.CANNOT_EDIT_OTHERS_MESSAGE, "Cannot edit a message authored by another user"
            )
        return self._message_json(self.server.edit_message(message, payload, uploads), bot)

    async def delete_message(self, request: web.Request) -> web.Response:
        """DELETE a message (MESSAGE_DELETE)."""
        bot = self._bot(request)
        self.server.delete_message(self._message(request, self._channel(request, bot)))
        return no_content()

    async def bulk_delete(self, request: web.Request) -> web.Response:
        """POST .../messages/bulk-delete: 2 to 100 message ids."""
        bot = self._bot(request)
        channel = self._channel(request, bot)
        ids = [int(i) for i in (await self._object(request)).get("messages") or []]
        if not 2 <= len(ids) <= 100:
            raise invalid_form("messages", "BASE_TYPE_BAD_LENGTH", "Must be between 2 and 100 in length.")
        for message_id in ids:
            message = self.server.messages.get(message_id)
            if message is not None and message.channel is channel and not message.deleted:
                self.server.delete_message(message)
        return no_content()

    # --- reactions --------------------------------------------------------------------------------

    async def add_own_reaction(self, request: web.Request) -> web.Response:
        """PUT .../reactions/{emoji}/@me (MESSAGE_REACTION_ADD, also for the bot's own reaction)."""
        bot = self._bot(request)
        message = self._message(request, self._channel(request, bot))
        self.server.set_reaction(message, bot, unquote(request.match_info["emoji"]), added=True)
        return no_content()

    async def remove_own_reaction(self, request: web.Request) -> web.Response:
        """DELETE .../reactions/{emoji}/@me."""
        bot = self._bot(request)
        message = self._message(request, self._channel(request, bot))
        self.server.set_reaction(message, bot, unquote(request.match_info["emoji"]), added=False)
        return no_content()

    async def remove_user_reaction(self, request: web.Request) -> web.Response:
        """DELETE .../reactions/{emoji}/{user_id}: remove someone else's reaction."""
        bot = self._bot(request)
        message = self._message(request, self._channel(request, bot))
        user = self.server.users.get(self._snowflake(request, "user_id"))
        if user is None:
            raise errors.unknown_user()
        self.server.set_reaction(message, user, unquote(request.match_info["emoji"]), added=False)
        return no_content()

    async def reaction_users(self, request: web.Request) -> web.Response:
        """GET .../reactions/{emoji}: the users who reacted, by id, after `after`, at most `limit`."""
        bot = self._bot(request)
        message = self._message(request, self._channel(request, bot))
        key = check_emoji(unquote(request.match_info["emoji"]))
        limit = int(request.query.get("limit", 25))
        if not 1 <= limit <= 100:
            raise invalid_form("limit", "NUMBER_TYPE_MAX", "int value should be between 1 and 100.")
        after = int(request.query.get("after", 0))
        burst = request.query.get("type") == "1"  # super reactions: the loopback has none
        reactors = [] if burst else sorted(u for u in message.reactions.get(key, []) if u > after)
        return json_response([self.server.users[u].payload() for u in reactors[:limit]])

    async def poll_answer_voters(self, request: web.Request) -> web.Response:
        """GET .../polls/{message_id}/answers/{answer_id}: who voted for an answer, by id, after `after`."""
        bot = self._bot(request)
        message = self._message(request, self._channel(request, bot))
        if message.poll is None:
            raise DiscordHTTPError(400, 520001, "This message has no poll")
        answer_id = self._snowflake(request, "answer_id")
        if answer_id not in {answer["answer_id"] for answer in message.poll["answers"]}:
            raise DiscordHTTPError(404, 10018, "Unknown Poll Answer")
        limit = int(request.query.get("limit", 25))
        if not 1 <= limit <= 100:
            raise invalid_form("limit", "NUMBER_TYPE_MAX", "int value should be between 1 and 100.")
        after = int(request.query.get("after", 0))
        voters = sorted(u for u in message.poll_votes.get(answer_id, []) if u > after)
        return json_response({"users": [self.server.users[u].payload() for u in voters[:limit]]})

    async def expire_poll(self, request: web.Request) -> web.Response:
        """POST .../polls/{message_id}/expire: end a poll the bot posted now."""
        bot = self._bot(request)
        message = self._message(request, self._channel(request, bot))
        if message.author is not bot:
            raise DiscordHTTPError(403, 50005, "Cannot execute action on a message authored by another user")
        self.server.end_poll(message)
        return self._message_json(message, bot)

    async def clear_emoji(self, request: web.Request) -> web.Response:
        """DELETE .../reactions/{emoji}: every reaction with this emoji."""
        bot = self._bot(request)
        message = self._message(request, self._channel(request, bot))
        self.server.clear_reactions(message, unquote(request.match_info["emoji"]))
        return no_content()

    async def clear_reactions(self, request: web.Request) -> web.Response:
        """DELETE .../reactions: every reaction."""
        bot = self._bot(request)
        self.server.clear_reactions(self._message(request, self._channel(request, bot)))
        return no_content()

    # --- pins -------------------------------------------------------------------------------------

    def _pinned(self, channel: Channel) -> list[tuple[str, Message]]:
        """Return (pinned_at, message) for the pins of a channel, newest pin first."""
        return [(at, self.server.messages[m]) for m, at in reversed(channel.pins.items())]

    async def list_pins(self, request: web.Request) -> web.Response:
        """GET /channels/{channel_id}/messages/pins: `{"items": [{"pinned_at", "message"}], "has_more"}`."""
        bot = self._bot(request)
        channel = self._channel(request, bot)
        limit = int(request.query.get("limit", 50))
        pinned = self._pinned(channel)
        if "before" in request.query:
            pinned = [(at, m) for at, m in pinned if at < request.query["before"]]
        base = self.server.base_url
        items = [{"pinned_at": at, "message": m.payload(base, bot.id, self.server.users)} for at, m in pinned[:limit]]
        return json_response({"items": items, "has_more": len(pinned) > limit})

    async def list_pins_legacy(self, request: web.Request) -> web.Response:
        """GET /channels/{channel_id}/pins (deprecated by Discord): a list of messages."""
        bot = self._bot(request)
        channel = self._channel(request, bot)
        base = self.server.base_url
        return json_response([m.payload(base, bot.id, self.server.users) for _, m in self._pinned(channel)])

    async def pin(self, request: web.Request) -> web.Response:
        """PUT a pin (at most 50 per channel); Discord asks for Pin Messages since 2026."""
        bot = self._bot(request)
        channel = self._channel(request, bot)
        self._require(bot, channel, PIN_MESSAGES)
        self.server.pin_message(self._message(request, channel), bot)
        return no_content()

    async def unpin(self, request: web.Request) -> web.Response:
        """DELETE a pin."""
        bot = self._bot(request)
        self.server.unpin_message(self._message(request, self._channel(request, bot)))
        return no_content()

    # --- interactions -----------------------------------------------------------------------------

    async def interaction_callback(self, request: web.Request) -> web.Response:
        """POST /interactions/{id}/{token}/callback: the first answer, with the 3-second and one-answer rules."""
        service = self.server.interaction_service
        interaction = service.for_callback(request.match_info["interaction_id"], request.match_info["token"])
        with _refusals_recorded(interaction):
            payload, uploads = await self._message_body(request)
            body = service.callback(interaction, payload, uploads)
        if request.query.get("with_response") in ("1", "true", "True"):
            return json_response(body)
        return no_content()

    def _webhook_interaction(self, request: web.Request) -> Interaction:
        return self.server.interaction_service.for_webhook(
            request.match_info["application_id"], request.match_info["token"]
        )

    async def followup(self, request: web.Request) -> web.Response:
        """POST /webhooks/{application_id}/{token}: a follow-up (204 unless `wait`)."""
        interaction = self._webhook_interaction(request)
        with _refusals_recorded(interaction):
            payload, uploads = await self._message_body(request)
            message = self.server.interaction_service.followup(interaction, payload, uploads)
        if request.query.get("wait") in ("1", "true", "True"):
            return self._message_json(message, self.server.application)
        return no_content()

    async def webhook_get(self, request: web.Request) -> web.Response:
        """GET /webhooks/{application_id}/{token}/messages/{@original or id}."""
        interaction = self._webhook_interaction(request)
        with _refusals_recorded(interaction):
            message = self.server.interaction_service.target(interaction, request.match_info["message_id"])
        return self._message_json(message, self.server.application)

    async def webhook_edit(self, request: web.Request) -> web.Response:
        """PATCH /webhooks/{application_id}/{token}/messages/{@original or id} (ends "thinking")."""
        interaction = self._webhook_interaction(request)
        with _refusals_recorded(interaction):
            message = self.server.interaction_service.target(interaction, request.match_info["message_id"])
            payload, uploads = await self._message_body(request)
            self.server.edit_message(message, payload, uploads)
        return self._message_json(message, self.server.application)

    async def webhook_delete(self, request: web.Request) -> web.Response:
        """DELETE /webhooks/{application_id}/{token}/messages/{@original or id}."""
        interaction = self._webhook_interaction(request)
        with _refusals_recorded(interaction):
            self.server.delete_message(
                self.server.interaction_service.target(interaction, request.match_info["message_id"])
            )
        return no_content()


@contextlib.contextmanager
def _refusals_recorded(interaction: Interaction) -> Iterator[None]:
    """Record a DiscordHTTPError raised for an interaction in its `refused` list, then let it propagate."""
    try:
        yield
    except DiscordHTTPError as exc:
        interaction.refused.append((exc.status, exc.code))
        interaction.signal.notify()
        raise


def check_command(where: str, command: Any) -> None:
    """Raise Discord's 400 for an application command it would refuse (names, descriptions, options)."""
    prefix = f"{where}." if where else ""
    if not isinstance(command, dict):
        raise invalid_form(where or "_root", "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    kind = command.get("type", 1)
    name = command.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        raise invalid_form(f"{prefix}name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
    if kind == 1:
        if not _COMMAND_NAME.match(name) or name != name.lower():
            raise invalid_form(f"{prefix}name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        if not 1 <= len(command.get("description") or "") <= 100:
            raise invalid_form(f"{prefix}description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        _check_options(f"{prefix}options", command.get("options") or [], depth=0)
    elif command.get("description") or command.get("options"):
        raise invalid_form(
            f"{prefix}description",
            "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
            "Context menu commands cannot have a description or options",
        )


def _check_options(where: str, options: list[dict[str, Any]], depth: int) -> None:
    if len(options) > 25:
        raise invalid_form(where, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    names: set[str] = set()
    optional_seen = False
    for index, option in enumerate(options):
        at = f"{where}.{index}"
        name = option.get("name") or ""
        if not _COMMAND_NAME.match(name) or name != name.lower():
            raise invalid_form(f"{at}.name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        if name in names:
            raise invalid_form(
                f"{at}.name", "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Option names must be unique"
            )
        names.add(name)
        if not 1 <= len(option.get("description") or "") <= 100:
            raise invalid_form(f"{at}.description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        kind = option.get("type")
        if kind in (1, 2):
            if depth >= (1 if kind == 2 else 2):
                raise invalid_form(
                    f"{at}.type", "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Subcommands nest too deep"
                )
            _check_options(f"{at}.options", option.get("options") or [], depth + 1)
            continue
        if option.get("required"):
            if optional_seen:
                raise invalid_form(
                    at,
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            optional_seen = True
        if len(option.get("choices") or []) > 25:
            raise invalid_form(f"{at}.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        if option.get("choices") and option.get("autocomplete"):
            raise invalid_form(
                f"{at}.autocomplete",
                "APPLICATION_COMMAND_OPTION_CHOICES_AUTOCOMPLETE",
                "Autocomplete cannot be set with choices",
            )
