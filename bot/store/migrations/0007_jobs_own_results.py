"""Issue 12: a job's spec is one typed, versioned record, and its life goes on to a delivered result.

The jobs table is rebuilt (SQLite cannot change a CHECK in place): `params` becomes `spec`, the
states gain `generated` and `delivered` (every old `done` job was shown, so it is `delivered`),
and the row keeps where its result is shown, which message to edit, and each delivery attempt.
Old params are converted here, with the knowledge of this version, so the codec reads only v2.
"""

from __future__ import annotations

import json
from typing import Any

import aiosqlite

from bot.jobs.codec import SPEC_VERSION, encode_spec, spec_from_json

EDIT_ACTIONS = {"regenerate", "add-element", "remove-element", "embolden", "soft-regenerate"}
ORIGIN_OF_ACTION = {
    "reroll": "reroll",
    "remix": "remix",
    "variation": "variation",
    "party-round": "round_base",
    "combine": "combine",
}

NEW_TABLE = """
CREATE TABLE jobs_v7 (
    id                  INTEGER PRIMARY KEY,
    session_id          INTEGER NOT NULL REFERENCES sessions (id),
    prompt_id           INTEGER NOT NULL REFERENCES prompts (id),
    requester_id        TEXT NOT NULL,
    guild_id            TEXT,
    -- Where the result is shown (a channel or a thread), and whose rules applied (the thread's parent).
    channel_id          TEXT NOT NULL,
    rules_channel_id    TEXT NOT NULL,
    feature             TEXT NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('txt2img', 'img2img', 'inpaint')),
    state               TEXT NOT NULL DEFAULT 'queued'
                        CHECK (state IN ('queued', 'running', 'generated', 'delivered', 'failed', 'cancelled')),
    spec                TEXT NOT NULL CHECK (json_valid(spec)),
    priority            INTEGER NOT NULL DEFAULT 0,
    attempts            INTEGER NOT NULL DEFAULT 0,
    error               TEXT,
    -- The message that shows the job while it runs, and the one that shows its result.
    reply_message_id    TEXT,
    result_message_id   TEXT,
    -- The interaction's webhook token while it may still edit the reply (15 minutes); cleared at delivery.
    interaction_app_id  TEXT,
    interaction_token   TEXT,
    interaction_expires_at TEXT,
    -- Set before an upload whose answer may be lost, so a retry first looks for what went through.
    delivery_pending_at TEXT,
    delivery_attempts   INTEGER NOT NULL DEFAULT 0,
    delivery_error      TEXT,
    delivered_at        TEXT,
    created_at          TEXT NOT NULL,
    started_at          TEXT,
    finished_at         TEXT,
    parent_job_id       INTEGER REFERENCES jobs (id),
    source_image_id     INTEGER REFERENCES images (id),
    deleted_at          TEXT
)
"""


