"""Stored channel themes and guild blocklists (rows only; the rules live in bot/themes/service.py)."""

from __future__ import annotations

import json
from typing import Any

import aiosqlite

from bot.store.database import Database, utc_now


async def save_channel_theme(
    conn: aiosqlite.Connection, *, channel_id: str, guild_id: str | None, name: str, theme: dict[str, Any], set_by: str
) -> None:
    """Set (or replace) a channel's theme inside the caller's transaction."""
    await conn.execute(
        "INSERT INTO channel_themes (channel_id, guild_id, name, theme, set_by, set_at) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (channel_id) DO UPDATE SET guild_id = excluded.guild_id, name = excluded.name,"
        " theme = excluded.theme, set_by = excluded.set_by, set_at = excluded.set_at",
        (channel_id, guild_id, name, json.dumps(theme, sort_keys=True), set_by, utc_now()),
    )


async def load_channel_theme(db: Database, channel_id: str) -> dict[str, Any] | None:
    """Return a channel's stored theme as a dict, or None when the channel has none."""
    row = await db.fetchone("SELECT theme FROM channel_themes WHERE channel_id = ?", (channel_id,))
    return json.loads(row[0]) if row else None


async def delete_channel_theme(conn: aiosqlite.Connection, channel_id: str) -> bool:
    """Remove a channel's theme; return whether it had one."""
    cursor = await conn.execute("DELETE FROM channel_themes WHERE channel_id = ?", (channel_id,))
    return cursor.rowcount > 0


async def add_blocked_term(conn: aiosqlite.Connection, *, guild_id: str, term: str, added_by: str) -> bool:
    """Block a term in a guild; return False if it was already blocked."""
    cursor = await conn.execute(
        "INSERT OR IGNORE INTO guild_blocklist (guild_id, term, added_by, added_at) VALUES (?, ?, ?, ?)",
        (guild_id, term, added_by, utc_now()),
    )
    return cursor.rowcount > 0


async def remove_blocked_term(conn: aiosqlite.Connection, *, guild_id: str, term: str) -> bool:
    """Unblock a term; return whether it was blocked."""
    cursor = await conn.execute("DELETE FROM guild_blocklist WHERE guild_id = ? AND term = ?", (guild_id, term))
    return cursor.rowcount > 0


async def blocked_terms(db: Database, guild_id: str) -> list[str]:
    """Return a guild's blocked terms, sorted."""
    rows = await db.fetchall("SELECT term FROM guild_blocklist WHERE guild_id = ? ORDER BY term", (guild_id,))
    return [str(row[0]) for row in rows]
