"""One worker serving several registry models: each batch gets its model, loads are announced."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_asyncio

from gpu_worker import GenerationError, GenerationRequest, ProcessPool
from gpu_worker.registry import ModelEntry, ModelRegistry
from gpu_worker.tiny import build_tiny_pipeline_folder

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.worker]


def request(model: str, seed: int = 3) -> GenerationRequest:
    return GenerationRequest(
        kind="txt2img", prompt="a kite over dunes", seeds=(seed,), width=64, height=64, steps=2, model=model
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool(models_dir: Path):
    # Two aliases of the same tiny weights, one by name and one by folder: a budget of 0 keeps one
    # resident, so every switch is a real load.
    registry = ModelRegistry(
        default="tiny",
        models={
            "tiny": ModelEntry(source="tiny"),
            "folder": ModelEntry(source=str(build_tiny_pipeline_folder(models_dir)), description="saved folder"),
        },
    )
    started = ProcessPool(registry, ["cpu"], models_dir, preview_every=0, batch_size=4, restart_backoff_seconds=0.05)
    await started.start()
    yield started
    await started.close()


async def test_a_job_for_another_model_is_told_of_the_load_then_runs(pool: ProcessPool) -> None:
    handle = await pool.submit("other-1", request("folder"))
    updates = [update async for update in handle.progress()]
    result = await handle.result()
    assert updates[0].loading_model == "folder"
    # The default loaded at start, so the worker has a time to go by.
    assert updates[0].loading_seconds is not None and updates[0].loading_seconds >= 0
    assert [u.step for u in updates[1:]] == [1, 2]
    assert all(u.loading_model is None for u in updates[1:])
    assert len(result.images) == 1


async def test_a_resident_model_is_not_announced_and_switching_back_loads_again(pool: ProcessPool) -> None:
    again = await pool.submit("other-2", request("folder"))
    assert all(u.loading_model is None for u in [u async for u in again.progress()])
    folder_image = (await again.result()).images[0]
    back = await pool.submit("default-1", request(""))
    updates = [u async for u in back.progress()]
    assert updates[0].loading_model == "tiny"
    # Same weights under two aliases, same seed: the same image, whichever alias loaded it.
    assert (await back.result()).images[0] == folder_image


async def test_an_alias_the_registry_lacks_fails_the_job_naming_the_served_ones(pool: ProcessPool) -> None:
    handle = await pool.submit("unknown-1", request("sdxl"))
    with pytest.raises(GenerationError, match="no model 'sdxl' here; this worker serves tiny, folder"):
        await handle.result()
    healthy = await pool.submit("after-1", request("tiny"))
    assert len((await healthy.result()).images) == 1


async def test_jobs_submitted_while_the_first_model_loads_wait_and_run(models_dir: Path) -> None:
    fresh = ProcessPool("tiny", ["cpu"], models_dir, preview_every=0, restart_backoff_seconds=0.05)
    assert fresh.health().starting and fresh.health().paused
    starting = asyncio.create_task(fresh.start())
    try:
        handle = await fresh.submit("early-1", request(""))
        assert fresh.position("early-1") == 0
        await starting
        assert not fresh.health().starting and fresh.health().ready_workers == 1
        assert len((await handle.result()).images) == 1
    finally:
        await fresh.close()
