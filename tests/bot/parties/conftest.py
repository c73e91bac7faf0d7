"""A party service on a fresh store, without a pool: these tests run no rounds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.generation import GenerationService
from bot.parties.service import PartyService
from bot.store import Database, ImageFiles


class NoPool:
    """The party service needs the generation service only for rounds; these tests make none."""

    def add_listener(self, listener: object) -> None:
        """Take the service's listener; this pool has nothing to tell."""


@pytest.fixture
async def parties(tmp_path: Path) -> AsyncIterator[PartyService]:
    db = Database(tmp_path / "salon.db")
    await db.open()
    generation = GenerationService(db, ImageFiles(tmp_path / "images"), NoPool())  # type: ignore[arg-type]
    yield PartyService(db, generation)
    await db.close()
