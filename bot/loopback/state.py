"""The loopback Discord's world: users, guilds, channels, messages, as Discord shapes them."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000
# Everything but administrator, so permission checks in the bot see a plausible member.
MEMBER_PERMISSIONS = str((1 << 41) - 1 - 8)
EPHEMERAL = 1 << 6
LOADING = 1 << 7


class Snowflakes:
    """Return Discord-style ids: milliseconds since Discord's epoch, shifted, plus a counter."""

    def __init__(self) -> None:
        self._counter = itertools.count()

    def next(self) -> int:
        """Return a new, increasing snowflake."""
        millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (millis << 22) | (next(self._counter) & 0x3FFFFF)


def iso_now() -> str:
    """Return the current UTC time as Discord writes timestamps."""
    return datetime.now(UTC).isoformat()


@dataclass
class User:
    """A Discord account; bots have a token."""

    id: int
    name: str
    bot: bool = False
    token: str | None = None

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


@dataclass
class Channel:
    """A text channel or a thread (type 11, with a parent)."""

    id: int
    guild_id: int
    name: str
    type: int = 0
    parent_id: int | None = None
    owner_id: int | None = None
    messages: list[Message] = field(default_factory=list)
    pins: list[int] = field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        """Return the channel object."""
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "topic": None,
            "last_message_id": str(self.messages[-1].id) if self.messages else None,
            "rate_limit_per_user": 0,
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "flags": 0,
        }
        if self.type == 11:
            data["owner_id"] = str(self.owner_id) if self.owner_id else None
            data["thread_metadata"] = {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": iso_now(),
                "locked": False,
            }
            data["message_count"] = len(self.messages)
            data["total_message_sent"] = len(self.messages)
            data["member_count"] = 1
            del data["permission_overwrites"], data["position"]
        return data


@dataclass
class Guild:
    """A guild with its channels and members."""

    id: int
    name: str
    owner_id: int
    channels: dict[int, Channel] = field(default_factory=dict)
    members: dict[int, User] = field(default_factory=dict)
    joined_at: str = field(default_factory=iso_now)

    def member_payload(self, user: User, *, with_permissions: bool = False) -> dict[str, Any]:
        """Return the guild member object of `user`."""
        data: dict[str, Any] = {
            "user": user.payload(),
            "nick": None,
            "avatar": None,
            "roles": [],
            "joined_at": self.joined_at,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
        }
        if with_permissions:
            data["permissions"] = MEMBER_PERMISSIONS
        return data

    def create_payload(self) -> dict[str, Any]:
        """Return the GUILD_CREATE payload: the guild with its channels, threads and members."""
        everyone = {
            "id": str(self.id),
            "name": "@everyone",
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": 0,
            "permissions": MEMBER_PERMISSIONS,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [everyone],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "joined_at": self.joined_at,
            "large": False,
            "unavailable": False,
            "member_count": len(self.members),
            "members": [self.member_payload(user) for user in self.members.values()],
            "channels": [c.payload() for c in self.channels.values() if c.type != 11],
            "threads": [c.payload() for c in self.channels.values() if c.type == 11],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }


@dataclass
class StoredFile:
    """An uploaded file, served back under /attachments/."""

    id: int
    filename: str
    data: bytes
    content_type: str


@dataclass
class Message:
    """A message, with what the bot and users did to it."""

    id: int
    channel: Channel
    author: User
    content: str = ""
    attachments: list[StoredFile] = field(default_factory=list)
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    flags: int = 0
    reactions: dict[str, set[int]] = field(default_factory=dict)
    edited_at: str | None = None
    created_at: str = field(default_factory=iso_now)
    interaction: dict[str, Any] | None = None
    webhook_id: int | None = None
    deleted: bool = False

    @property
    def ephemeral(self) -> bool:
        """Return whether only the interaction's user can see the message."""
        return bool(self.flags & EPHEMERAL)

    def payload(self, base_url: str, viewer_id: int | None = None) -> dict[str, Any]:
        """Return the message object (`me` in reactions is from `viewer_id`'s side)."""
        data: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel.id),
            "author": self.author.payload(),
            "content": self.content,
            "timestamp": self.created_at,
            "edited_timestamp": self.edited_at,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [attachment_payload(base_url, self.channel.id, f) for f in self.attachments],
            "embeds": self.embeds,
            "pinned": self.id in self.channel.pins,
            "type": 20 if self.interaction else 0,
            "flags": self.flags,
            "components": self.components,
        }
        if self.reactions:
            data["reactions"] = [
                {
                    "emoji": {"id": None, "name": emoji},
                    "count": len(users),
                    "count_details": {"burst": 0, "normal": len(users)},
                    "me": viewer_id in users,
                    "me_burst": False,
                    "burst_colors": [],
                }
                for emoji, users in self.reactions.items()
                if users
            ]
        if self.webhook_id:
            data["webhook_id"] = str(self.webhook_id)
            data["application_id"] = str(self.webhook_id)
        if self.interaction:
            data["interaction_metadata"] = self.interaction
        return data


def attachment_payload(base_url: str, channel_id: int, stored: StoredFile) -> dict[str, Any]:
    """Return the attachment object of a stored file, with URLs served by the loopback server."""
    from urllib.parse import quote

    url = f"{base_url}/attachments/{channel_id}/{stored.id}/{quote(stored.filename)}"
    data: dict[str, Any] = {
        "id": str(stored.id),
        "filename": stored.filename,
        "size": len(stored.data),
        "url": url,
        "proxy_url": url,
        "content_type": stored.content_type,
    }
    if stored.content_type.startswith("image/"):
        try:
            import io

            from PIL import Image

            with Image.open(io.BytesIO(stored.data)) as image:
                data["width"], data["height"] = image.size
        except Exception:  # not a decodable image: Discord omits the size then
            pass
    return data
