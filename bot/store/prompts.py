"""Prompts, kept as a lineage tree (each refinement names its parent)."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from bot.store.database import Database, row_dict, utc_now


@dataclass(frozen=True)
class Prompt:
    """One row of `prompts`."""

    id: int
    session_id: int
    parent_id: int | None
    author_id: str
    text: str
    negative_text: str
    created_at: str


async def insert_prompt(
    conn: aiosqlite.Connection,
    *,
    session_id: int,
    author_id: str,
    text: str,
    negative_text: str = "",
    parent_id: int | None = None,
) -> int:
    """Insert a prompt inside the caller's transaction and return its id."""
    cursor = await conn.execute(
        "INSERT INTO prompts (session_id, parent_id, author_id, text, negative_text, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (session_id, parent_id, author_id, text, negative_text, utc_now()),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def get_prompt(db: Database, prompt_id: int) -> Prompt | None:
    """Return the prompt with this id, or None."""
    row = await db.fetchone("SELECT * FROM prompts WHERE id = ?", (prompt_id,))
    return Prompt(**row_dict(row)) if row else None


async def prompt_lineage(db: Database, prompt_id: int) -> list[Prompt]:
    """Return the prompt and its ancestors, root first."""
    rows = await db.fetchall(
        "WITH RECURSIVE chain(id, depth) AS ("
        " SELECT id, 0 FROM prompts WHERE id = ?"
        " UNION ALL SELECT p.parent_id, chain.depth + 1 FROM prompts p JOIN chain ON p.id = chain.id"
        " WHERE p.parent_id IS NOT NULL)"
        " SELECT prompts.* FROM chain JOIN prompts ON prompts.id = chain.id ORDER BY chain.depth DESC",
        (prompt_id,),
    )
    return [Prompt(**row_dict(row)) for row in rows]
