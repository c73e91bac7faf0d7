"""Interactions on the loopback Discord: INTERACTION_CREATE, callbacks, follow-ups, and Discord's rules.

The rules bots trip over are kept: the first callback must come within 3 s of the interaction
(else 404 "Unknown interaction", 10062), only one callback is accepted (400, 40060), and the
token works for follow-ups and edits for 15 minutes (then 401 "Invalid Webhook Token", 50027).
Both deadlines are measured on the server's `LoopbackClock`, so tests can advance it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopback import errors
from loopback.errors import invalid_form
from loopback.state import CHAT_INPUT_COMMAND, CONTEXT_MENU_COMMAND, DEFAULT, EPHEMERAL

if TYPE_CHECKING:
    from loopback.changes import ChangeSignal
    from loopback.server import LoopbackDiscord
    from loopback.state import Channel, Message, StoredFile, User

log = logging.getLogger(__name__)

INITIAL_RESPONSE_SECONDS = 3.0
TOKEN_LIFETIME_SECONDS = 15 * 60

# Interaction types.
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, APPLICATION_COMMAND_AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
# Callback types.
PONG, CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE = 1, 4, 5, 6, 7
AUTOCOMPLETE_RESULT, MODAL = 8, 9

# Which callbacks Discord accepts for which interactions (6 and 7 need a message to update).
ALLOWED_CALLBACKS: dict[int, frozenset[int]] = {
    PING: frozenset({PONG}),
    APPLICATION_COMMAND: frozenset({CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL}),
    MESSAGE_COMPONENT: frozenset(
        {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE, MODAL}
    ),
    APPLICATION_COMMAND_AUTOCOMPLETE: frozenset({AUTOCOMPLETE_RESULT}),
    MODAL_SUBMIT: frozenset({CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE}),
}


class InteractionFailed(Exception):
    """The bot never acknowledged an interaction: its first callback was refused (see `refused`)."""

    def __init__(self, interaction: Interaction) -> None:
        super().__init__(f"interaction {interaction.id}: the bot's callback was refused with {interaction.refused}")
        self.interaction = interaction


@dataclass(eq=False)
class Interaction:
    """Return value of every driver action: one interaction, and everything the bot answered.

    `callback_type` is the accepted callback (4 message, 5 deferred, 6 deferred update, 7 update,
    8 autocomplete, 9 modal); `original` is the response message (for 6/7 the message the
    component is on), kept up to date by @original edits; `followups` the follow-up messages;
    `refused` the (HTTP status, JSON code) of every call Discord would have refused, e.g.
    `(404, 10062)` for a first callback later than 3 s.
    """

    id: int
    token: str = field(repr=False)
    type: int
    user: User
    channel: Channel
    created_at: float
    payload: dict[str, Any] = field(repr=False)
    signal: ChangeSignal = field(repr=False)
    command_name: str | None = None
    command_type: int | None = None
    source_message: Message | None = None
    opened_by: Interaction | None = None  # a modal submit: the interaction the modal answered
    callback_type: int | None = None
    original: Message | None = None
    followups: list[Message] = field(default_factory=list)
    modal: dict[str, Any] | None = None
    choices: list[dict[str, Any]] | None = None
    refused: list[tuple[int, int]] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        """Return whether the bot's first callback was accepted."""
        return self.callback_type is not None

    @property
    def guild_id(self) -> int | None:
        """Return the guild the interaction happened in (None in a DM)."""
        return self.channel.guild_id

    @property
    def messages(self) -> list[Message]:
        """Return the response message (if any) and the follow-ups, oldest first."""
        return ([self.original] if self.original is not None else []) + list(self.followups)

    def metadata(self, *, original_response: Message | None = None) -> dict[str, Any]:
        """Return the `interaction_metadata` object Discord puts on messages answering this interaction."""
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "user": self.user.payload(),
            "authorizing_integration_owners": {"0": str(self.guild_id or 0)},
        }
        if original_response is not None:
            data["original_response_message_id"] = str(original_response.id)
        if self.type == MESSAGE_COMPONENT and self.source_message is not None:
            data["interacted_message_id"] = str(self.source_message.id)
        if self.type == MODAL_SUBMIT and self.opened_by is not None:
            data["triggering_interaction_metadata"] = self.opened_by.metadata()
        return data

    def _check_not_failed(self) -> None:
        if self.refused and not self.acknowledged:
            raise InteractionFailed(self)

    async def wait_for_response(self, timeout: float = 10.0) -> int:
        """Return the accepted callback type once the bot answered; raise InteractionFailed if it was refused."""

        def answered() -> int | None:
            self._check_not_failed()
            return self.callback_type

        return await self.signal.wait_for(answered, timeout, f"a callback for interaction {self.id}")

    async def wait_for_original(
        self, predicate: Callable[[Message], Any] | None = None, timeout: float = 10.0
    ) -> Message:
        """Return the response message once it satisfies `predicate` (default: it is no longer "thinking")."""
        check = predicate or (lambda m: not m.loading)

        def ready() -> Message | None:
            self._check_not_failed()
            original = self.original
            return original if original is not None and check(original) else None

        return await self.signal.wait_for(ready, timeout, f"the original response of interaction {self.id}")

    async def wait_for_followup(
        self, predicate: Callable[[Message], Any] | None = None, timeout: float = 10.0
    ) -> Message:
        """Return the first follow-up message that satisfies `predicate` (default: the first one)."""

        def found() -> Message | None:
            self._check_not_failed()
            return next((m for m in self.followups if predicate is None or predicate(m)), None)

        return await self.signal.wait_for(found, timeout, f"a follow-up of interaction {self.id}")

    async def wait_for_modal(self, timeout: float = 10.0) -> dict[str, Any]:
        """Return the modal the bot answered with (callback 9)."""

        def opened() -> dict[str, Any] | None:
            self._check_not_failed()
            return self.modal

        return await self.signal.wait_for(opened, timeout, f"a modal for interaction {self.id}")

    async def wait_for_refusal(self, timeout: float = 10.0) -> tuple[int, int]:
        """Return the first (status, code) Discord refused for this interaction."""
        return (await self.signal.wait_for(lambda: self.refused[:1], timeout, f"a refusal for {self.id}"))[0]


