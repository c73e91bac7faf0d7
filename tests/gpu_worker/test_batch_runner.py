"""Batches run in one call per prompt length, and halve themselves when the device runs out of memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from gpu_worker.batch_runner import BatchItem, BatchOutOfMemoryError, run_batch, run_with_oom_split
from gpu_worker.models import load_pipeline
from gpu_worker.prompt_encoding import MAX_PROMPT_WINDOWS, encode_prompt
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
    values: dict[str, Any] = {"prompt": job_id, "width": 64, "height": 64, "steps": 2, **changes}
    return BatchItem(job_id, GenerationRequest(kind="txt2img", seeds=seeds, **values))


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


# The tiny tokenizer spends a token per letter, 25 on this phrase and one per comma. Compel splits
# long prompts at commas, two phrases a window: four phrases fill two windows, twelve overflow three.
PHRASE = "a lighthouse on a cliff at dusk"
TWO_WINDOWS = ", ".join([PHRASE] * 4)
TOO_LONG = ", ".join([PHRASE] * 12)


def windows_of(context: WorkerContext, prompt: str) -> int:
    return encode_prompt(context.base, prompt, "", "cpu", guided=True).length // 77


def test_long_prompt_batched_with_a_short_one_gives_both_the_same_bytes_as_alone(context: WorkerContext) -> None:
    assert windows_of(context, TWO_WINDOWS) == 2 and windows_of(context, "b") == 1
    spy = SmallDevice(context.base, limit=99)
    together = run_batch(
        WorkerContext("cpu", spy), [item("long", (1, 2), prompt=TWO_WINDOWS), item("short", (3,))], 4, never_stop
    )
    assert together is not None
    assert spy.calls == [4, 4]  # one call per embedding length, each padded to the usual slots
    long_alone = run_batch(context, [item("long", (1, 2), prompt=TWO_WINDOWS)], 4, never_stop)
    short_alone = run_batch(context, [item("short", (3,))], 4, never_stop)
    assert long_alone is not None and short_alone is not None
    assert together["long"].images == long_alone["long"].images
    assert together["short"].images == short_alone["short"].images
    assert together["long"].seeds == (1, 2) and together["short"].seeds == (3,)


def test_jobs_of_the_same_length_share_a_call_and_results_keep_job_order(context: WorkerContext) -> None:
    spy = SmallDevice(context.base, limit=99)
    items = [item("a", (1,)), item("long", (2,), prompt=TWO_WINDOWS), item("c", (3, 4))]
    results = run_batch(WorkerContext("cpu", spy), items, 4, never_stop)
    assert results is not None
    assert spy.calls == [4, 4]  # a and c together, then the long one
    assert list(results) == ["a", "long", "c"]
    alone = run_batch(context, [item("a", (1,)), item("c", (3, 4))], 4, never_stop)
    assert alone is not None
    assert results["a"].images == alone["a"].images and results["c"].images == alone["c"].images
    assert results["long"].timings["batch_calls"] == 2.0 and results["long"].timings["batch_images"] == 4.0


def test_dropped_text_is_reported_per_job(context: WorkerContext) -> None:
    results = run_batch(context, [item("long", (1,), prompt=TOO_LONG), item("short", (2,))], 2, never_stop)
    assert results is not None
    assert windows_of(context, TOO_LONG) == MAX_PROMPT_WINDOWS
    dropped = results["long"].dropped_text
    assert dropped and TOO_LONG.endswith(dropped.replace(" ,", ","))
    assert results["short"].dropped_text == ""


def test_several_calls_report_progress_as_one_run_with_every_image(context: WorkerContext) -> None:
    seen: list[tuple[int, int, int]] = []

    def record(step: int, total: int, latents: Any) -> bool:
        seen.append((step, total, latents.shape[0]))
        return False

    items = [item("short", (1,)), item("long", (2, 3), prompt=TWO_WINDOWS)]
    assert run_batch(context, items, 4, record) is not None
    assert seen == [(1, 4, 3), (2, 4, 3), (3, 4, 3), (4, 4, 3)]


def test_stopping_in_the_first_call_skips_the_others(context: WorkerContext) -> None:
    spy = SmallDevice(context.base, limit=99)
    items = [item("short", (1,)), item("long", (2,), prompt=TWO_WINDOWS)]
    assert run_batch(WorkerContext("cpu", spy), items, 2, lambda *step: True) is None
    assert spy.calls == [2]


def test_out_of_memory_halving_keeps_the_dropped_text(context: WorkerContext) -> None:
    small = SmallDevice(context.base, limit=1)
    results = run_with_oom_split(WorkerContext("cpu", small), [item("long", (1, 2), prompt=TOO_LONG)], 2, never_stop)
    assert results is not None
    assert small.calls == [2, 1, 1]
    assert results["long"].seeds == (1, 2) and len(results["long"].images) == 2
    assert results["long"].dropped_text


def test_a_job_larger_than_the_batch_runs_in_calls_of_the_batch_size_with_the_same_images(
    context: WorkerContext,
) -> None:
    # Nine images on a pool of eight slots: the slots, not the job, set how much the device holds.
    spy = SmallDevice(context.base, limit=2)
    seen: list[tuple[int, int, int]] = []

    def record(step: int, total: int, latents: Any) -> bool:
        seen.append((step, total, latents.shape[0]))
        return False

    results = run_batch(WorkerContext("cpu", spy), [item("big", (1, 2, 3))], 2, record)
    assert results is not None
    assert spy.calls == [2, 2]  # two images, then one padded to the two slots
    assert results["big"].seeds == (1, 2, 3) and len(results["big"].images) == 3
    assert [step for step, *_ in seen] == [1, 2, 3, 4] and {images for *_, images in seen} == {3}
    first = run_batch(context, [item("big", (1, 2))], 2, never_stop)
    last = run_batch(context, [item("big", (3,))], 2, never_stop)
    assert first is not None and last is not None
    assert results["big"].images == first["big"].images + last["big"].images
