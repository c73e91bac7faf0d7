"""A generation service on the real tiny pool, shared by the export and region tests (a module may define its own)."""

from __future__ import annotations

from pathlib import Path

import pytest_asyncio

from bot.generation import GenerationDefaults, GenerationService
from bot.store import Database, ImageFiles
from gpu_worker import ProcessPool


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool(models_dir: Path):
    started = ProcessPool("tiny", ["cpu"], models_dir, batch_size=2)
    await started.start()
    yield started
    await started.close()


@pytest_asyncio.fixture(loop_scope="module")
async def generation(pool: ProcessPool, tmp_path: Path):
    db = Database(tmp_path / "salon.db")
    await db.open()
    defaults = GenerationDefaults(model="tiny", width=64, height=64, steps=2, count=2)
    yield GenerationService(db, ImageFiles(tmp_path / "images"), pool, defaults=defaults)
    await db.close()
