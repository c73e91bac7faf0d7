"""The loopback gateway: Discord's websocket protocol (HELLO, IDENTIFY, READY, heartbeats, RESUME, dispatch).

Frames follow Discord's shape `{"op", "d", "s", "t"}`; dispatches (op 0) carry a per-session
sequence number starting at 1, and each session keeps its recent dispatches so a client that
RESUMEs gets what it missed, then RESUMED. Frames are plain JSON text: discord.py asks for
zlib-stream compression but reads text frames as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import secrets
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from loopback.server import LoopbackDiscord
    from loopback.state import User

log = logging.getLogger(__name__)

# Opcodes.
DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE_UPDATE, VOICE_STATE_UPDATE = 0, 1, 2, 3, 4
RESUME, RECONNECT, REQUEST_GUILD_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 6, 7, 8, 9, 10, 11

# Close codes.
UNKNOWN_OPCODE, DECODE_ERROR, NOT_AUTHENTICATED, AUTHENTICATION_FAILED, ALREADY_AUTHENTICATED = (
    4001,
    4002,
    4003,
    4004,
    4005,
)
INVALID_INTENTS, DISALLOWED_INTENTS = 4013, 4014

HEARTBEAT_INTERVAL_MS = 41250
REPLAY_BUFFER = 2000

# Gateway intents.
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_REACTIONS = 1 << 10
GUILD_MESSAGE_TYPING = 1 << 11
DIRECT_MESSAGES = 1 << 12
DIRECT_MESSAGE_REACTIONS = 1 << 13
GUILD_MESSAGE_POLLS = 1 << 24
DIRECT_MESSAGE_POLLS = 1 << 25
DIRECT_MESSAGE_TYPING = 1 << 14
MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT

_GUILDS_EVENTS = frozenset(
    {
        "GUILD_CREATE",
        "GUILD_UPDATE",
        "GUILD_DELETE",
        "GUILD_ROLE_CREATE",
        "GUILD_ROLE_UPDATE",
        "GUILD_ROLE_DELETE",
        "CHANNEL_CREATE",
        "CHANNEL_UPDATE",
        "CHANNEL_DELETE",
        "THREAD_CREATE",
        "THREAD_UPDATE",
        "THREAD_DELETE",
        "THREAD_LIST_SYNC",
        "THREAD_MEMBER_UPDATE",
        "THREAD_MEMBERS_UPDATE",
    }
)
_MEMBER_EVENTS = frozenset({"GUILD_MEMBER_ADD", "GUILD_MEMBER_UPDATE", "GUILD_MEMBER_REMOVE"})
_MESSAGE_EVENTS = frozenset({"MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE", "MESSAGE_DELETE_BULK"})
_REACTION_EVENTS = frozenset(
    {
        "MESSAGE_REACTION_ADD",
        "MESSAGE_REACTION_REMOVE",
        "MESSAGE_REACTION_REMOVE_ALL",
        "MESSAGE_REACTION_REMOVE_EMOJI",
    }
)


def intent_for(event: str, data: dict[str, Any]) -> int:
    """Return the intent a session needs to receive `event` (0: every session gets it)."""
    in_guild = "guild_id" in data
    if event in _GUILDS_EVENTS:
        return GUILDS
    if event in _MEMBER_EVENTS:
        return GUILD_MEMBERS
    if event in _MESSAGE_EVENTS:
        return GUILD_MESSAGES if in_guild else DIRECT_MESSAGES
    if event in _REACTION_EVENTS:
        return GUILD_MESSAGE_REACTIONS if in_guild else DIRECT_MESSAGE_REACTIONS
    if event == "TYPING_START":
        return GUILD_MESSAGE_TYPING if in_guild else DIRECT_MESSAGE_TYPING
    if event in ("MESSAGE_POLL_VOTE_ADD", "MESSAGE_POLL_VOTE_REMOVE"):
        return GUILD_MESSAGE_POLLS if in_guild else DIRECT_MESSAGE_POLLS
    if event == "CHANNEL_PINS_UPDATE":
        return GUILDS if in_guild else DIRECT_MESSAGES
    return 0


def without_content(data: dict[str, Any], bot_id: int) -> dict[str, Any]:
    """Return a message event as a bot without the message-content intent sees it.

    Discord empties content, embeds, attachments, components and polls unless the bot wrote the
    message, is mentioned in it, or it is a DM.
    """
    author_id = int((data.get("author") or {}).get("id", 0))
    mentioned = any(int(m["id"]) == bot_id for m in data.get("mentions") or [])
    if "guild_id" not in data or author_id == bot_id or mentioned or "content" not in data:
        return data
    data = {**data, "content": "", "embeds": [], "attachments": [], "components": []}
    data.pop("poll", None)
    return data


class GatewaySession:
    """One identified bot session: its sequence, its replay buffer, and the websocket it is attached to.

    `on_sent(session, event)` is called once a dispatch has been written to the websocket.
    """

    def __init__(
        self,
        user: User,
        intents: int,
        shard: list[int] | None,
        on_sent: Callable[[GatewaySession, str], None] | None = None,
    ) -> None:
        self.id = secrets.token_hex(16)
        self.user = user
        self.intents = intents
        self.shard = shard
        self.sequence = 0
        self.buffer: deque[tuple[int, str, str]] = deque(maxlen=REPLAY_BUFFER)  # (sequence, event, frame)
        self.ws: web.WebSocketResponse | None = None
        self._on_sent = on_sent
        self._outbox: asyncio.Queue[tuple[str | None, str]] | None = None  # (event or None, frame)
        self._writer: asyncio.Task[None] | None = None
        self.unsent_guilds: list[int] = []  # listed unavailable in READY, GUILD_CREATE not sent yet
        self.held_guilds: asyncio.Task[None] | None = None  # the timer guild_create_delay holds them with

    @property
    def connected(self) -> bool:
        """Return whether a websocket is attached and open."""
        return self.ws is not None and not self.ws.closed

    def deliver(self, event: str, data: dict[str, Any]) -> None:
        """Queue a dispatch (op 0) with the next sequence number, if this session's intents want it."""
        needed = intent_for(event, data)
        if needed and not self.intents & needed:
            return
        if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE") and not self.intents & MESSAGE_CONTENT:
            data = without_content(data, self.user.id)
        self.sequence += 1
        frame = json.dumps({"op": DISPATCH, "d": data, "s": self.sequence, "t": event})
        self.buffer.append((self.sequence, event, frame))
        if self._outbox is not None:
            self._outbox.put_nowait((event, frame))

    def send_op(self, op: int, data: Any) -> None:
        """Queue a non-dispatch frame (no sequence number) behind the dispatches already queued."""
        if self._outbox is not None:
            self._outbox.put_nowait((None, json.dumps({"op": op, "d": data, "s": None, "t": None})))

    def can_replay_after(self, sequence: int) -> bool:
        """Return whether every dispatch after `sequence` is still in the replay buffer."""
        return sequence <= self.sequence and (not self.buffer or self.buffer[0][0] <= sequence + 1)

    def attach(self, ws: web.WebSocketResponse, replay_after: int) -> None:
        """Send this session's frames to `ws`, starting with the dispatches after `replay_after`."""
        self._outbox = asyncio.Queue()
        for sequence, event, frame in self.buffer:
            if sequence > replay_after:
                self._outbox.put_nowait((event, frame))
        self.ws = ws
        self._writer = asyncio.create_task(self._write(ws, self._outbox), name=f"loopback-gateway-{self.id[:8]}")

    async def detach(self) -> None:
        """Stop sending to the websocket; dispatches keep going to the replay buffer for a RESUME."""
        writer, self._writer, self._outbox, self.ws = self._writer, None, None, None
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _write(self, ws: web.WebSocketResponse, outbox: asyncio.Queue[tuple[str | None, str]]) -> None:
        try:
            while True:
                event, frame = await outbox.get()
                await ws.send_str(frame)
                if event is not None and self._on_sent is not None:
                    self._on_sent(self, event)
        except (ConnectionError, RuntimeError) as exc:
            log.debug("gateway session %s: writing stopped (%s)", self.id[:8], exc)


