"""The test-facing driver: act on the loopback Discord as one user, the way the Discord client would.

Slash commands are checked against what the bot registered (name, subcommands, option names,
types, required options, choices, permissions), components against the message they are on
(custom id, disabled, select options and counts), and modals against the modal the bot sent:
a typo in a test fails loudly here instead of as a silent no-op in the bot.
"""

from __future__ import annotations

import mimetypes
from typing import TYPE_CHECKING, Any

from loopback.interactions import (
    APPLICATION_COMMAND,
    APPLICATION_COMMAND_AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    Interaction,
)
from loopback.state import DM, Channel, Message, Role, StoredFile, User, attachment_payload

if TYPE_CHECKING:
    from loopback.server import LoopbackDiscord

# Application command option types (Discord's numbers).
SUB_COMMAND, SUB_COMMAND_GROUP, STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = range(
    1, 12
)
# Command types.
CHAT_INPUT, USER_COMMAND, MESSAGE_COMMAND = 1, 2, 3
# Select menu component types and what their values are.
STRING_SELECT, USER_SELECT, ROLE_SELECT, MENTIONABLE_SELECT, CHANNEL_SELECT = 3, 5, 6, 7, 8

FileInput = tuple[str, bytes]  # (filename, data)
MessageRef = Message | int


class CommandNotFound(LookupError):
    """The bot has not registered that command, subcommand or option."""


class CommandUnavailable(PermissionError):
    """Discord would not offer this command to this user here (permissions, contexts)."""


class OptionError(ValueError):
    """An option value Discord's client would not let the user send (type, choices, range, missing)."""


