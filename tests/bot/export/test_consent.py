"""Publication consent: a member's own choice wins; otherwise the guild's default (off unless set)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.export.consent import ConsentService
from bot.store import Actor, Database, list_events

pytestmark = pytest.mark.asyncio(loop_scope="function")

ALICE, BOB, MOD = Actor("1", "alice"), Actor("2", "bob"), Actor("9", "mod")


@pytest.fixture
async def consents(tmp_path: Path) -> AsyncIterator[ConsentService]:
    db = Database(tmp_path / "salon.db")
    await db.open()
    yield ConsentService(db)
    await db.close()


async def test_own_choice_then_guild_default(consents: ConsentService) -> None:
    assert await consents.consented("g", ["1", "2", "3"]) == set()  # nobody is published by default
    await consents.choose(ALICE, "g", True)
    await consents.choose(BOB, "g", False)
    assert await consents.consented("g", ["1", "2", "3"]) == {"1"}
    await consents.set_default(MOD, "g", True)
    assert await consents.consented("g", ["1", "2", "3"]) == {"1", "3"}  # bob said no, and stays out
    assert await consents.consented("other", ["1"]) == set()  # a choice holds in its guild only
    assert await consents.consented(None, ["1"]) == set()
    kinds = [e.kind for e in await list_events(consents.db, kinds=("consent.set", "consent.default"))]
    assert kinds == ["consent.set", "consent.set", "consent.default"]
