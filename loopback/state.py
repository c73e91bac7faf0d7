"""The loopback Discord's world: users, guilds, roles, channels, threads, messages, as Discord shapes them.

Every `payload()` returns the JSON object Discord's API documents for that resource, with
snowflakes as strings; the REST routes and gateway events are built from these.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from loopback.clock import LoopbackClock

DISCORD_EPOCH_MS = 1_420_070_400_000

# Permission bits (https://discord.com/developers/docs/topics/permissions).
ADMINISTRATOR = 1 << 3
ALL_PERMISSIONS = (1 << 52) - 1
# What a new guild's @everyone role allows: talk, react, attach, use commands and threads.
DEFAULT_EVERYONE_PERMISSIONS = (
    (1 << 0)  # create instant invite
    | (1 << 6)  # add reactions
    | (1 << 9)  # stream
    | (1 << 10)  # view channel
    | (1 << 11)  # send messages
    | (1 << 14)  # embed links
    | (1 << 15)  # attach files
    | (1 << 16)  # read message history
    | (1 << 18)  # use external emojis
    | (1 << 20)  # connect
    | (1 << 21)  # speak
    | (1 << 25)  # use voice activity
    | (1 << 26)  # change nickname
    | (1 << 31)  # use application commands
    | (1 << 35)  # create public threads
    | (1 << 36)  # create private threads
    | (1 << 37)  # use external stickers
    | (1 << 38)  # send messages in threads
    | (1 << 46)  # send voice messages
    | (1 << 49)  # send polls
)
# The bot's managed role: everything but administrator, so permission bugs are not hidden by it.
BOT_PERMISSIONS = ALL_PERMISSIONS & ~ADMINISTRATOR

# The permission bits the loopback checks on the bot's requests, as Discord names them.
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
SEND_MESSAGES_IN_THREADS = 1 << 38
SEND_POLLS = 1 << 49
PIN_MESSAGES = 1 << 51

# Channel types.
GUILD_TEXT, DM, GUILD_CATEGORY, PUBLIC_THREAD, PRIVATE_THREAD = 0, 1, 4, 11, 12
THREAD_TYPES = frozenset({10, PUBLIC_THREAD, PRIVATE_THREAD})

# Message types.
DEFAULT, CHANNEL_PINNED_MESSAGE, THREAD_CREATED, REPLY, CHAT_INPUT_COMMAND, CONTEXT_MENU_COMMAND = 0, 6, 18, 19, 20, 23

# Message flags.
HAS_THREAD = 1 << 5
EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_EMBEDS = 1 << 2
SUPPRESS_NOTIFICATIONS = 1 << 12
IS_COMPONENTS_V2 = 1 << 15
# Flags a bot may set when sending (ephemeral only through interactions).
SENDABLE_FLAGS = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


class Snowflakes:
    """Return Discord-style ids: milliseconds since Discord's epoch in the top 42 bits, always increasing."""

    def __init__(self, clock: LoopbackClock) -> None:
        self._clock = clock
        self._last = 0

    def next(self) -> int:
        """Return a new snowflake, later than every one before it."""
        candidate = (int(self._clock.time() * 1000) - DISCORD_EPOCH_MS) << 22
        # More than one id per millisecond: the low 22 bits count up, as Discord's increment does.
        self._last = max(candidate, self._last + 1)
        return self._last


def snowflake_ms(snowflake: int) -> int:
    """Return the Unix time in milliseconds at which a snowflake was made."""
    return (snowflake >> 22) + DISCORD_EPOCH_MS


@dataclass(eq=False)
class User:
    """A Discord account; a bot user also has its application's token."""

    id: int
    name: str
    bot: bool = False
    token: str | None = field(default=None, repr=False)
    accepts_dms: bool = True

    def payload(self) -> dict[str, Any]:
        """Return the user object."""
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": None if self.bot else self.name,
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
            "flags": 0,
            "primary_guild": None,
        }


@dataclass(eq=False)
class Role:
    """A guild role; the @everyone role has the guild's id."""

    id: int
    guild_id: int
    name: str
    permissions: int
    position: int = 0
    bot_id: int | None = None  # set on a bot's managed role

    def payload(self) -> dict[str, Any]:
        """Return the role object."""
        data: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": self.bot_id is not None,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclass(eq=False)
