"""A loopback Discord: a Discord-compatible server on 127.0.0.1 that unmodified discord.py talks to."""

from bot.loopback.clock import LoopbackClock
from bot.loopback.driver import CommandNotFound, UserDriver
from bot.loopback.server import DiscordHTTPError, Interaction, LoopbackDiscord
from bot.loopback.state import Channel, Guild, Message, User

__all__ = [
    "Channel",
    "CommandNotFound",
    "DiscordHTTPError",
    "Guild",
    "Interaction",
    "LoopbackClock",
    "LoopbackDiscord",
    "Message",
    "User",
    "UserDriver",
]
