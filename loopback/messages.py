"""Messages on the loopback Discord: Discord's limits on what is sent, and creating, editing, deleting,
reacting and pinning (each telling the bot over the gateway).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from loopback import errors
from loopback.errors import DiscordHTTPError, invalid_form
from loopback.state import (
    CHANNEL_PINNED_MESSAGE,
    DEFAULT,
    DM,
    EPHEMERAL,
    GUILD_TEXT,
    IS_COMPONENTS_V2,
    LOADING,
    REPLY,
    SENDABLE_FLAGS,
    SUPPRESS_EMBEDS,
    THREAD_TYPES,
    Channel,
    Guild,
    Message,
    StoredFile,
    User,
    attachment_url,
    walk_components,
)

if TYPE_CHECKING:
    from loopback.changes import ChangeSignal
    from loopback.clock import LoopbackClock
    from loopback.state import Snowflakes

log = logging.getLogger(__name__)

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_FILES = 10
MAX_PINS = 50
MAX_REACTION_EMOJIS = 20
EMBED_LIMITS = {"title": 256, "description": 4096}
MAX_V1_ROWS = 5
MAX_V2_COMPONENTS = 40
TEXT_CHANNEL_TYPES = frozenset({GUILD_TEXT, DM, *THREAD_TYPES})


def validate_message(payload: dict[str, Any], uploads: dict[int, StoredFile], *, creating: bool) -> None:
    """Raise Discord's error for a message body that Discord would refuse (sizes, counts, components)."""
    content = payload.get("content")
    if content is not None and not isinstance(content, str):
        raise invalid_form("content", "BASE_TYPE_STRING", "Must be a string.")
    if content and len(content) > MAX_CONTENT:
        raise invalid_form("content", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length.")
    embeds = payload.get("embeds") or []
    if len(embeds) > MAX_EMBEDS:
        raise invalid_form("embeds", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBEDS} or fewer in length.")
    total = 0
    for index, embed in enumerate(embeds):
        total += _check_embed(index, embed)
    if total > MAX_EMBED_TOTAL:
        raise invalid_form("embeds", "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}")
    if len(uploads) > MAX_FILES:
        raise invalid_form("attachments", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_FILES} or fewer in length.")
    flags = int(payload.get("flags") or 0)
    components = payload.get("components") or []
    if flags & IS_COMPONENTS_V2:
        if content or embeds:
            # Discord refuses content and embeds beside Components V2: a TextDisplay carries the text.
            raise invalid_form(
                "content" if content else "embeds",
                "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                "The 'content' and 'embeds' fields cannot be used when using MessageFlags.IS_COMPONENTS_V2",
            )
        if len(walk_components(components)) > MAX_V2_COMPONENTS:
            raise invalid_form("components", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_V2_COMPONENTS} or fewer.")
    else:
        _check_v1_components(components)
    custom_ids = [c["custom_id"] for c in walk_components(components) if c.get("custom_id") is not None]
    for custom_id in custom_ids:
        if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= 100:
            raise invalid_form("components", "BASE_TYPE_BAD_LENGTH", "custom_id must be 1 to 100 characters.")
    if len(custom_ids) != len(set(custom_ids)):
        raise invalid_form("components", "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated")
    if creating and not (
        content or embeds or uploads or components or payload.get("sticker_ids") or payload.get("poll")
    ):
        raise DiscordHTTPError(400, errors.EMPTY_MESSAGE, "Cannot send an empty message")


def _check_embed(index: int, embed: dict[str, Any]) -> int:
    """Raise for an embed over Discord's limits; return the characters it counts towards the 6000."""
    where = f"embeds.{index}"
    counted = 0
    for key, limit in EMBED_LIMITS.items():
        text = embed.get(key) or ""
        if len(text) > limit:
            raise invalid_form(f"{where}.{key}", "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
        counted += len(text)
    fields = embed.get("fields") or []
    if len(fields) > 25:
        raise invalid_form(f"{where}.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    for number, item in enumerate(fields):
        for key, limit in (("name", 256), ("value", 1024)):
            text = item.get(key)
            if not text:
                raise invalid_form(f"{where}.fields.{number}.{key}", "BASE_TYPE_REQUIRED", "This field is required")
            if len(text) > limit:
                raise invalid_form(
                    f"{where}.fields.{number}.{key}", "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."
                )
            counted += len(text)
    for key, inner, limit in (("footer", "text", 2048), ("author", "name", 256)):
        text = (embed.get(key) or {}).get(inner) or ""
        if len(text) > limit:
            raise invalid_form(f"{where}.{key}.{inner}", "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
        counted += len(text)
    return counted


def _check_v1_components(rows: list[dict[str, Any]]) -> None:
    """Raise for action rows Discord refuses: more than 5, a row of more than 5 buttons, a select not alone."""
    if len(rows) > MAX_V1_ROWS:
        raise invalid_form("components", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_V1_ROWS} or fewer in length.")
    for index, row in enumerate(rows):
        if row.get("type") != 1:
            raise invalid_form(
                f"components.{index}",
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED" if row.get("type") else "BASE_TYPE_REQUIRED",
                "Top-level components must be action rows without MessageFlags.IS_COMPONENTS_V2",
            )
        children = row.get("components") or []
        if not children or len(children) > 5:
            raise invalid_form(f"components.{index}.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5.")
        selects = [c for c in children if c.get("type") in (3, 5, 6, 7, 8)]
        if selects and len(children) > 1:
            raise invalid_form(
                f"components.{index}.components", "COMPONENT_LAYOUT_WIDTH_EXCEEDED", "A select must be alone in a row"
            )
        for number, child in enumerate(children):
            where = f"components.{index}.components.{number}"
            if child.get("type") == 2:
                _check_button(where, child)
            elif child.get("type") == 3 and not 1 <= len(child.get("options") or []) <= 25:
                raise invalid_form(f"{where}.options", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 25 in length.")


def _check_button(where: str, button: dict[str, Any]) -> None:
    if len(button.get("label") or "") > 80:
        raise invalid_form(f"{where}.label", "BASE_TYPE_MAX_LENGTH", "Must be 80 or fewer in length.")
    style = button.get("style")
    if style == 5:
        if not button.get("url") or button.get("custom_id"):
            raise invalid_form(where, "BUTTON_COMPONENT_URL_REQUIRED", "A link button needs a url and no custom_id")
    elif style != 6 and not button.get("custom_id"):
        raise invalid_form(f"{where}.custom_id", "BASE_TYPE_REQUIRED", "This field is required")


def number_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return components with Discord's numeric `id` on each (kept where given), counting depth first."""
    counter = 0

    def number(component: dict[str, Any]) -> dict[str, Any]:
        nonlocal counter
        counter += 1
        numbered = {**component, "id": component.get("id") or counter}
        if isinstance(component.get("components"), list):
            numbered["components"] = [number(c) for c in component["components"]]
        for key in ("component", "accessory"):
            if isinstance(component.get(key), dict):
                numbered[key] = number(component[key])
        return numbered

    return [number(c) for c in components]


def normalize_embeds(
    embeds: list[dict[str, Any]], attachments: list[StoredFile], base_url: str, channel_id: int
) -> list[dict[str, Any]]:
    """Return embeds as Discord stores them: `type` set, `attachment://name` URLs pointing at the files."""
    by_name = {f.filename: f for f in attachments}

    def resolve(url: str | None) -> tuple[str | None, StoredFile | None]:
        if url and url.startswith("attachment://") and url.removeprefix("attachment://") in by_name:
            stored = by_name[url.removeprefix("attachment://")]
            return attachment_url(base_url, channel_id, stored), stored
        return url, None

    normalized = []
    for embed in embeds:
        embed = {"type": "rich", **embed}
        for key in ("image", "thumbnail"):
            if isinstance(embed.get(key), dict):
                url, stored = resolve(embed[key].get("url"))
                media: dict[str, Any] = {**embed[key], "url": url}
                if stored is not None:
                    media["proxy_url"] = url
                    media["content_type"] = stored.content_type
                    if stored.image_size:
                        media["width"], media["height"] = stored.image_size
                embed[key] = media
        for key in ("footer", "author"):
            if isinstance(embed.get(key), dict) and embed[key].get("icon_url"):
                url, stored = resolve(embed[key]["icon_url"])
                embed[key] = {**embed[key], "icon_url": url}
                if stored is not None:
                    embed[key]["proxy_icon_url"] = url
        normalized.append(embed)
    return normalized


def check_emoji(key: str) -> str:
    """Return the reaction key of a unicode emoji, raising Discord's 10014 for one it would not know."""
    name, sep, _ = key.strip("<>").removeprefix("a:").partition(":")
    if sep:
        # Custom emoji: the loopback guilds have none, so like Discord it does not know this one.
        raise DiscordHTTPError(400, errors.UNKNOWN_EMOJI, "Unknown Emoji")
    if not name or name.isascii():
        # Plain text ("heart", ":heart:") is not an emoji to Discord: the bot must send the character.
        raise DiscordHTTPError(400, errors.UNKNOWN_EMOJI, "Unknown Emoji")
    return name


class MessageActions:
    """Create, edit, delete, react to and pin messages, telling the bot what happened (mixed into the server)."""

    # Provided by LoopbackDiscord.
    clock: LoopbackClock
    snowflakes: Snowflakes
    changed: ChangeSignal
    users: dict[int, User]
    guilds: dict[int, Guild]
    channels: dict[int, Channel]
    messages: dict[int, Message]
    files: dict[int, StoredFile]
    application: User | None

    @property
    def base_url(self) -> str:
        """Return the server's root URL (provided by LoopbackDiscord)."""
        raise NotImplementedError

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send an event to the bot's gateway sessions (provided by LoopbackDiscord)."""
        raise NotImplementedError

    # --- sending ----------------------------------------------------------------------------------

    def post_message(
        self,
        channel: Channel,
        author: User,
        payload: dict[str, Any],
        uploads: dict[int, StoredFile] | None = None,
        *,
        message_type: int | None = None,
        interaction: dict[str, Any] | None = None,
        command_name: str | None = None,
        webhook_id: int | None = None,
        visible_to: int | None = None,
        loading: bool = False,
    ) -> Message:
        """Create a message as `author` (validated as Discord does), tell the bot, and return it.

        `visible_to` makes an ephemeral message (only interactions may); `loading` is a deferred
        "thinking" response.
        """
        uploads = uploads or {}
        if channel.type not in TEXT_CHANNEL_TYPES:
            raise DiscordHTTPError(400, 50008, "Cannot send messages in a non-text channel")
        if channel.type == DM and author.bot:
            recipient = next((u for u in channel.recipients if u is not author), None)
            if recipient is not None and not recipient.accepts_dms:
                raise DiscordHTTPError(403, errors.CANNOT_DM_USER, "Cannot send messages to this user")
        if not loading:
            validate_message(payload, uploads, creating=True)
        self._unarchive_for_message(channel)
        reference, referenced = self._reference(channel, payload.get("message_reference"))
        message = Message(
            self.snowflakes.next(),
            channel,
            author,
            created_at=self.clock.iso(),
            type=message_type if message_type is not None else (REPLY if referenced else DEFAULT),
            interaction=interaction,
            command_name=command_name,
            webhook_id=webhook_id,
            reference=reference,
            referenced=referenced,
            nonce=payload.get("nonce"),
        )
        flags = int(payload.get("flags") or 0) & SENDABLE_FLAGS
        if visible_to is not None:
            flags |= EPHEMERAL
            message.visible_to = visible_to
        if loading:
            flags |= LOADING
        message.flags = flags
        self._apply(message, payload, uploads, editing=False)
        message.shown.append(message.content)
        self.messages[message.id] = message
        channel.messages.append(message)
        channel.total_message_sent += 1
        if not message.ephemeral:
            self.dispatch("MESSAGE_CREATE", self.message_event(message))
        self.changed.notify()
        log.debug("message %s in channel %s by %s", message.id, channel.id, author.name)
        return message

    def edit_message(
        self, message: Message, payload: dict[str, Any], uploads: dict[int, StoredFile] | None = None
    ) -> Message:
        """Edit a message (validated as Discord does), tell the bot (MESSAGE_UPDATE), and return it."""
        uploads = uploads or {}
        validate_message({"flags": message.flags, **payload}, uploads, creating=False)
        self._apply(message, payload, uploads, editing=True)
        message.shown.append(message.content)
        message.flags &= ~LOADING
        message.edited_at = self.clock.iso()
        if not message.ephemeral:
            self.dispatch("MESSAGE_UPDATE", self.message_event(message))
        self.changed.notify()
        return message

    def delete_message(self, message: Message) -> None:
        """Delete a message and tell the bot (MESSAGE_DELETE)."""
        message.deleted = True
        message.channel.pins.pop(message.id, None)
        if not message.ephemeral:
            data: dict[str, Any] = {"id": str(message.id), "channel_id": str(message.channel.id)}
            if message.channel.guild_id is not None:
                data["guild_id"] = str(message.channel.guild_id)
            self.dispatch("MESSAGE_DELETE", data)
        self.changed.notify()

    def message_event(self, message: Message) -> dict[str, Any]:
        """Return the MESSAGE_CREATE/UPDATE payload: the message plus `guild_id` and the author's `member`."""
        data = message.payload(self.base_url, None, self.users)
        guild_id = message.channel.guild_id
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
            member = self.guilds[guild_id].members.get(message.author.id)
            if member is not None and not message.webhook_id:
                data["member"] = member.payload(with_user=False)
            for mention in data["mentions"]:
                mentioned = self.guilds[guild_id].members.get(int(mention["id"]))
                if mentioned is not None:
                    mention["member"] = mentioned.payload(with_user=False)
        return data

    def _apply(
        self, message: Message, payload: dict[str, Any], uploads: dict[int, StoredFile], *, editing: bool
    ) -> None:
        if "content" in payload:
            message.content = payload["content"] or ""
        if "components" in payload:
            message.components = number_components(payload["components"] or [])
        if editing and payload.get("flags") is not None:
            # After sending only suppress-embeds can change; Components V2 can be switched on, never off.
            asked = int(payload["flags"])
            message.flags = (message.flags & ~SUPPRESS_EMBEDS) | (asked & (SUPPRESS_EMBEDS | IS_COMPONENTS_V2))
        if "attachments" in payload or uploads:
            kept = {f.id: f for f in message.attachments}
            listed = payload.get("attachments")
            if listed is None:
                # No list: new files join the old ones (what v9 did; discord.py always sends the list).
                listed = [{"id": f.id} for f in message.attachments] + [{"id": n} for n in uploads]
            attachments = []
            for item in listed:
                item_id = int(item["id"])
                stored = uploads.get(item_id) if item_id in uploads else kept.get(item_id)
                if stored is None:
                    continue
                if item_id in uploads:
                    stored.filename = item.get("filename") or stored.filename
                    stored.description = item.get("description") or stored.description
                attachments.append(stored)
            for stored in attachments:
                self.files[stored.id] = stored
            message.attachments = attachments
        if "embeds" in payload or "attachments" in payload or uploads:
            source = payload.get("embeds", message.embeds)
            message.embeds = normalize_embeds(source or [], message.attachments, self.base_url, message.channel.id)
        if "content" in payload or not editing:
            guild = self.guilds.get(message.channel.guild_id) if message.channel.guild_id else None
            message.set_mentions(guild, payload.get("allowed_mentions"))
        if not editing and payload.get("poll"):
            message.poll = self._checked_poll(payload["poll"])

    def _checked_poll(self, poll: dict[str, Any]) -> dict[str, Any]:
        """Return a poll as Discord stores it (answer ids from 1, an expiry), or raise as Discord would."""
        answers = poll.get("answers") or []
        if not 1 <= len(answers) <= 10:
            raise invalid_form("poll.answers", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 10 in length.")
        duration = int(poll.get("duration", 24))
        if not 1 <= duration <= 768:
            raise invalid_form("poll.duration", "NUMBER_TYPE_MAX", "int value should be between 1 and 768.")
        expiry = self.clock.utcnow() + timedelta(hours=duration)
        return {
            "question": {"text": str((poll.get("question") or {}).get("text", ""))[:300]},
            "answers": [
                {"answer_id": n, "poll_media": {"text": str(a.get("poll_media", {}).get("text", ""))[:55]}}
                for n, a in enumerate(answers, start=1)
            ],
            "expiry": expiry.isoformat(),
            "allow_multiselect": bool(poll.get("allow_multiselect", False)),
            "layout_type": int(poll.get("layout_type", 1)),
        }

    def set_poll_votes(self, message: Message, user: User, answer_ids: list[int]) -> None:
        """Make `answer_ids` the user's votes on a poll (MESSAGE_POLL_VOTE_ADD/REMOVE to the bot)."""
        if message.poll is None:
            raise ValueError("the message has no poll")
        if message.poll_finalized:
            raise ValueError("the poll has ended")
        known = {answer["answer_id"] for answer in message.poll["answers"]}
        if not set(answer_ids) <= known or (len(answer_ids) > 1 and not message.poll["allow_multiselect"]):
            raise ValueError(f"answers must be among {sorted(known)}, one unless the poll allows several")
        for answer_id in sorted(known):
            voters = message.poll_votes.setdefault(answer_id, [])
            wanted = answer_id in answer_ids
            if wanted == (user.id in voters):
                continue
            if wanted:
                voters.append(user.id)
            else:
                voters.remove(user.id)
            data = {
                "user_id": str(user.id),
                "channel_id": str(message.channel.id),
                "message_id": str(message.id),
                "answer_id": answer_id,
            }
            if message.channel.guild_id:
                data["guild_id"] = str(message.channel.guild_id)
            self.dispatch("MESSAGE_POLL_VOTE_ADD" if wanted else "MESSAGE_POLL_VOTE_REMOVE", data)
        self.changed.notify()

    def end_poll(self, message: Message) -> None:
        """Close a poll now (its results become final) and tell the bot the message changed."""
        if message.poll is None:
            raise DiscordHTTPError(400, 520001, "This message has no poll")
        message.poll_finalized = True
        message.poll["expiry"] = self.clock.utcnow().isoformat()
        message.edited_at = self.clock.iso()
        self.dispatch("MESSAGE_UPDATE", self.message_event(message))
        self.changed.notify()

    def _reference(
        self, channel: Channel, reference: dict[str, Any] | None
    ) -> tuple[dict[str, Any] | None, Message | None]:
        """Return the stored message_reference and the message a reply points at."""
        if not reference or reference.get("type", 0) != 0 or not reference.get("message_id"):
            return None, None
        target = self.messages.get(int(reference["message_id"]))
        if target is None or target.deleted or target.channel is not channel:
            if reference.get("fail_if_not_exists", True):
                raise invalid_form(
                    "message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                )  # Discord's answer to a reply to a message it cannot find
            return None, None
        stored: dict[str, Any] = {"type": 0, "channel_id": str(channel.id), "message_id": str(target.id)}
        if channel.guild_id is not None:
            stored["guild_id"] = str(channel.guild_id)
        return stored, target

    def _unarchive_for_message(self, channel: Channel) -> None:
        """Refuse messages in a locked thread; a message in an archived one unarchives it, as on Discord."""
        if not channel.is_thread or not channel.archived:
            return
        if channel.locked:
            raise DiscordHTTPError(400, errors.THREAD_ARCHIVED, "Thread is locked")
        channel.archived = False
        self.dispatch("THREAD_UPDATE", channel.payload())

    # --- reactions --------------------------------------------------------------------------------

    def set_reaction(self, message: Message, user: User, emoji: str, *, added: bool) -> bool:
        """Add or remove `user`'s reaction, tell the bot (MESSAGE_REACTION_ADD/REMOVE); return whether it changed."""
        key = check_emoji(emoji)
        reactors = message.reactions.get(key, [])
        if (user.id in reactors) == added:
            return False
        if added:
            if key not in message.reactions and len(message.reactions) >= MAX_REACTION_EMOJIS:
                raise DiscordHTTPError(400, errors.MAX_REACTIONS, "Maximum number of reactions reached (20)")
            message.reactions.setdefault(key, []).append(user.id)
        else:
            reactors.remove(user.id)
            if not reactors:
                del message.reactions[key]
        data: dict[str, Any] = {
            "user_id": str(user.id),
            "channel_id": str(message.channel.id),
            "message_id": str(message.id),
            "emoji": {"id": None, "name": key},
            "burst": False,
            "type": 0,
        }
        guild_id = message.channel.guild_id
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
        if added:
            member = self.guilds[guild_id].members.get(user.id) if guild_id is not None else None
            if member is not None:
                data["member"] = member.payload()
            data["message_author_id"] = str(message.author.id)
            data["burst_colors"] = []
        self.dispatch("MESSAGE_REACTION_ADD" if added else "MESSAGE_REACTION_REMOVE", data)
        self.changed.notify()
        return True

    def clear_reactions(self, message: Message, emoji: str | None = None) -> None:
        """Remove every reaction (or every one with `emoji`) and tell the bot."""
        base: dict[str, Any] = {"channel_id": str(message.channel.id), "message_id": str(message.id)}
        if message.channel.guild_id is not None:
            base["guild_id"] = str(message.channel.guild_id)
        if emoji is None:
            message.reactions.clear()
            self.dispatch("MESSAGE_REACTION_REMOVE_ALL", base)
        else:
            key = check_emoji(emoji)
            if message.reactions.pop(key, None) is not None:
                self.dispatch("MESSAGE_REACTION_REMOVE_EMOJI", {**base, "emoji": {"id": None, "name": key}})
        self.changed.notify()

    # --- pins -----------------------------------------------------------------------------------

    def pin_message(self, message: Message, by: User) -> None:
        """Pin a message, post Discord's "pinned a message" system message, and tell the bot."""
        channel = message.channel
        if message.id in channel.pins:
            return
        if len(channel.pins) >= MAX_PINS:
            raise DiscordHTTPError(400, errors.MAX_PINS, "Maximum number of pins reached (50)")
        channel.pins[message.id] = self.clock.iso()
        self._pins_changed(message)
        self._post_system(channel, by, CHANNEL_PINNED_MESSAGE, "", message)

    def unpin_message(self, message: Message) -> None:
        """Unpin a message and tell the bot."""
        if message.channel.pins.pop(message.id, None) is not None:
            self._pins_changed(message)

    def _pins_changed(self, message: Message) -> None:
        channel = message.channel
        data: dict[str, Any] = {
            "channel_id": str(channel.id),
            "last_pin_timestamp": next(reversed(channel.pins.values()), None),
        }
        if channel.guild_id is not None:
            data["guild_id"] = str(channel.guild_id)
        self.dispatch("CHANNEL_PINS_UPDATE", data)
        self.dispatch("MESSAGE_UPDATE", self.message_event(message))
        self.changed.notify()

    def _post_system(
        self, channel: Channel, author: User, message_type: int, content: str, target: Message | Channel
    ) -> Message:
        """Post a system message (pinned, thread created) that refers to a message or a thread."""
        message = Message(
            self.snowflakes.next(), channel, author, created_at=self.clock.iso(), content=content, type=message_type
        )
        if isinstance(target, Message):
            message.reference = {"type": 0, "channel_id": str(channel.id), "message_id": str(target.id)}
            message.referenced = target
        else:
            message.reference = {"type": 0, "channel_id": str(target.id)}
        if channel.guild_id is not None:
            message.reference["guild_id"] = str(channel.guild_id)
        self.messages[message.id] = message
        channel.messages.append(message)
        self.dispatch("MESSAGE_CREATE", self.message_event(message))
        self.changed.notify()
        return message