class InteractionService:
    """Create interactions and apply Discord's rules to callbacks and to the interaction webhook."""

    def __init__(self, server: LoopbackDiscord) -> None:
        self.server = server
        self._by_token: dict[str, Interaction] = {}

    def create(
        self,
        user: User,
        channel: Channel,
        kind: int,
        data: dict[str, Any],
        *,
        source_message: Message | None = None,
        opened_by: Interaction | None = None,
        command_name: str | None = None,
        command_type: int | None = None,
    ) -> Interaction:
        """Create an interaction as `user` and dispatch INTERACTION_CREATE to the bot."""
        server = self.server
        app = server.require_application()
        interaction = Interaction(
            id=server.snowflakes.next(),
            token=f"aW50ZXJhY3Rpb246{secrets.token_urlsafe(48)}",
            type=kind,
            user=user,
            channel=channel,
            created_at=server.clock.now(),
            payload={},
            signal=server.changed,
            command_name=command_name,
            command_type=command_type,
            source_message=source_message,
            opened_by=opened_by,
        )
        payload: dict[str, Any] = {
            "id": str(interaction.id),
            "application_id": str(app.id),
            "type": kind,
            "data": data,
            "channel_id": str(channel.id),
            "token": interaction.token,
            "version": 1,
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": server.max_upload_bytes,
        }
        if channel.guild_id is not None:
            guild = server.guilds[channel.guild_id]
            permissions = guild.permissions_of(user.id)
            member = guild.members[user.id].payload()
            member["permissions"] = str(permissions)
            payload.update(
                guild={"id": str(guild.id), "locale": "en-US", "features": []},
                guild_id=str(guild.id),
                guild_locale="en-US",
                member=member,
                app_permissions=str(guild.permissions_of(app.id)),
                channel={**channel.payload(user.id), "permissions": str(permissions)},
                authorizing_integration_owners={"0": str(guild.id)},
                context=0,
            )
        else:
            payload.update(
                user=user.payload(),
                app_permissions=str(server.dm_permissions),
                channel={**channel.payload(user.id), "permissions": str(server.dm_permissions)},
                authorizing_integration_owners={"0": "0"},
                context=1,
            )
        if source_message is not None:
            payload["message"] = source_message.payload(server.base_url, app.id, server.users)
        interaction.payload = payload
        server.interactions[interaction.id] = interaction
        self._by_token[interaction.token] = interaction
        server.dispatch("INTERACTION_CREATE", payload)
        server.changed.notify()
        log.debug("interaction %s (type %d) by %s", interaction.id, kind, user.name)
        return interaction

    def for_callback(self, interaction_id: str, token: str) -> Interaction:
        """Return the interaction a callback URL names; 404 10062 for an unknown id or token."""
        interaction = self._by_token.get(token)
        if interaction is None or str(interaction.id) != interaction_id:
            raise errors.unknown_interaction()
        return interaction

    def callback(self, interaction: Interaction, payload: dict[str, Any], uploads: dict[int, StoredFile]) -> dict:
        """Apply the bot's first response; return the body POST .../callback?with_response=true answers."""
        if interaction.acknowledged:
            raise errors.already_acknowledged()
        late = self.server.clock.now() - interaction.created_at
        if late > INITIAL_RESPONSE_SECONDS:
            log.info(
                "interaction %s: callback %.2f s after creation refused (Unknown interaction)", interaction.id, late
            )
            raise errors.unknown_interaction()
        kind = payload.get("type")
        data = payload.get("data") or {}
        source = interaction.source_message
        if kind not in ALLOWED_CALLBACKS[interaction.type] or (kind in (6, 7) and source is None):
            raise invalid_form(
                "type", "INTERACTION_RESPONSE_TYPE_INVALID", "Interaction response type is invalid for this interaction"
            )
        server = self.server
        bot = server.require_application()
        if kind in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE):
            ephemeral = bool(int(data.get("flags") or 0) & EPHEMERAL)
            message = server.post_message(
                interaction.channel,
                bot,
                data if kind == CHANNEL_MESSAGE else {"flags": data.get("flags")},
                uploads,
                message_type=self._message_type(interaction),
                interaction=interaction.metadata(),
                command_name=interaction.command_name,
                webhook_id=bot.id,
                visible_to=interaction.user.id if ephemeral else None,
                loading=kind == DEFERRED_CHANNEL_MESSAGE,
            )
            interaction.original = message
        elif kind == UPDATE_MESSAGE:
            assert source is not None
            interaction.original = server.edit_message(source, data, uploads)
        elif kind == DEFERRED_UPDATE_MESSAGE:
            interaction.original = source
        elif kind == AUTOCOMPLETE_RESULT:
            interaction.choices = self._checked_choices(data)
        elif kind == MODAL:
            interaction.modal = self._checked_modal(data)
        interaction.callback_type = kind
        server.changed.notify()
        original = interaction.original
        answered: dict[str, Any] = {"id": str(interaction.id), "type": interaction.type}
        if original is not None:
            answered.update(
                response_message_id=str(original.id),
                response_message_loading=kind == DEFERRED_CHANNEL_MESSAGE,
                response_message_ephemeral=original.ephemeral,
            )
        body: dict[str, Any] = {"interaction": answered}
        # Discord's document defines a resource only for a message sent or updated (4, 7).
        if kind in (CHANNEL_MESSAGE, UPDATE_MESSAGE) and original is not None:
            body["resource"] = {"type": kind, "message": original.payload(server.base_url, bot.id, server.users)}
        return body

    @staticmethod
    def _message_type(interaction: Interaction) -> int:
        if interaction.type != APPLICATION_COMMAND:
            return DEFAULT
        return CHAT_INPUT_COMMAND if interaction.command_type in (None, 1) else CONTEXT_MENU_COMMAND

    @staticmethod
    def _checked_choices(data: dict[str, Any]) -> list[dict[str, Any]]:
        choices = data.get("choices") or []
        if len(choices) > 25:
            raise invalid_form("data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for index, choice in enumerate(choices):
            if not 1 <= len(str(choice.get("name", ""))) <= 100:
                raise invalid_form(f"data.choices.{index}.name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100.")
        return choices

    @staticmethod
    def _checked_modal(data: dict[str, Any]) -> dict[str, Any]:
        if not 1 <= len(str(data.get("custom_id") or "")) <= 100:
            raise invalid_form("data.custom_id", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if not 1 <= len(str(data.get("title") or "")) <= 45:
            raise invalid_form("data.title", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 45 in length.")
        if not 1 <= len(data.get("components") or []) <= 5:
            raise invalid_form("data.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
        return data

    # --- the interaction webhook ------------------------------------------------------------------

    def for_webhook(self, application_id: str, token: str) -> Interaction:
        """Return the interaction behind /webhooks/{application_id}/{token}; 401 50027 after 15 minutes."""
        interaction = self._by_token.get(token)
        app = self.server.application
        if interaction is None or app is None or application_id != str(app.id):
            raise errors.unknown_webhook()
        if self.server.clock.now() - interaction.created_at > TOKEN_LIFETIME_SECONDS:
            interaction.refused.append((401, errors.INVALID_WEBHOOK_TOKEN))
            self.server.changed.notify()
            raise errors.invalid_webhook_token()
        return interaction

    def followup(self, interaction: Interaction, payload: dict[str, Any], uploads: dict[int, StoredFile]) -> Message:
        """Post a follow-up message for an acknowledged interaction."""
        if not interaction.acknowledged:
            raise errors.unknown_webhook()  # Discord knows no webhook for an interaction not yet answered
        server = self.server
        bot = server.require_application()
        ephemeral = bool(int(payload.get("flags") or 0) & EPHEMERAL)
        message = server.post_message(
            interaction.channel,
            bot,
            payload,
            uploads,
            message_type=self._message_type(interaction),
            interaction=interaction.metadata(original_response=interaction.original),
            command_name=interaction.command_name,
            webhook_id=bot.id,
            visible_to=interaction.user.id if ephemeral else None,
        )
        interaction.followups.append(message)
        server.changed.notify()
        return message

    def target(self, interaction: Interaction, message_id: str) -> Message:
        """Return the message `@original` or a follow-up id names; 404 10008 if there is none."""
        if message_id == "@original":
            found = interaction.original
        else:
            found = next((m for m in interaction.messages if str(m.id) == message_id), None)
        if found is None or found.deleted:
            raise errors.unknown_message()
        return found