class Member:
    """A user's membership of a guild: roles (besides @everyone), nickname, join time."""

    user: User
    guild_id: int
    joined_at: str
    roles: list[int] = field(default_factory=list)
    nick: str | None = None

    def payload(self, *, with_user: bool = True) -> dict[str, Any]:
        """Return the guild member object (without `user` where Discord nests it beside one)."""
        data: dict[str, Any] = {
            "avatar": None,
            "banner": None,
            "communication_disabled_until": None,
            "flags": 0,
            "joined_at": self.joined_at,
            "nick": self.nick,
            "pending": False,
            "premium_since": None,
            "roles": [str(r) for r in self.roles],
            "mute": False,
            "deaf": False,
        }
        if with_user:
            data["user"] = self.user.payload()
        return data


@dataclass(eq=False)
class Guild:
    """A guild with its roles, members and channels (threads included)."""

    id: int
    name: str
    owner_id: int
    joined_at: str
    channels: dict[int, Channel] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    roles: dict[int, Role] = field(default_factory=dict)

    @property
    def everyone(self) -> Role:
        """Return the @everyone role."""
        return self.roles[self.id]

    def permissions_of(self, user_id: int) -> int:
        """Return a member's guild permissions: owner and administrators have all of them."""
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        member = self.members.get(user_id)
        value = self.everyone.permissions
        for role_id in member.roles if member else []:
            if role_id in self.roles:
                value |= self.roles[role_id].permissions
        return ALL_PERMISSIONS if value & ADMINISTRATOR else value

    def payload(self) -> dict[str, Any]:
        """Return the guild object as GET /guilds/{id} answers it."""
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "description": None,
            "home_header": None,
            "splash": None,
            "discovery_splash": None,
            "features": [],
            "banner": None,
            "owner_id": str(self.owner_id),
            "application_id": None,
            "region": "deprecated",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "widget_enabled": False,
            "widget_channel_id": None,
            "verification_level": 0,
            "roles": [r.payload() for r in self.roles.values()],
            "default_message_notifications": 0,
            "mfa_level": 0,
            "explicit_content_filter": 0,
            "max_presences": None,
            "max_members": 500000,
            "max_stage_video_channel_users": 50,
            "max_video_channel_users": 25,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "rules_channel_id": None,
            "safety_alerts_channel_id": None,
            "public_updates_channel_id": None,
            "premium_progress_bar_enabled": False,
            "nsfw": False,
            "nsfw_level": 0,
            "emojis": [],
            "stickers": [],
            "incidents_data": None,
        }

    def create_payload(self, viewer_id: int) -> dict[str, Any]:
        """Return the GUILD_CREATE event: the guild with its channels, threads, members and roles."""
        live = [c for c in self.channels.values() if not c.deleted]
        return {
            **self.payload(),
            "joined_at": self.joined_at,
            "large": False,
            "unavailable": False,
            "member_count": len(self.members),
            "members": [m.payload() for m in self.members.values()],
            "channels": [c.payload(viewer_id) for c in live if c.type not in THREAD_TYPES],
            "threads": [c.payload(viewer_id) for c in live if c.type in THREAD_TYPES and not c.archived],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }


@dataclass(eq=False)
class Channel:
    """A guild text channel or category, a thread (with a parent), or a DM (no guild)."""

    id: int
    guild_id: int | None
    name: str
    created_at: str
    type: int = GUILD_TEXT
    parent_id: int | None = None
    topic: str | None = None
    position: int = 0
    owner_id: int | None = None  # threads
    archived: bool = False  # threads
    locked: bool = False  # threads
    auto_archive_duration: int = 1440  # threads, minutes
    thread_members: dict[int, str] = field(default_factory=dict)  # threads: user id -> join timestamp
    recipients: list[User] = field(default_factory=list)  # DMs
    messages: list[Message] = field(default_factory=list)
    pins: dict[int, str] = field(default_factory=dict)  # message id -> pinned_at, in pin order
    total_message_sent: int = 0
    deleted: bool = False

    @property
    def is_thread(self) -> bool:
        """Return whether this channel is a thread."""
        return self.type in THREAD_TYPES

    def payload(self, viewer_id: int | None = None) -> dict[str, Any]:
        """Return the channel object (a thread's `member` is `viewer_id`'s membership)."""
        live = [m for m in self.messages if not m.deleted]
        last_message_id = str(live[-1].id) if live else None
        last_pin = next(reversed(self.pins.values()), None)
        if self.type == DM:
            return {
                "id": str(self.id),
                "type": DM,
                "last_message_id": last_message_id,
                "flags": 0,
                "last_pin_timestamp": last_pin,
                "recipients": [u.payload() for u in self.recipients],
            }
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "last_message_id": last_message_id,
            "last_pin_timestamp": last_pin,
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }
        if self.is_thread:
            metadata: dict[str, Any] = {
                "archived": self.archived,
                "archive_timestamp": self.created_at,
                "auto_archive_duration": self.auto_archive_duration,
                "locked": self.locked,
                "create_timestamp": self.created_at,
            }
            if self.type == PRIVATE_THREAD:
                metadata["invitable"] = True
            data.update(
                owner_id=str(self.owner_id),
                thread_metadata=metadata,
                message_count=len(live),
                total_message_sent=self.total_message_sent,
                member_count=min(len(self.thread_members), 50),
            )
            if viewer_id in self.thread_members:
                data["member"] = self.thread_member_payload(viewer_id)
        else:
            data.update(position=self.position, permission_overwrites=[], nsfw=False)
            if self.type == GUILD_TEXT:
                data.update(topic=self.topic, default_auto_archive_duration=1440)
        return data

    def thread_member_payload(self, user_id: int) -> dict[str, Any]:
        """Return the thread member object of a user who joined this thread."""
        return {"id": str(self.id), "user_id": str(user_id), "join_timestamp": self.thread_members[user_id], "flags": 0}