class UserDriver:
    """Send slash commands, clicks, selects, modals, reactions and messages as one user."""

    def __init__(self, server: LoopbackDiscord, user: User) -> None:
        self.server = server
        self.user = user

    @property
    def id(self) -> int:
        """Return the user's id."""
        return self.user.id

    # --- application commands ---------------------------------------------------------------------

    async def slash(
        self,
        channel_id: int,
        command: str,
        options: dict[str, Any] | None = None,
        attachments: dict[str, FileInput] | None = None,
    ) -> Interaction:
        """Return the interaction of running `/command` (space-separated for subcommands, e.g. "party start").

        `options` maps option names to values: str, int, float, bool; a user/role/channel id (or
        User/Role/Channel) for those types; `(filename, bytes)` for attachments, which may also be
        given in `attachments`.
        """
        channel = self._channel(channel_id)
        merged = {**(options or {}), **(attachments or {})}
        data, registered = self._command_data(channel, command, merged, focused=None)
        return self.server.interaction_service.create(
            self.user,
            channel,
            APPLICATION_COMMAND,
            data,
            command_name=command,
            command_type=registered.get("type", CHAT_INPUT),
        )

    async def forged_slash(
        self,
        channel_id: int,
        command: str,
        options: dict[str, Any],
        *,
        resolved: dict[str, Any] | None = None,
    ) -> Interaction:
        """Return the interaction of `/command` with option values sent as given, unchecked.

        What a modified client, a stale schema or a forged request delivers: values of any type,
        outside the declared ranges and choices, options the command does not have, in a place
        (a DM) where Discord does not offer the command. Each option's type is the registered one
        where the name is known, else string.
        """
        channel = self._channel(channel_id)
        registered, built, container, definitions = self._command_path(channel, command, offered=False)
        types = {d["name"]: d["type"] for d in definitions}
        container.extend({"name": n, "type": types.get(n, STRING), "value": v} for n, v in options.items())
        data: dict[str, Any] = {
            "id": registered["id"],
            "name": command.split()[0],
            "type": CHAT_INPUT,
            "options": built,
        }
        if resolved:
            data["resolved"] = resolved
        return self.server.interaction_service.create(
            self.user, channel, APPLICATION_COMMAND, data, command_name=command, command_type=CHAT_INPUT
        )

    async def autocomplete(
        self, channel_id: int, command: str, options: dict[str, Any], focused: str, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Return the choices the bot offers while the user types option `focused` (its value in `options`)."""
        channel = self._channel(channel_id)
        data, _ = self._command_data(channel, command, options, focused=focused)
        interaction = self.server.interaction_service.create(
            self.user, channel, APPLICATION_COMMAND_AUTOCOMPLETE, data, command_name=command
        )
        await interaction.wait_for_response(timeout)
        return interaction.choices or []

    async def user_command(self, channel_id: int, name: str, target: User | int) -> Interaction:
        """Return the interaction of running the user context-menu command `name` on `target`."""
        channel = self._channel(channel_id)
        registered = self._find_command(name, channel, USER_COMMAND)
        resolver = _Resolver(self.server, channel)
        target_id = resolver.user(target)
        data = {"id": registered["id"], "name": name, "type": USER_COMMAND, "target_id": target_id}
        data["resolved"] = resolver.resolved
        return self.server.interaction_service.create(
            self.user, channel, APPLICATION_COMMAND, data, command_name=name, command_type=USER_COMMAND
        )

    async def message_command(self, message: MessageRef, name: str) -> Interaction:
        """Return the interaction of running the message context-menu command `name` on `message`."""
        target = self._visible_message(message)
        registered = self._find_command(name, target.channel, MESSAGE_COMMAND)
        payload = target.payload(self.server.base_url, self.user.id, self.server.users)
        data = {
            "id": registered["id"],
            "name": name,
            "type": MESSAGE_COMMAND,
            "target_id": str(target.id),
            "resolved": {"messages": {str(target.id): payload}},
        }
        return self.server.interaction_service.create(
            self.user, target.channel, APPLICATION_COMMAND, data, command_name=name, command_type=MESSAGE_COMMAND
        )

    def _command_data(
        self, channel: Channel, command: str, options: dict[str, Any], *, focused: str | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Return INTERACTION_CREATE's `data` for a chat command, checked against its registration."""
        names = command.split()
        registered, built, container, definitions = self._command_path(channel, command)
        if any(d["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP) for d in definitions):
            wanted = sorted(d["name"] for d in definitions)
            raise CommandNotFound(f"/{command} needs a subcommand, one of {wanted}")
        resolver = _Resolver(self.server, channel)
        by_name = {d["name"]: d for d in definitions}
        for name, value in options.items():
            definition = by_name.get(name)
            if definition is None:
                raise CommandNotFound(f"/{command}: no option {name!r} (it has {sorted(by_name)})")
            if name == focused:
                if not definition.get("autocomplete"):
                    raise OptionError(f"/{command}: option {name!r} has no autocomplete")
                container.append({"name": name, "type": definition["type"], "value": str(value), "focused": True})
            else:
                value = _option_value(f"/{command} {name}", definition, value, resolver)
                container.append({"name": name, "type": definition["type"], "value": value})
        if focused is None:
            missing = [d["name"] for d in definitions if d.get("required") and d["name"] not in options]
            if missing:
                raise OptionError(f"/{command}: required option(s) {missing} missing")
        elif focused not in options:
            raise OptionError(f"/{command}: the focused option {focused!r} needs a value in options")
        data: dict[str, Any] = {"id": registered["id"], "name": names[0], "type": CHAT_INPUT, "options": built}
        if resolver.resolved:
            data["resolved"] = resolver.resolved
        if registered.get("guild_id"):
            data["guild_id"] = registered["guild_id"]
        return data, registered

    def _command_path(
        self, channel: Channel, command: str, *, offered: bool = True
    ) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """Return a chat command's registration, its options tree down to the subcommand, the list its
        options go in, and the subcommand's option definitions."""
        names = command.split()
        registered = self._find_command(names[0], channel, CHAT_INPUT, offered=offered)
        definitions: list[dict[str, Any]] = registered.get("options") or []
        built: list[dict[str, Any]] = []
        container = built
        for name in names[1:]:
            definition = next((o for o in definitions if o["name"] == name), None)
            if definition is None or definition["type"] not in (SUB_COMMAND, SUB_COMMAND_GROUP):
                raise CommandNotFound(f"/{command}: the bot registered no subcommand {name!r}")
            node: dict[str, Any] = {"name": name, "type": definition["type"], "options": []}
            container.append(node)
            container = node["options"]
            definitions = definition.get("options") or []
        return registered, built, container, definitions

    def _find_command(self, name: str, channel: Channel, kind: int, *, offered: bool = True) -> dict[str, Any]:
        """Return the registered command Discord would run here, checking it is offered to this user
        (unless `offered` is False: a forged request ignores where Discord offers a command)."""
        scopes = [channel.guild_id, 0] if channel.guild_id is not None else [0]
        for scope in scopes:
            for command in self.server.commands.get(scope, []):
                if command["name"] == name and command.get("type", CHAT_INPUT) == kind:
                    if offered:
                        self._check_available(command, channel)
                    return command
        raise CommandNotFound(f"the bot has not registered the command {name!r} (type {kind}) here")

    def _check_available(self, command: dict[str, Any], channel: Channel) -> None:
        context = 1 if channel.type == DM else 0
        contexts = command.get("contexts")
        if contexts is not None and context not in contexts:
            raise CommandUnavailable(f"/{command['name']} is not offered in this context ({context})")
        required = command.get("default_member_permissions")
        if required is not None and channel.guild_id is not None:
            held = self.server.guilds[channel.guild_id].permissions_of(self.user.id)
            if held & int(required) != int(required):
                raise CommandUnavailable(f"{self.user.name} lacks the permissions /{command['name']} requires")

    # --- components and modals --------------------------------------------------------------------

    async def click(self, message: MessageRef, custom_id: str) -> Interaction:
        """Return the interaction of clicking the button `custom_id` on a message."""
        target = self._visible_message(message)
        component = self._component(target, custom_id)
        if component.get("type") != 2:
            raise ValueError(f"{custom_id!r} is not a button")
        if component.get("disabled"):
            raise ValueError(f"button {custom_id!r} is disabled")
        data = {"custom_id": custom_id, "component_type": 2}
        return self.server.interaction_service.create(
            self.user, target.channel, MESSAGE_COMPONENT, data, source_message=target
        )

    async def select(self, message: MessageRef, custom_id: str, values: list[Any]) -> Interaction:
        """Return the interaction of picking `values` in the select menu `custom_id` on a message.

        For user/role/mentionable/channel selects the values are ids (or User/Role/Channel objects).
        """
        target = self._visible_message(message)
        component = self._component(target, custom_id)
        kind = component.get("type")
        if kind not in (STRING_SELECT, USER_SELECT, ROLE_SELECT, MENTIONABLE_SELECT, CHANNEL_SELECT):
            raise ValueError(f"{custom_id!r} is not a select menu")
        if component.get("disabled"):
            raise ValueError(f"select {custom_id!r} is disabled")
        data = {
            "custom_id": custom_id,
            "component_type": kind,
            **_select_values(self.server, target.channel, component, values),
        }
        return self.server.interaction_service.create(
            self.user, target.channel, MESSAGE_COMPONENT, data, source_message=target
        )

    async def forged_component(
        self, message: MessageRef, custom_id: str, *, values: list[str] | None = None
    ) -> Interaction:
        """Return the interaction of a click (or, with `values`, a menu pick) sent as given, unchecked.

        The message must carry a component with this custom id (discord.py acts on nothing else),
        but the id's contents and the picked values are whatever a tampered client sends.
        """
        target = self._visible_message(message)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": 2 if values is None else STRING_SELECT}
        if values is not None:
            data["values"] = values
        return self.server.interaction_service.create(
            self.user, target.channel, MESSAGE_COMPONENT, data, source_message=target
        )

    async def submit_modal(self, opened_by: Interaction, fields: dict[str, Any]) -> Interaction:
        """Return the interaction of filling in and submitting the modal the bot answered `opened_by` with.

        `fields` maps each input's custom id to its value: a str for text inputs, a list for selects
        and checkbox groups, a bool for a checkbox, `(filename, bytes)` items for a file upload.
        """
        modal = opened_by.modal
        if modal is None:
            raise ValueError("the bot did not answer this interaction with a modal")
        resolver = _Resolver(self.server, opened_by.channel)
        used: set[str] = set()
        components = [_submitted(c, fields, used, resolver) for c in modal.get("components", [])]
        unknown = set(fields) - used
        if unknown:
            raise ValueError(f"the modal has no inputs {sorted(unknown)}")
        data: dict[str, Any] = {"custom_id": modal["custom_id"], "components": components}
        if resolver.resolved:
            data["resolved"] = resolver.resolved
        return self.server.interaction_service.create(
            self.user,
            opened_by.channel,
            MODAL_SUBMIT,
            data,
            source_message=opened_by.source_message,
            opened_by=opened_by,
        )

    # --- reactions, messages, threads -------------------------------------------------------------

    async def react(self, message: MessageRef, emoji: str) -> None:
        """Add this user's reaction to a message (MESSAGE_REACTION_ADD to the bot)."""
        self.server.set_reaction(self._visible_message(message), self.user, emoji, added=True)

    async def vote_poll(self, message: MessageRef, answer_ids: list[int]) -> None:
        """Make `answer_ids` this user's votes on a message's poll (MESSAGE_POLL_VOTE_ADD/REMOVE to the bot)."""
        self.server.set_poll_votes(self._visible_message(message), self.user, answer_ids)

    async def unreact(self, message: MessageRef, emoji: str) -> None:
        """Remove this user's reaction from a message (MESSAGE_REACTION_REMOVE to the bot)."""
        self.server.set_reaction(self._visible_message(message), self.user, emoji, added=False)

    async def send(
        self,
        channel_id: int,
        content: str = "",
        *,
        files: list[FileInput] | None = None,
        reply_to: MessageRef | None = None,
    ) -> Message:
        """Return a message this user posts in a channel, thread or their DM with the bot (MESSAGE_CREATE)."""
        channel = self._channel(channel_id)
        uploads = {}
        for index, (filename, data) in enumerate(files or []):
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
            uploads[index] = StoredFile(self.server.snowflakes.next(), filename, data, content_type)
        payload: dict[str, Any] = {"content": content}
        if reply_to is not None:
            payload["message_reference"] = {"message_id": self._visible_message(reply_to).id}
        if channel.is_thread:
            channel.thread_members.setdefault(self.user.id, self.server.clock.iso())
        return self.server.post_message(channel, self.user, payload, uploads)

    async def create_thread(self, channel_id: int, name: str, *, message: MessageRef | None = None) -> Channel:
        """Return a public thread this user starts in a channel, from a message or not (THREAD_CREATE)."""
        channel = self._channel(channel_id)
        source = self._visible_message(message) if message is not None else None
        return self.server.create_thread(channel, self.user, name, from_message=source)

    def dm_channel(self) -> Channel:
        """Return this user's DM channel with the bot (opened if needed)."""
        return self.server.open_dm(self.server.require_application(), self.user)

    # --- lookups ----------------------------------------------------------------------------------

    def _channel(self, channel_id: int) -> Channel:
        channel = self.server.channels.get(channel_id)
        if channel is None or channel.deleted:
            raise LookupError(f"no channel {channel_id}")
        if not self.server.can_see(self.user, channel):
            raise PermissionError(f"{self.user.name} is not a member of the guild of channel {channel_id}")
        return channel

    def _visible_message(self, ref: MessageRef) -> Message:
        message = self.server.messages.get(ref if isinstance(ref, int) else ref.id)
        if message is None or message.deleted:
            raise LookupError(f"no message {ref if isinstance(ref, int) else ref.id}")
        self._channel(message.channel.id)
        if message.ephemeral and message.visible_to != self.user.id:
            raise PermissionError(f"message {message.id} is ephemeral and not shown to {self.user.name}")
        return message

    def _component(self, message: Message, custom_id: str) -> dict[str, Any]:
        if message.author is not self.server.application:
            raise ValueError(f"message {message.id} is not the bot's: its components are not the bot's to answer")
        component = message.find_component(custom_id)
        if component is None:
            raise LookupError(f"message {message.id} has no component {custom_id!r}")
        return component


class _Resolver:
    """Build an interaction's `data.resolved` while options and values are converted."""

    def __init__(self, server: LoopbackDiscord, channel: Channel) -> None:
        self.server = server
        self.channel = channel
        self.resolved: dict[str, dict[str, Any]] = {}

    def user(self, ref: User | int | str) -> str:
        user = self.server.users.get(int(ref.id if isinstance(ref, User) else ref))
        if user is None:
            raise OptionError(f"no user {ref}")
        self.resolved.setdefault("users", {})[str(user.id)] = user.payload()
        guild_id = self.channel.guild_id
        member = self.server.guilds[guild_id].members.get(user.id) if guild_id is not None else None
        if member is not None:
            data = member.payload(with_user=False)
            data["permissions"] = str(self.server.guilds[member.guild_id].permissions_of(user.id))
            self.resolved.setdefault("members", {})[str(user.id)] = data
        return str(user.id)

    def role(self, ref: Role | int | str) -> str:
        guild_id = self.channel.guild_id
        role_id = int(ref.id if isinstance(ref, Role) else ref)
        role = self.server.guilds[guild_id].roles.get(role_id) if guild_id is not None else None
        if role is None:
            raise OptionError(f"no role {ref} in this guild")
        self.resolved.setdefault("roles", {})[str(role.id)] = role.payload()
        return str(role.id)

    def channel_ref(self, ref: Channel | int | str, allowed_types: list[int] | None) -> str:
        channel = self.server.channels.get(int(ref.id if isinstance(ref, Channel) else ref))
        if channel is None or channel.deleted or channel.guild_id != self.channel.guild_id:
            raise OptionError(f"no channel {ref} in this guild")
        if allowed_types and channel.type not in allowed_types:
            raise OptionError(f"channel {channel.id} is of type {channel.type}, the option takes {allowed_types}")
        data = channel.payload()
        guild_id = self.channel.guild_id
        held = self.server.guilds[guild_id].permissions_of(self.server.require_application().id) if guild_id else 0
        data["permissions"] = str(held)
        self.resolved.setdefault("channels", {})[str(channel.id)] = data
        return str(channel.id)

    def mentionable(self, ref: Any) -> str:
        raw = int(ref.id if isinstance(ref, User | Role) else ref)
        return self.user(raw) if raw in self.server.users else self.role(raw)

    def attachment(self, file: FileInput) -> str:
        if not (isinstance(file, tuple) and len(file) == 2 and isinstance(file[1], bytes)):
            raise OptionError("an attachment is given as (filename, bytes)")
        filename, data = file
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        stored = StoredFile(self.server.snowflakes.next(), filename, data, content_type)
        self.server.files[stored.id] = stored
        payload = attachment_payload(self.server.base_url, self.channel.id, stored, ephemeral=True)
        self.resolved.setdefault("attachments", {})[str(stored.id)] = payload
        return str(stored.id)


def _option_value(where: str, definition: dict[str, Any], value: Any, resolver: _Resolver) -> Any:
    """Return an option value as Discord sends it, refusing what the client would not let through."""
    kind = definition["type"]
    if kind == STRING:
        if not isinstance(value, str):
            raise OptionError(f"{where}: expects a string, got {value!r}")
        if len(value) < definition.get("min_length", 0) or len(value) > definition.get("max_length", 6000):
            raise OptionError(f"{where}: length {len(value)} is outside the option's limits")
    elif kind == INTEGER:
        if not isinstance(value, int) or isinstance(value, bool) or abs(value) > 2**53:
            raise OptionError(f"{where}: expects an integer, got {value!r}")
    elif kind == NUMBER:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise OptionError(f"{where}: expects a number, got {value!r}")
    elif kind == BOOLEAN:
        if not isinstance(value, bool):
            raise OptionError(f"{where}: expects True or False, got {value!r}")
    elif kind == USER:
        return resolver.user(value)
    elif kind == CHANNEL:
        return resolver.channel_ref(value, definition.get("channel_types"))
    elif kind == ROLE:
        return resolver.role(value)
    elif kind == MENTIONABLE:
        return resolver.mentionable(value)
    elif kind == ATTACHMENT:
        return resolver.attachment(value)
    else:
        raise OptionError(f"{where}: option type {kind} cannot take a value")
    if kind in (INTEGER, NUMBER):
        low, high = definition.get("min_value"), definition.get("max_value")
        if (low is not None and value < low) or (high is not None and value > high):
            raise OptionError(f"{where}: {value} is outside [{low}, {high}]")
    choices = definition.get("choices")
    if choices and value not in [c["value"] for c in choices]:
        raise OptionError(f"{where}: {value!r} is not one of the choices {[c['value'] for c in choices]}")
    return value


def _select_values(server: LoopbackDiscord, channel: Channel, component: dict[str, Any], values: list[Any]) -> dict:
    """Return a select's submitted `values` (and `resolved` for entity selects), checked against the menu."""
    kind = component["type"]
    low, high = component.get("min_values", 1), component.get("max_values", 1)
    if not low <= len(values) <= high:
        raise ValueError(f"select {component['custom_id']!r} takes {low} to {high} values, not {len(values)}")
    if kind == STRING_SELECT:
        offered = [o["value"] for o in component.get("options", [])]
        if not set(values) <= set(offered):
            raise ValueError(f"select {component['custom_id']!r} offers {offered}, not {values}")
        return {"values": [str(v) for v in values]}
    resolver = _Resolver(server, channel)
    convert = {
        USER_SELECT: resolver.user,
        ROLE_SELECT: resolver.role,
        MENTIONABLE_SELECT: resolver.mentionable,
        CHANNEL_SELECT: lambda v: resolver.channel_ref(v, component.get("channel_types")),
    }[kind]
    return {"values": [convert(v) for v in values], "resolved": resolver.resolved}


def _submitted(component: dict[str, Any], fields: dict[str, Any], used: set[str], resolver: _Resolver) -> dict:
    """Return the submitted form of one modal component (rows and labels keep their shape)."""
    kind = component.get("type")
    base = {"type": kind, **({"id": component["id"]} if "id" in component else {})}
    if kind == 1:
        return {**base, "components": [_submitted(c, fields, used, resolver) for c in component.get("components", [])]}
    if kind == 18:
        return {**base, "component": _submitted(component["component"], fields, used, resolver)}
    custom_id = component.get("custom_id")
    if custom_id is None:
        return base  # text displays and other non-inputs
    used.add(custom_id)
    value = fields.get(custom_id)
    required = component.get("required", True)
    submitted: dict[str, Any] = {**base, "custom_id": custom_id}
    if kind == 4:
        text = "" if value is None else str(value)
        if required and not text:
            raise ValueError(f"modal input {custom_id!r} is required")
        if text and not component.get("min_length", 0) <= len(text) <= component.get("max_length", 4000):
            raise ValueError(f"modal input {custom_id!r}: length {len(text)} is outside its limits")
        submitted["value"] = text
    elif kind in (STRING_SELECT, USER_SELECT, ROLE_SELECT, MENTIONABLE_SELECT, CHANNEL_SELECT):
        chosen = _select_values(resolver.server, resolver.channel, component, list(value or []))
        submitted["values"] = chosen["values"]
        for key, items in chosen.get("resolved", {}).items():
            resolver.resolved.setdefault(key, {}).update(items)
    elif kind == 19:  # file upload
        submitted["values"] = [resolver.attachment(f) for f in value or []]
    elif kind == 23:  # checkbox
        submitted["value"] = bool(value)
    elif kind == 22:  # checkbox group
        submitted["values"] = list(value or [])
    else:  # radio group and later inputs
        submitted["value"] = value
    return submitted
