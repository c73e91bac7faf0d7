"""Batches run in one call, and halve themselves when the device runs out of memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from gpu_worker.batch_runner import BatchItem, BatchOutOfMemoryError, run_batch, run_with_oom_split
from gpu_worker.models import load_pipeline
from gpu_worker.requests import GenerationRequest
from gpu_worker.worker_process import WorkerContext


class SmallDevice:
    """The tiny pipeline on a pretend device that holds at most `limit` images per call."""

    def __init__(self, pipeline: Any, limit: int) -> None:
        self._pipeline = pipeline
        self.limit = limit
        self.calls: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pipeline, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("_pipeline", "limit", "calls"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._pipeline, name, value)

    def __call__(self, **arguments: Any) -> Any:
        size = arguments["latents"].shape[0]
        self.calls.append(size)
        if size > self.limit:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {size} images")
        return self._pipeline(**arguments)


@pytest.fixture(scope="module")
def context(models_dir: Path) -> WorkerContext:
    return WorkerContext("cpu", load_pipeline("tiny", "cpu", models_dir))


def item(job_id: str, seeds: tuple[int, ...], **changes: Any) -> BatchItem:
    values: dict[str, Any] = {"width": 64, "height": 64, "steps": 2, **changes}
    return BatchItem(job_id, GenerationRequest(kind="txt2img", prompt=job_id, seeds=seeds, **values))


def never_stop(step: int, total: int, latents: Any) -> bool:
    return False


def test_out_of_memory_halves_the_batch_and_keeps_every_image(context: WorkerContext) -> None:
    small = SmallDevice(context.base, limit=2)
    squeezed = WorkerContext("cpu", small)
    items = [item("a", (1, 2, 3)), item("b", (4,))]
    results = run_with_oom_split(squeezed, items, 4, never_stop)
    assert results is not None
    assert small.calls == [4, 2, 2]
    assert results["a"].seeds == (1, 2, 3) and len(results["a"].images) == 3
    assert results["b"].seeds == (4,) and len(results["b"].images) == 1
    # Halved batches use two slots: the same images as a two-slot run of the same seeds.
    direct = run_batch(context, [item("a", (3,)), item("b", (4,))], 2, never_stop)
    assert direct is not None and results["b"].images == direct["b"].images


def test_single_image_that_does_not_fit_suggests_a_smaller_size(context: WorkerContext) -> None:
    hopeless = WorkerContext("cpu", SmallDevice(context.base, limit=0))
    with pytest.raises(BatchOutOfMemoryError, match=r"a single 64×64 image does not fit.*try a smaller size"):
        run_with_oom_split(hopeless, [item("a", (1, 2))], 2, never_stop)


def test_other_errors_are_not_mistaken_for_memory(context: WorkerContext) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        run_with_oom_split(context, [item("a", (1,))], 1, never_stop, runner=broken)


def test_stopping_at_a_step_returns_none(context: WorkerContext) -> None:
    steps: list[int] = []

    def stop_at_first(step: int, total: int, latents: Any) -> bool:
        steps.append(step)
        return True

    assert run_batch(context, [item("a", (1,), steps=20)], 1, stop_at_first) is None
    assert steps[0] == 1
