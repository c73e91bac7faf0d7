"""The typed job: one codec with a version, and the migration that converts rows stored before it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.jobs.codec import SpecDecodeError, decode_spec, encode_spec
from bot.jobs.spec import Feature, ImagineOptions, JobSpec, Lineage, Origin, PartyRef, Render
from bot.store import Database
from bot.store.database import bundled_migrations
from bot.store.jobs import JobState, get_job

SPEC = JobSpec(
    Feature.PARTY_ROUND,
    Origin.ROUND_BASE,
    ImagineOptions("a chair", count=2, journey=True),
    "a chair",
    Render(
        "img2img",
        "a chair, oil",
        "",
        (5, 6),
        64,
        64,
        4,
        7.0,
        "euler",
        "tiny",
        0.6,
        init_image_sha256="a" * 64,
        regions=((0.0, 0.0, 0.5, 1.0, "sky"),),
        priority=10,
        share_key="party:3",
    ),
    theme="calm",
    lineage=Lineage(1, 2, 3),
    party=PartyRef(3, 4, 2),
)


def test_a_spec_survives_its_codec_unchanged() -> None:
    text = encode_spec(SPEC)
    assert json.loads(text)["v"] == 2
    assert decode_spec(text) == SPEC
    assert decode_spec(text).render.seeds == (5, 6) and decode_spec(text).party == PartyRef(3, 4, 2)


def test_an_unknown_version_or_a_damaged_spec_is_named() -> None:
    with pytest.raises(SpecDecodeError, match="version 1 is not 2"):
        decode_spec(json.dumps({"v": 1, "prompt": "x"}))
    damaged = json.loads(encode_spec(SPEC))
    damaged["render"]["seeds"] = "many"
    with pytest.raises(SpecDecodeError, match="seeds"):
        decode_spec(json.dumps(damaged))


async def test_migration_converts_jobs_stored_before_it(tmp_path: Path) -> None:
    db = Database(tmp_path / "salon.db")
    await db.open(bundled_migrations()[:6])
    params = {
        "kind": "img2img",
        "prompt": "a cat, oil",
        "negative_prompt": "",
        "seeds": [4, 5],
        "width": 64,
        "height": 64,
        "steps": 4,
        "guidance": 7.0,
        "scheduler": "euler",
        "model": "tiny",
        "strength": 0.45,
        "requester": "1",
        "session": "channel:2",
        "priority": 0,
        "journey": False,
        "regions": [],
        "options": {"prompt": "a cat", "style": "oil"},
        "user_prompt": "a cat",
        "style": "oil",
        "theme": None,
        "notes": [],
        "init_image_sha256": "b" * 64,
        "lineage": {"action": "variation", "parent_job_id": 1, "parent_prompt_id": 1, "source_image_id": None},
        "varied_from": {"job_id": 1, "idx": 1, "seed": 9},
    }
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO sessions (id, kind, channel_id, created_by, created_at) VALUES (1, 'stream', '2', '1', 'x')"
        )
        await conn.execute(
            "INSERT INTO prompts (id, session_id, author_id, text, created_at) VALUES (1, 1, '1', 'a cat', 'x')"
        )
        for job_id, state in ((1, "done"), (2, "queued")):
            await conn.execute(
                "INSERT INTO jobs (id, session_id, prompt_id, requester_id, guild_id, channel_id, kind, state, params,"
                " reply_message_id, created_at, finished_at) VALUES (?, 1, 1, '1', '9', '2', 'img2img', ?, ?, '77',"
                " 'x', 'y')",
                (job_id, state, json.dumps(params)),
            )
    await db.close()
    db = Database(tmp_path / "salon.db")
    await db.open()
    try:
        done, queued = await get_job(db, 1), await get_job(db, 2)
        assert done is not None and queued is not None
        assert done.state is JobState.DELIVERED and done.result_message_id == "77" and done.delivered_at == "y"
        assert queued.state is JobState.QUEUED and queued.delivered_at is None
        spec = done.spec
        assert spec.origin is Origin.VARIATION and spec.feature is Feature.IMAGINE and spec.style == "oil"
        assert spec.render.seeds == (4, 5) and spec.render.share_key == "channel:2"
        assert spec.lineage == Lineage(1, 1, None, source_idx=1, source_seed=9)
        assert done.rules_channel_id == "2" and (await db.fetchone("PRAGMA foreign_keys"))[0] == 1
    finally:
        await db.close()
