"""A loopback Discord: a Discord-compatible server on 127.0.0.1 that unmodified discord.py talks to.

`LoopbackDiscord` serves REST under /api/v10, the gateway websocket and uploaded files;
`UserDriver` acts as users (slash commands, components, modals, reactions, messages);
`LoopbackClock` is the time Discord's deadlines are measured on; `FaultPlan` (`server.faults`)
makes chosen REST requests fail as a broken Discord would; `point_discord_py_at`
(in `bot.discord_endpoint`) points discord.py at any Discord-compatible API.
"""

from loopback.clock import LoopbackClock
from loopback.driver import CommandNotFound, CommandUnavailable, OptionError, UserDriver
from loopback.errors import DiscordHTTPError
from loopback.faults import Fault, FaultPlan, skip_discord_py_backoff
from loopback.interactions import Interaction, InteractionFailed
from loopback.rest import RecordedResponse
from loopback.server import LoopbackDiscord
from loopback.state import Channel, Guild, Member, Message, Role, StoredFile, User

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