@dataclass(eq=False)
class StoredFile:
    """An uploaded file, served back under /attachments/."""

    id: int
    filename: str
    data: bytes
    content_type: str
    description: str | None = None

    @cached_property
    def image_size(self) -> tuple[int, int] | None:
        """Return (width, height) when the file is an image Pillow can read, else None."""
        if not self.content_type.startswith("image/"):
            return None
        try:
            from PIL import Image

            with Image.open(io.BytesIO(self.data)) as image:
                return image.size
        except Exception:  # not a decodable image: Discord leaves the size out then
            return None


def attachment_url(base_url: str, channel_id: int, stored: StoredFile) -> str:
    """Return the URL the loopback serves a stored file at (Discord's CDN path shape)."""
    return f"{base_url}/attachments/{channel_id}/{stored.id}/{quote(stored.filename)}"


def attachment_payload(
    base_url: str, channel_id: int, stored: StoredFile, *, ephemeral: bool = False
) -> dict[str, Any]:
    """Return the attachment object of a stored file, with URLs served by the loopback server."""
    url = attachment_url(base_url, channel_id, stored)
    data: dict[str, Any] = {
        "id": str(stored.id),
        "filename": stored.filename,
        "size": len(stored.data),
        "url": url,
        "proxy_url": url,
        "content_type": stored.content_type,
    }
    if stored.description:
        data["description"] = stored.description
    if stored.image_size:
        data["width"], data["height"] = stored.image_size
    if ephemeral:
        data["ephemeral"] = True
    return data


def emoji_payload(key: str) -> dict[str, Any]:
    """Return the partial emoji object of a reaction key: unicode, or "name:id" for a custom emoji."""
    name, _, emoji_id = key.partition(":")
    return {"id": emoji_id or None, "name": name}


