"""Service fixtures: Salon's services on a fresh store, over the in-memory pool (or, where marked, the real one).

Most service tests need a pool that queues, schedules, reports progress and fails like the real
one, not torch: `MemoryPool`. What only a worker process can show (byte-identical images from
seeds, batching on a device, crashes) uses `real_pool`, and its tests are marked `worker`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.services import Services
from bot.settings import Settings
from gpu_worker import ProcessPool
from gpu_worker.memory_pool import MemoryPool
from tests.bot.service_kit import make_settings, open_services


@pytest.fixture
def test_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def memory_pool() -> AsyncIterator[MemoryPool]:
    pool = MemoryPool(batch_size=2)
    await pool.start()
    yield pool
    await pool.close()


@pytest.fixture
async def services(test_settings: Settings, memory_pool: MemoryPool) -> AsyncIterator[Services]:
    built, db = await open_services(test_settings, memory_pool)
    yield built
    await built.jobs.shutdown()
    await db.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def real_pool(models_dir: Path) -> AsyncIterator[ProcessPool]:
    started = ProcessPool("tiny", ["cpu"], models_dir, batch_size=2)
    await started.start()
    yield started
    await started.close()


@pytest_asyncio.fixture(loop_scope="module")
async def real_services(real_pool: ProcessPool, tmp_path: Path) -> AsyncIterator[Services]:
    built, db = await open_services(make_settings(tmp_path), real_pool)
    yield built
    await db.close()