def upgrade_params(params: dict[str, Any], *, round_id: int | None) -> dict[str, Any]:
    """Return the v2 spec data (without its version) for the params of a job stored before this migration."""
    lineage = params.get("lineage") or {}
    action = lineage.get("action")
    party_id = params.get("party_id")
    if action in EDIT_ACTIONS:
        origin = "inpaint"
    elif params.get("region_plan"):
        origin = "regional_plan"
    elif action in ORIGIN_OF_ACTION:
        origin = ORIGIN_OF_ACTION[action]
    elif party_id is not None:
        origin = "round"
    else:
        origin = "fresh"
    if party_id is not None:
        feature = "party_round"
    elif origin in ("inpaint", "combine", "regional_plan"):
        feature = "region_edit"
    else:
        feature = "imagine"
    edit = None
    if feature == "region_edit":
        edit = {
            "action": "plan" if origin == "regional_plan" else action,
            "cells": list(params.get("cells") or []),
            "combined_from": list(params.get("combined_from") or []),
            "plan": params.get("region_plan"),
        }
    varied = params.get("varied_from") or {}
    init_sha = params.get("init_image_sha256")
    return {
        "feature": feature,
        "origin": origin,
        "options": params.get("options") or {"prompt": params.get("user_prompt") or params["prompt"]},
        "user_prompt": params.get("user_prompt") or params["prompt"],
        "render": {
            "kind": params["kind"],
            "prompt": params["prompt"],
            "negative_prompt": params.get("negative_prompt", ""),
            "seeds": list(params["seeds"]),
            "width": params["width"],
            "height": params["height"],
            "steps": params["steps"],
            "guidance": params["guidance"],
            "scheduler": params.get("scheduler", "euler"),
            "model": params.get("model", "tiny"),
            "strength": params.get("strength", 0.75),
            "init_image_sha256": init_sha,
            "mask_sha256": params.get("mask_sha256"),
            "keep_unmasked": bool(params.get("keep_unmasked")),
            "journey": bool(params.get("journey")),
            "regions": [list(region) for region in params.get("regions") or ()],
            "priority": params.get("priority", 0),
            "share_key": params.get("session", ""),
        },
        "theme": params.get("theme"),
        "style": params.get("style"),
        "notes": list(params.get("notes") or []),
        "wildcards": [],
        "lineage": (
            {
                "parent_job_id": lineage["parent_job_id"],
                "parent_prompt_id": lineage["parent_prompt_id"],
                "source_image_id": lineage.get("source_image_id"),
                "source_idx": varied.get("idx"),
                "source_seed": varied.get("seed"),
            }
            if lineage
            else None
        ),
        "party": (
            {"party_id": party_id, "round_id": round_id or 0, "prompt_version": params.get("prompt_version") or 0}
            if party_id is not None
            else None
        ),
        "edit": edit,
        "content_sha256": init_sha if origin in ("fresh", "reroll", "remix") and init_sha else None,
    }


async def migrate(conn: aiosqlite.Connection) -> None:
    """Rebuild `jobs` with v2 specs and delivery columns, converting every row."""
    await conn.execute(NEW_TABLE)
    cursor = await conn.execute("SELECT * FROM jobs ORDER BY id")
    rows = await cursor.fetchall()
    await cursor.close()
    for row in rows:
        values = dict(zip(row.keys(), tuple(row), strict=True))
        params = json.loads(values["params"])
        found = await conn.execute("SELECT id FROM rounds WHERE job_id = ?", (values["id"],))
        round_row = await found.fetchone()
        await found.close()
        spec = spec_from_json(upgrade_params(params, round_id=round_row[0] if round_row else None))
        state = "delivered" if values["state"] == "done" else values["state"]
        delivered_at = values["finished_at"] if values["state"] in ("done", "failed", "cancelled") else None
        await conn.execute(
            "INSERT INTO jobs_v7 (id, session_id, prompt_id, requester_id, guild_id, channel_id, rules_channel_id,"
            " feature, kind, state, spec, priority, attempts, error, reply_message_id, result_message_id,"
            " delivered_at, created_at, started_at, finished_at, parent_job_id, source_image_id, deleted_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                values["id"],
                values["session_id"],
                values["prompt_id"],
                values["requester_id"],
                values["guild_id"],
                values["channel_id"],
                values["channel_id"],
                spec.feature.value,
                values["kind"],
                state,
                encode_spec(spec),
                values["priority"],
                values["attempts"],
                values["error"],
                values["reply_message_id"],
                values["reply_message_id"] if state == "delivered" else None,
                delivered_at,
                values["created_at"],
                values["started_at"],
                values["finished_at"],
                values["parent_job_id"],
                values["source_image_id"],
                values["deleted_at"],
            ),
        )
    await conn.execute("DROP TABLE jobs")
    await conn.execute("ALTER TABLE jobs_v7 RENAME TO jobs")
    await conn.execute("CREATE INDEX jobs_state ON jobs (state, id)")
    await conn.execute("CREATE INDEX jobs_requester ON jobs (requester_id, state)")
    await conn.execute("CREATE INDEX jobs_requester_created ON jobs (requester_id, created_at)")


assert SPEC_VERSION == 2, "this migration writes version 2 specs"
