"""A loopback Discord: a Discord-compatible server on 127.0.0.1 that unmodified discord.py talks to.

`LoopbackDiscord` serves REST under /api/v10, the gateway websocket and uploaded files;
`UserDriver` acts as users (slash commands, components, modals, reactions, messages);
`LoopbackClock` is the time Discord's deadlines are measured on; `FaultPlan` (`server.faults`)
makes chosen REST requests fail as a broken Discord would; `point_discord_py_at`
(in `bot.loopback.client_patch`) points discord.py at any Discord-compatible API.
"""

from bot.loopback.clock import LoopbackClock
from bot.loopback.driver import CommandNotFound, CommandUnavailable, OptionError, UserDriver
from bot.loopback.errors import DiscordHTTPError
from bot.loopback.faults import Fault, FaultPlan, skip_discord_py_backoff
from bot.loopback.interactions import Interaction, InteractionFailed
from bot.loopback.rest import RecordedResponse
from bot.loopback.server import LoopbackDiscord
from bot.loopback.state import Channel, Guild, Member, Message, Role, StoredFile, User

__all__ = [
    "Channel",
    "CommandNotFound",
    "CommandUnavailable",
    "DiscordHTTPError",
    "Fault",
    "FaultPlan",
    "Guild",
    "Interaction",
    "InteractionFailed",
    "LoopbackClock",
    "LoopbackDiscord",
    "Member",
    "Message",
    "OptionError",
    "RecordedResponse",
    "Role",
    "StoredFile",
    "User",
    "UserDriver",
    "skip_discord_py_backoff",
]
