"""Sync the application commands with Discord only when they changed.

Discord rate-limits command writes (about 200 a day per guild), and a restart loop that syncs on
every start can exhaust them. The payload Salon would send is hashed with where it goes (the
application, and the dev guild or everywhere); the hash of the last sync Discord accepted is kept
in the data folder, and an unchanged tree is not sent again. `python -m bot sync` forces a sync.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import discord
from discord import app_commands

log = logging.getLogger(__name__)

STATE_FILE = "command-tree.json"


def tree_fingerprint(tree: app_commands.CommandTree, application_id: int | None, guild_id: int | None) -> str:
    """Return a hash of the commands `tree` would sync to `guild_id` (None: globally) for the application."""
    guild = discord.Object(guild_id) if guild_id else None
    payload = sorted(
        (command.to_dict(tree) for command in tree.get_commands(guild=guild)),
        key=lambda c: (c.get("type", 1), c["name"]),
    )
    scope = {"application": application_id, "guild": guild_id, "commands": payload}
    return hashlib.sha256(json.dumps(scope, sort_keys=True, default=str).encode()).hexdigest()


class CommandSync:
    """Remembers, in `data_dir`, the fingerprint of the last commands Discord accepted."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / STATE_FILE

    def last_synced(self) -> str | None:
        """Return the fingerprint of the last successful sync, or None (never synced, or unreadable)."""
        try:
            return str(json.loads(self.path.read_text(encoding="utf-8"))["fingerprint"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def remember(self, fingerprint: str) -> None:
        """Record `fingerprint` as synced (written atomically: a crash leaves the old one or the new one)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps({"fingerprint": fingerprint}), encoding="utf-8")
        os.replace(partial, self.path)

    async def sync(self, tree: app_commands.CommandTree, guild_id: int | None, *, force: bool = False) -> bool:
        """Sync `tree` to the dev guild (or globally) unless Discord already has it; return whether it synced."""
        guild = discord.Object(guild_id) if guild_id else None
        if guild is not None:
            tree.copy_global_to(guild=guild)
        fingerprint = tree_fingerprint(tree, tree.client.application_id, guild_id)
        if not force and fingerprint == self.last_synced():
            log.info("application commands unchanged since the last sync; not sending them again")
            return False
        synced = await tree.sync(guild=guild)
        self.remember(fingerprint)
        log.info("synced %d application commands", len(synced))
        return True
