"""The test-facing driver: act on the loopback Discord as one user, the way a Discord client would."""

from __future__ import annotations

import mimetypes
from typing import TYPE_CHECKING, Any

from bot.loopback.state import Message, StoredFile, User

if TYPE_CHECKING:
    from bot.loopback.server import Interaction, LoopbackDiscord

# Application command option types (Discord's numbers).
SUB_COMMAND, SUB_COMMAND_GROUP, STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = (
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
)


class CommandNotFound(LookupError):
    """The bot has not registered a command with that name or option."""


class UserDriver:
    """Send slash commands, clicks, selects, modals and reactions as one user."""

    def __init__(self, server: LoopbackDiscord, user: User) -> None:
        self.server = server
        self.user = user

    async def slash(
        self,
        channel_id: int,
        command: str,
        options: dict[str, Any] | None = None,
        attachments: dict[str, tuple[str, bytes]] | None = None,
    ) -> Interaction:
        """Run `/command` (space-separated for subcommands) with options and attachment options."""
        channel = self.server.channels[channel_id]
        names = command.split()
        registered = self._find_command(names[0], channel.guild_id)
        option_defs = registered.get("options") or []
        built: list[dict[str, Any]] = []
        container = built
        for name in names[1:]:
            definition = next((o for o in option_defs if o["name"] == name), None)
            if definition is None or definition["type"] not in (SUB_COMMAND, SUB_COMMAND_GROUP):
                raise CommandNotFound(f"/{command}: no subcommand {name!r}")
            node = {"name": name, "type": definition["type"], "options": []}
            container.append(node)
            container = node["options"]
            option_defs = definition.get("options") or []
        resolved: dict[str, Any] = {}
        for name, value in (options or {}).items():
            definition = next((o for o in option_defs if o["name"] == name), None)
            if definition is None:
                raise CommandNotFound(f"/{command}: no option {name!r}")
            container.append({"name": name, "type": definition["type"], "value": value})
        for name, (filename, data) in (attachments or {}).items():
            definition = next((o for o in option_defs if o["name"] == name), None)
            if definition is None or definition["type"] != ATTACHMENT:
                raise CommandNotFound(f"/{command}: no attachment option {name!r}")
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
            stored = StoredFile(self.server.snowflakes.next(), filename, data, content_type)
            self.server.files[stored.id] = stored
            from bot.loopback.state import attachment_payload

            resolved.setdefault("attachments", {})[str(stored.id)] = attachment_payload(
                self.server.base_url, channel_id, stored
            )
            container.append({"name": name, "type": ATTACHMENT, "value": str(stored.id)})
        data: dict[str, Any] = {"id": registered["id"], "name": names[0], "type": 1, "options": built}
        if resolved:
            data["resolved"] = resolved
        if registered.get("guild_id"):
            data["guild_id"] = registered["guild_id"]
        return await self.server.create_interaction(self.user, channel, 2, data)

    def _find_command(self, name: str, guild_id: int) -> dict[str, Any]:
        for scope in (guild_id, 0):
            for command in self.server.commands.get(scope, []):
                if command["name"] == name:
                    return command
        raise CommandNotFound(f"the bot has not registered /{name}")

    async def click(self, message: Message, custom_id: str) -> Interaction:
        """Click the button with `custom_id` on a message."""
        component = self._find_component(message, custom_id)
        if component.get("disabled"):
            raise ValueError(f"button {custom_id!r} is disabled")
        data = {"custom_id": custom_id, "component_type": 2}
        return await self.server.create_interaction(self.user, message.channel, 3, data, source_message=message)

    async def select(self, message: Message, custom_id: str, values: list[str]) -> Interaction:
        """Pick `values` in the select menu with `custom_id` on a message."""
        component = self._find_component(message, custom_id)
        allowed = {option["value"] for option in component.get("options", [])}
        if allowed and not set(values) <= allowed:
            raise ValueError(f"select {custom_id!r} offers {sorted(allowed)}, not {values}")
        data = {"custom_id": custom_id, "component_type": component["type"], "values": values}
        return await self.server.create_interaction(self.user, message.channel, 3, data, source_message=message)

    async def submit_modal(self, opened_by: Interaction, fields: dict[str, str]) -> Interaction:
        """Fill in and submit the modal that the bot answered `opened_by` with."""
        modal = opened_by.modal
        if modal is None:
            raise ValueError("the bot did not answer this interaction with a modal")
        rows = []
        for row in modal.get("components", []):
            inputs = []
            for component in row.get("components", []):
                inputs.append(
                    {"type": 4, "custom_id": component["custom_id"], "value": fields.get(component["custom_id"], "")}
                )
            rows.append({"type": 1, "components": inputs})
        data = {"custom_id": modal["custom_id"], "components": rows}
        return await self.server.create_interaction(
            self.user, opened_by.channel, 5, data, source_message=opened_by.source_message
        )

    async def react(self, message: Message, emoji: str) -> None:
        """Add a reaction to a message."""
        await self.server.set_reaction(message, self.user, emoji, added=True)

    async def unreact(self, message: Message, emoji: str) -> None:
        """Remove this user's reaction from a message."""
        await self.server.set_reaction(message, self.user, emoji, added=False)

    @staticmethod
    def _find_component(message: Message, custom_id: str) -> dict[str, Any]:
        for row in message.components:
            for component in row.get("components", []):
                if component.get("custom_id") == custom_id:
                    return component
        raise LookupError(f"message {message.id} has no component {custom_id!r}")