class Gateway:
    """The websocket endpoint and every bot session, connected or waiting to RESUME."""

    def __init__(self, server: LoopbackDiscord) -> None:
        self.server = server
        self.sessions: dict[str, GatewaySession] = {}
        self.ready_sent: list[GatewaySession] = []  # one entry per READY written to a websocket, in order

    @property
    def connected(self) -> list[GatewaySession]:
        """Return the sessions with an open websocket."""
        return [s for s in self.sessions.values() if s.connected]

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send an event to every bot session (sessions that are away get it when they RESUME)."""
        for session in list(self.sessions.values()):
            session.deliver(event, data)

    async def request_reconnect(self) -> None:
        """Ask every connected client to reconnect and RESUME (op 7), as Discord does before maintenance."""
        for session in self.connected:
            session.send_op(RECONNECT, None)

    async def drop_connections(self, code: int = 4000) -> None:
        """Close every connected websocket as a network failure would; the sessions stay resumable."""
        for session in self.connected:
            ws = session.ws
            await session.detach()  # first, so what happens from now on waits in the replay buffer
            if ws is not None:
                await ws.close(code=code, message=b"loopback Discord dropped the connection")

    def release_guild_creates(self) -> None:
        """Send every held-back GUILD_CREATE now (see `LoopbackDiscord.guild_create_delay`)."""
        for session in list(self.sessions.values()):
            if session.held_guilds is not None:
                session.held_guilds.cancel()
                session.held_guilds = None
                self._send_guilds(session)

    async def close_all(self) -> None:
        """Close every websocket (going away), for shutdown."""
        for session in list(self.sessions.values()):
            if session.held_guilds is not None:
                session.held_guilds.cancel()
                session.held_guilds = None
            if session.ws is not None and not session.ws.closed:
                await session.ws.close(code=1001, message=b"loopback Discord stopping")
            await session.detach()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """Serve one gateway connection: HELLO, then IDENTIFY or RESUME, heartbeats and requests."""
        ws = web.WebSocketResponse(heartbeat=None, max_msg_size=0)
        await ws.prepare(request)
        await ws.send_str(
            json.dumps({"op": HELLO, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}, "s": None, "t": None})
        )
        session: GatewaySession | None = None
        try:
            async for frame in ws:
                if frame.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                try:
                    message = json.loads(frame.data)
                    op = message["op"]
                    data = message.get("d")
                except (ValueError, TypeError, KeyError):
                    await ws.close(code=DECODE_ERROR, message=b"Error while decoding payload.")
                    break
                if op == HEARTBEAT:
                    if session is not None and session.ws is ws:
                        session.send_op(HEARTBEAT_ACK, None)  # behind queued dispatches, never beside them
                    else:
                        await ws.send_str(json.dumps({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None}))
                elif op in (IDENTIFY, RESUME):
                    if session is not None:
                        await ws.close(code=ALREADY_AUTHENTICATED, message=b"Already authenticated.")
                        break
                    session = await (self._identify(ws, data) if op == IDENTIFY else self._resume(ws, data))
                    if ws.closed:
                        break
                elif session is None:
                    await ws.close(code=NOT_AUTHENTICATED, message=b"Not authenticated.")
                    break
                elif op == REQUEST_GUILD_MEMBERS:
                    self._members_chunk(session, data or {})
                elif op in (PRESENCE_UPDATE, VOICE_STATE_UPDATE):
                    pass  # presence and voice have no effect here
                else:
                    await ws.close(code=UNKNOWN_OPCODE, message=b"Unknown opcode.")
                    break
        finally:
            if session is not None and session.ws is ws:
                await session.detach()
            self.server.changed.notify()
        return ws

    async def _identify(self, ws: web.WebSocketResponse, data: Any) -> GatewaySession | None:
        data = data if isinstance(data, dict) else {}
        user = self.server.bot_for_token(str(data.get("token") or ""))
        if user is None:
            log.info("gateway: IDENTIFY with an unknown token refused (4004)")
            await ws.close(code=AUTHENTICATION_FAILED, message=b"Authentication failed.")
            return None
        intents = data.get("intents")
        if not isinstance(intents, int) or isinstance(intents, bool) or intents < 0:
            await ws.close(code=INVALID_INTENTS, message=b"Invalid intent(s).")
            return None
        if intents & PRIVILEGED_INTENTS & ~self.server.allowed_privileged_intents:
            log.info("gateway: IDENTIFY asked for privileged intents the application lacks (4014)")
            await ws.close(code=DISALLOWED_INTENTS, message=b"Disallowed intent(s).")
            return None
        # A fresh IDENTIFY replaces this bot's sessions that went away without resuming.
        for old in [s for s in self.sessions.values() if s.user is user and not s.connected]:
            if old.held_guilds is not None:
                old.held_guilds.cancel()
            del self.sessions[old.id]
        shard = data.get("shard")
        session = GatewaySession(user, intents, shard if isinstance(shard, list) else None, self._sent)
        self.sessions[session.id] = session
        session.attach(ws, replay_after=0)
        session.unsent_guilds = [g.id for g in self.server.guilds.values() if user.id in g.members]
        session.deliver("READY", self._ready_payload(session))
        delay = self.server.guild_create_delay
        if delay > 0:
            # READY lists the guilds as unavailable; Discord streams their GUILD_CREATEs after it,
            # and interactions that arrive meanwhile reach the bot before its on_ready.
            session.held_guilds = asyncio.create_task(
                self._send_guilds_later(session, delay), name=f"loopback-guilds-{session.id[:8]}"
            )
        else:
            self._send_guilds(session)
        log.info("gateway: %s identified (session %s, intents %d)", user.name, session.id[:8], intents)
        self.server.changed.notify()
        return session

    async def _resume(self, ws: web.WebSocketResponse, data: Any) -> GatewaySession | None:
        data = data if isinstance(data, dict) else {}
        user = self.server.bot_for_token(str(data.get("token") or ""))
        if user is None:
            await ws.close(code=AUTHENTICATION_FAILED, message=b"Authentication failed.")
            return None
        session = self.sessions.get(str(data.get("session_id")))
        sequence = data.get("seq") if isinstance(data.get("seq"), int) else 0
        if session is None or session.user is not user or session.connected or not session.can_replay_after(sequence):
            # Not resumable: the client must IDENTIFY again (discord.py does so on `d: false`).
            await ws.send_str(json.dumps({"op": INVALID_SESSION, "d": False, "s": None, "t": None}))
            return None
        session.attach(ws, replay_after=sequence)
        session.deliver("RESUMED", {"_trace": ["loopback"]})
        log.info("gateway: session %s resumed after sequence %d", session.id[:8], sequence)
        self.server.changed.notify()
        return session

    def _sent(self, session: GatewaySession, event: str) -> None:
        if event == "READY":
            self.ready_sent.append(session)
            self.server.changed.notify()

    def _send_guilds(self, session: GatewaySession) -> None:
        """Deliver GUILD_CREATE, as the guild is now, for each guild READY listed that the bot is still in."""
        unsent, session.unsent_guilds = session.unsent_guilds, []
        for guild_id in unsent:
            guild = self.server.guilds.get(guild_id)
            if guild is not None and session.user.id in guild.members:
                session.deliver("GUILD_CREATE", guild.create_payload(session.user.id))
        self.server.changed.notify()

    async def _send_guilds_later(self, session: GatewaySession, delay: float) -> None:
        if math.isinf(delay):
            await asyncio.get_running_loop().create_future()  # never done: only release_guild_creates() ends it
        else:
            await asyncio.sleep(delay)  # Discord's own pace, not a test's wait
        session.held_guilds = None
        self._send_guilds(session)

    def _ready_payload(self, session: GatewaySession) -> dict[str, Any]:
        server = self.server
        assert server.application is not None
        data: dict[str, Any] = {
            "v": 10,
            "user": {**session.user.payload(), "verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": str(guild_id), "unavailable": True} for guild_id in session.unsent_guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": server.gateway_url,
            "application": {"id": str(server.application.id), "flags": server.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "auth": {},
            "_trace": ["loopback"],
        }
        if session.shard is not None:
            data["shard"] = session.shard
        return data

    def _members_chunk(self, session: GatewaySession, data: dict[str, Any]) -> None:
        """Answer REQUEST_GUILD_MEMBERS with one GUILD_MEMBERS_CHUNK."""
        guild = self.server.guilds.get(int(data.get("guild_id") or 0))
        if guild is None:
            return
        wanted = {int(u) for u in data.get("user_ids") or []}
        query = str(data.get("query") or "").lower()
        limit = int(data.get("limit") or 0) or len(guild.members)
        members = [
            m
            for m in guild.members.values()
            if (m.user.id in wanted if wanted else m.user.name.lower().startswith(query))
        ][:limit]
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": [m.payload() for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if wanted:
            chunk["not_found"] = [str(u) for u in wanted - {m.user.id for m in members}]
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        session.deliver("GUILD_MEMBERS_CHUNK", chunk)