@dataclass(eq=False)
class Message:
    """A message, with what the bot and users did to it."""

    id: int
    channel: Channel
    author: User
    created_at: str
    content: str = ""
    type: int = DEFAULT
    attachments: list[StoredFile] = field(default_factory=list)
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    flags: int = 0
    reactions: dict[str, list[int]] = field(default_factory=dict)  # emoji key -> user ids, in order
    edited_at: str | None = None
    interaction: dict[str, Any] | None = None  # interaction_metadata
    command_name: str | None = None  # the slash command this message answers (legacy `interaction`)
    webhook_id: int | None = None
    reference: dict[str, Any] | None = None  # message_reference
    referenced: Message | None = None
    mention_ids: list[int] = field(default_factory=list)
    mention_role_ids: list[int] = field(default_factory=list)
    nonce: str | int | None = None
    visible_to: int | None = None  # ephemeral messages: the only user who sees them
    thread: Channel | None = None  # the thread started from this message
    deleted: bool = False
    # A native poll: its question, answers, expiry and layout as Discord shows them; votes by answer id.
    poll: dict[str, Any] | None = None
    poll_votes: dict[int, list[int]] = field(default_factory=dict)
    poll_finalized: bool = False
    # Every text the message has shown, in order (its creation, then each edit): what a watcher saw.
    shown: list[str] = field(default_factory=list)

    def custom_ids(self) -> list[str]:
        """Return the custom ids of the message's components (buttons, selects), row by row."""
        return [component["custom_id"] for row in self.components for component in row.get("components", [])]

    def custom_id(self, prefix: str) -> str:
        """Return the first of the message's custom ids that starts with `prefix`."""
        return next(cid for cid in self.custom_ids() if cid.startswith(prefix))

    @property
    def ephemeral(self) -> bool:
        """Return whether only the interaction's user can see the message."""
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        """Return whether this is a deferred response still "thinking"."""
        return bool(self.flags & LOADING)

    def find_component(self, custom_id: str) -> dict[str, Any] | None:
        """Return the component with `custom_id`, searching rows, containers, sections and accessories."""
        return find_component(self.components, custom_id)

    def payload(
        self, base_url: str, viewer_id: int | None = None, users: dict[int, User] | None = None
    ) -> dict[str, Any]:
        """Return the message object; `me` in reactions is from `viewer_id`'s side, `users` resolves mentions."""
        channel_id = self.channel.id
        data: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(channel_id),
            "author": self.author.payload(),
            "content": self.content,
            "timestamp": self.created_at,
            "edited_timestamp": self.edited_at,
            "tts": False,
            "mention_everyone": False,
            "mentions": [users[u].payload() for u in self.mention_ids if users and u in users],
            "mention_roles": [str(r) for r in self.mention_role_ids],
            "attachments": [
                attachment_payload(base_url, channel_id, f, ephemeral=self.ephemeral) for f in self.attachments
            ],
            "embeds": self.embeds,
            "pinned": self.id in self.channel.pins,
            "type": self.type,
            "flags": self.flags | (HAS_THREAD if self.thread else 0),
            "components": self.components,
        }
        if self.poll is not None:
            data["poll"] = {
                **self.poll,
                "results": {
                    "is_finalized": self.poll_finalized,
                    "answer_counts": [
                        {
                            "id": answer["answer_id"],
                            "count": len(self.poll_votes.get(answer["answer_id"], [])),
                            "me_voted": viewer_id in self.poll_votes.get(answer["answer_id"], []),
                        }
                        for answer in self.poll["answers"]
                    ],
                },
            }
        if self.nonce is not None:
            data["nonce"] = self.nonce
        if self.reactions:
            data["reactions"] = [
                {
                    "emoji": emoji_payload(key),
                    "count": len(reactors),
                    "count_details": {"burst": 0, "normal": len(reactors)},
                    "me": viewer_id in reactors,
                    "me_burst": False,
                    "burst_colors": [],
                }
                for key, reactors in self.reactions.items()
                if reactors
            ]
        if self.webhook_id:
            data["webhook_id"] = str(self.webhook_id)
            data["application_id"] = str(self.webhook_id)
        if self.interaction:
            data["interaction_metadata"] = self.interaction
            if self.command_name:
                data["interaction"] = {
                    "id": self.interaction["id"],
                    "type": self.interaction["type"],
                    "name": self.command_name,
                    "user": self.interaction["user"],
                }
        if self.reference:
            data["message_reference"] = self.reference
            if self.type in (REPLY, CHANNEL_PINNED_MESSAGE):
                ref = self.referenced
                data["referenced_message"] = (
                    ref.payload(base_url, viewer_id, users) if ref is not None and not ref.deleted else None
                )
                if data["referenced_message"]:
                    data["referenced_message"].pop("referenced_message", None)
        if self.thread is not None and not self.thread.deleted:
            data["thread"] = self.thread.payload(viewer_id)
        return data

    def set_mentions(self, guild: Guild | None, allowed: dict[str, Any] | None) -> None:
        """Parse `<@id>` and `<@&id>` in the content into mentions, as `allowed_mentions` permits."""
        users = [int(u) for u in _USER_MENTION.findall(self.content)]
        roles = [int(r) for r in _ROLE_MENTION.findall(self.content)]
        if allowed is not None:
            parse = allowed.get("parse") or []
            allowed_users = {int(u) for u in allowed.get("users") or []}
            allowed_roles = {int(r) for r in allowed.get("roles") or []}
            users = [u for u in users if "users" in parse or u in allowed_users]
            roles = [r for r in roles if "roles" in parse or r in allowed_roles]
            if self.referenced is not None and allowed.get("replied_user"):
                users.append(self.referenced.author.id)
        elif self.referenced is not None:
            users.append(self.referenced.author.id)  # replies ping their author unless told not to
        self.mention_ids = list(dict.fromkeys(users))
        self.mention_role_ids = [r for r in dict.fromkeys(roles) if guild is not None and r in guild.roles]


def walk_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return every component in a tree, depth first: rows, containers, sections, labels and leaves."""
    found: list[dict[str, Any]] = []
    for component in components:
        found.append(component)
        children = list(component.get("components") or [])
        for key in ("component", "accessory"):
            if isinstance(component.get(key), dict):
                children.append(component[key])
        found.extend(walk_components(children))
    return found


def find_component(components: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
    """Return the component with `custom_id` anywhere in a tree, or None."""
    return next((c for c in walk_components(components) if c.get("custom_id") == custom_id), None)
