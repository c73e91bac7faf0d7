"""Point the unmodified discord.py client at another Discord: a REST proxy (nirn-proxy) or the loopback server."""

from __future__ import annotations

import logging

import discord.http
import yarl
from discord.gateway import DiscordWebSocket

log = logging.getLogger(__name__)

DISCORD_API_BASE = "https://discord.com/api/v10"
DISCORD_GATEWAY = "wss://gateway.discord.gg/"


def point_discord_py_at(api_base: str | None, gateway_url: str | None) -> None:
    """Return nothing; make this process's discord.py use `api_base` for REST and `gateway_url` for the gateway.

    discord.py has no constructor option for either, so two class attributes are set:

    - `discord.http.Route.BASE`: every REST URL is `Route.BASE + path`, the bot's own calls and
      the interaction webhook's (callbacks, follow-ups, @original edits) alike, because
      `discord.webhook.async_` builds its routes with the same `Route` class. This is also how a
      REST proxy such as nirn-proxy is used with discord.py; leave `gateway_url` None then.
    - `discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`: a non-sharded `Client` connects there
      without asking GET /gateway/bot, and goes back there after an invalidated session. (A
      sharded client asks GET /gateway/bot, which the loopback answers with its own URL; after
      READY, discord.py resumes at READY's `resume_gateway_url`, which the loopback also sets to
      itself.) discord.py replaces the URL's query with `v`, `encoding` and `compress`.

    `None` leaves a setting as it is. Raises ValueError for a URL of the wrong scheme.
    """
    if api_base:
        if yarl.URL(api_base).scheme not in ("http", "https"):
            raise ValueError(f"the Discord API base must be an http(s) URL, not {api_base!r}")
        discord.http.Route.BASE = api_base.rstrip("/")
        log.info("discord.py REST base: %s", discord.http.Route.BASE)
    if gateway_url:
        if yarl.URL(gateway_url).scheme not in ("ws", "wss"):
            raise ValueError(f"the Discord gateway URL must be a ws(s) URL, not {gateway_url!r}")
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url.rstrip("/") + "/")
        log.info("discord.py gateway: %s", DiscordWebSocket.DEFAULT_GATEWAY)


def reset_discord_py() -> None:
    """Return nothing; point discord.py back at discord.com (what tests call when they are done)."""
    discord.http.Route.BASE = DISCORD_API_BASE
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(DISCORD_GATEWAY)
