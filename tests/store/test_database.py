"""The SQLite store: pragmas, migrations, the append-only event log and the job state machine."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.jobs.spec import Feature, ImagineOptions, JobSpec, Origin, Render
from bot.store import SYSTEM, Actor, Database, append_event, list_events
from bot.store.database import bundled_migrations
from bot.store.jobs import InvalidJobTransition, JobState, Shown, get_job, insert_job, transition_job
from bot.store.prompts import insert_prompt, prompt_lineage
from bot.store.sessions import open_stream

ALICE = Actor("1001", "alice")


@pytest.fixture
async def db(tmp_path: Path):
    database = Database(tmp_path / "salon.db")
    await database.open()
    yield database
    await database.close()


SPEC = JobSpec(
    Feature.IMAGINE,
    Origin.FRESH,
    ImagineOptions("a cat"),
    "a cat",
    Render("txt2img", "a cat", "", (1,), 64, 64, 2, 7.0, "euler", "tiny", 0.75),
)


async def _job(db: Database) -> int:
    async with db.transaction() as conn:
        session_id = await open_stream(conn, guild_id="1", channel_id="2", actor=ALICE)
        prompt_id = await insert_prompt(conn, session_id=session_id, author_id=ALICE.id, text="a cat")
        return await insert_job(
            conn,
            session_id=session_id,
            prompt_id=prompt_id,
            requester_id=ALICE.id,
            guild_id="1",
            shown=Shown("2", "2"),
            spec=SPEC,
        )


async def test_pragmas_and_schema_version(db: Database) -> None:
    assert (await db.fetchone("PRAGMA journal_mode"))[0] == "wal"
    assert (await db.fetchone("PRAGMA foreign_keys"))[0] == 1
    assert (await db.fetchone("PRAGMA busy_timeout"))[0] == 3000
    assert await db.schema_version() == len(bundled_migrations())


async def test_reopening_applies_no_migration_twice(tmp_path: Path) -> None:
    first = Database(tmp_path / "salon.db")
    await first.open()
    await _job(first)
    await first.close()
    again = Database(tmp_path / "salon.db")
    await again.open()
    assert (await again.fetchone("SELECT COUNT(*) FROM jobs"))[0] == 1
    await again.close()


async def test_failing_migration_rolls_back_whole(tmp_path: Path) -> None:
    shipped = bundled_migrations()
    broken = [*shipped, (len(shipped) + 1, "9999_broken.sql", "CREATE TABLE extra (id INTEGER);\nSELECT nope FROM;")]
    database = Database(tmp_path / "salon.db")
    with pytest.raises(sqlite3.OperationalError):
        await database.open(broken)
    assert await database.schema_version() == len(shipped)
    assert await database.fetchone("SELECT name FROM sqlite_master WHERE name = 'extra'") is None
    await database.close()


async def test_events_are_append_only(db: Database) -> None:
    async with db.transaction() as conn:
        await append_event(conn, actor=ALICE, kind="test.step", payload={"text": 'naïve "quoted"'})
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        async with db.transaction() as conn:
            await conn.execute("UPDATE events SET kind = 'forged'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        async with db.transaction() as conn:
            await conn.execute("DELETE FROM events")
    [event] = await list_events(db, kinds=("test.step",))
    assert event.payload == {"text": 'naïve "quoted"'}
    assert event.occurred_at.endswith("Z")


async def test_events_filter_by_session_and_subject(db: Database) -> None:
    job_id = await _job(db)
    async with db.transaction() as conn:
        await append_event(conn, actor=SYSTEM, kind="job.done", session_id=1, subject=("job", job_id))
    events = await list_events(db, session_id=1)
    assert [event.kind for event in events] == ["session.opened", "job.done"]
    assert [e.kind for e in await list_events(db, subject=("job", job_id))] == ["job.done"]


async def test_error_inside_transaction_rolls_back(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await append_event(conn, actor=ALICE, kind="lost")
            raise RuntimeError("boom")
    assert await list_events(db, kinds=("lost",)) == []


async def test_job_state_machine(db: Database) -> None:
    job_id = await _job(db)
    async with db.transaction() as conn:
        await transition_job(conn, job_id, JobState.RUNNING)
        await transition_job(conn, job_id, JobState.GENERATED)
        await transition_job(conn, job_id, JobState.DELIVERED)
    job = await get_job(db, job_id)
    assert job is not None and job.state is JobState.DELIVERED and job.attempts == 1 and job.finished_at
    assert job.delivered_at and job.spec == SPEC
    with pytest.raises(InvalidJobTransition, match="cannot go from delivered to running"):
        async with db.transaction() as conn:
            await transition_job(conn, job_id, JobState.RUNNING)


async def test_job_state_check_constraint(db: Database) -> None:
    job_id = await _job(db)
    with pytest.raises(sqlite3.IntegrityError):
        async with db.transaction() as conn:
            await conn.execute("UPDATE jobs SET state = 'lost' WHERE id = ?", (job_id,))


async def test_prompt_lineage_root_first(db: Database) -> None:
    async with db.transaction() as conn:
        session_id = await open_stream(conn, guild_id=None, channel_id="9", actor=ALICE)
        root = await insert_prompt(conn, session_id=session_id, author_id="1", text="a cat")
        child = await insert_prompt(conn, session_id=session_id, author_id="2", text="a cat, oil", parent_id=root)
        grandchild = await insert_prompt(
            conn, session_id=session_id, author_id="3", text="a cat, oil, dusk", parent_id=child
        )
    assert [p.text for p in await prompt_lineage(db, grandchild)] == ["a cat", "a cat, oil", "a cat, oil, dusk"]


async def test_one_open_stream_per_channel(db: Database) -> None:
    async with db.transaction() as conn:
        first = await open_stream(conn, guild_id="1", channel_id="5", actor=ALICE)
        second = await open_stream(conn, guild_id="1", channel_id="5", actor=SYSTEM)
    assert first == second


async def test_votes_and_region_marks_are_constrained(db: Database) -> None:
    job_id = await _job(db)
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO images (job_id, session_id, prompt_id, idx, seed, sha256, width, height, created_at)"
            " VALUES (?, 1, 1, 0, 7, 'ab', 64, 64, 'now')",
            (job_id,),
        )
        await conn.execute(
            "INSERT INTO votes (session_id, image_id, voter_id, value, created_at, updated_at)"
            " VALUES (1, 1, '7', 1, 'now', 'now')"
        )
    with pytest.raises(sqlite3.IntegrityError):
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO votes (session_id, image_id, voter_id, value, created_at, updated_at)"
                " VALUES (1, 1, '7', -1, 'now', 'now')"
            )
    with pytest.raises(sqlite3.IntegrityError):
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO region_marks (session_id, image_id, author_id, lattice_rows, lattice_cols, row, col,"
                " mark, created_at) VALUES (1, 1, '7', 4, 4, 4, 0, 'like', 'now')"
            )
    with pytest.raises(sqlite3.IntegrityError):
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO images (job_id, session_id, prompt_id, idx, seed, sha256, width, height, created_at)"
                " VALUES (999, 1, 1, 0, 7, 'ab', 64, 64, 'now')"
            )
