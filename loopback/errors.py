"""Discord's REST errors as the loopback answers them: an HTTP status plus a JSON code and message."""

from __future__ import annotations

from typing import Any

# JSON error codes (https://discord.com/developers/docs/topics/opcodes-and-status-codes#json).
GENERAL = 0
UNKNOWN_CHANNEL = 10003
UNKNOWN_GUILD = 10004
UNKNOWN_MEMBER = 10007
UNKNOWN_MESSAGE = 10008
UNKNOWN_ROLE = 10011
UNKNOWN_USER = 10013
UNKNOWN_EMOJI = 10014
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
UNKNOWN_APPLICATION_COMMAND = 10063
MAX_PINS = 30003
MAX_REACTIONS = 30010
UNAUTHORIZED = 40001
REQUEST_TOO_LARGE = 40005
ALREADY_ACKNOWLEDGED = 40060
MISSING_ACCESS = 50001
MISSING_PERMISSIONS = 50013
CANNOT_EDIT_OTHERS_MESSAGE = 50005
EMPTY_MESSAGE = 50006
CANNOT_DM_USER = 50007
WRONG_CHANNEL_TYPE = 50024
INVALID_WEBHOOK_TOKEN = 50027
INVALID_FORM_BODY = 50035
THREAD_ARCHIVED = 50083
INVALID_JSON = 50109
THREAD_ALREADY_CREATED = 160004


class DiscordHTTPError(Exception):
    """An error answered the way Discord answers it: HTTP status plus JSON `code`, `message`, `errors`."""

    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.errors = status, code, message, errors

    def body(self) -> dict[str, Any]:
        """Return the JSON body Discord sends with this error."""
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def invalid_form(path: str, error_code: str, message: str) -> DiscordHTTPError:
    """Return Discord's 400 "Invalid Form Body" for one field; `path` is dotted, e.g. "embeds.0.title"."""
    node: dict[str, Any] = {"_errors": [{"code": error_code, "message": message}]}
    for part in reversed(path.split(".")):
        node = {part: node}
    return DiscordHTTPError(400, INVALID_FORM_BODY, "Invalid Form Body", node)


def unknown_channel() -> DiscordHTTPError:
    """Return the 404 Discord answers for a channel it does not know (or the bot cannot see)."""
    return DiscordHTTPError(404, UNKNOWN_CHANNEL, "Unknown Channel")


def unknown_message() -> DiscordHTTPError:
    """Return the 404 Discord answers for a message it does not know."""
    return DiscordHTTPError(404, UNKNOWN_MESSAGE, "Unknown Message")


def unknown_guild() -> DiscordHTTPError:
    """Return the 404 Discord answers for a guild it does not know."""
    return DiscordHTTPError(404, UNKNOWN_GUILD, "Unknown Guild")


def unknown_member() -> DiscordHTTPError:
    """Return the 404 Discord answers for a user who is not a member of the guild."""
    return DiscordHTTPError(404, UNKNOWN_MEMBER, "Unknown Member")


def unknown_user() -> DiscordHTTPError:
    """Return the 404 Discord answers for a user it does not know."""
    return DiscordHTTPError(404, UNKNOWN_USER, "Unknown User")


def unknown_interaction() -> DiscordHTTPError:
    """Return the 404 Discord answers to a first callback that is too late (or for a bad id/token)."""
    return DiscordHTTPError(404, UNKNOWN_INTERACTION, "Unknown interaction")


def already_acknowledged() -> DiscordHTTPError:
    """Return the 400 Discord answers to a second callback for the same interaction."""
    return DiscordHTTPError(400, ALREADY_ACKNOWLEDGED, "Interaction has already been acknowledged.")


def invalid_webhook_token() -> DiscordHTTPError:
    """Return the 401 Discord answers once an interaction token is older than 15 minutes."""
    return DiscordHTTPError(401, INVALID_WEBHOOK_TOKEN, "Invalid Webhook Token")


def unknown_webhook() -> DiscordHTTPError:
    """Return the 404 Discord answers for a webhook (interaction token) it does not know."""
    return DiscordHTTPError(404, UNKNOWN_WEBHOOK, "Unknown Webhook")


def too_large() -> DiscordHTTPError:
    """Return the 413 Discord answers when a request's files exceed the upload limit."""
    return DiscordHTTPError(413, REQUEST_TOO_LARGE, "Request entity too large")


def missing_permissions() -> DiscordHTTPError:
    """Return the 403 Discord answers when the bot lacks a permission the request needs."""
    return DiscordHTTPError(403, MISSING_PERMISSIONS, "Missing Permissions")


def unauthorized() -> DiscordHTTPError:
    """Return the 401 Discord answers to a missing or wrong bot token."""
    return DiscordHTTPError(401, GENERAL, "401: Unauthorized")
