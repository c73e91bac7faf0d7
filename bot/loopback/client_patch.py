"""Point the unmodified discord.py client at another Discord: a REST proxy or the loopback server."""

from __future__ import annotations

import discord
import discord.http
import yarl
from discord.gateway import DiscordWebSocket


def point_discord_py_at(api_base: str | None, gateway_url: str | None) -> None:
    """Set discord.py's REST base and gateway URL for this process.

    discord.py has no constructor option for either: every REST call (the bot's and the
    interaction webhooks') is built from the class attribute `Route.BASE`, and a non-sharded
    client connects to `DiscordWebSocket.DEFAULT_GATEWAY` (and later to READY's
    `resume_gateway_url`). Setting both class attributes is how REST proxies such as nirn-proxy
    are used with discord.py, and it is how the loopback server is reached.
    """
    if api_base:
        discord.http.Route.BASE = api_base.rstrip("/")
    if gateway_url:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url.rstrip("/") + "/")
