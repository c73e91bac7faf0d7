"""Regional prompts at generation time on the tiny pipeline: regions steer their part of the image."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image, ImageChops, ImageStat

from gpu_worker.batch_runner import BatchItem, run_batch
from gpu_worker.models import load_pipeline
from gpu_worker.regional import region_weights
from gpu_worker.requests import GenerationRequest
from gpu_worker.worker_process import WorkerContext


@pytest.fixture(scope="module")
def context(models_dir: Path) -> WorkerContext:
    return WorkerContext("cpu", load_pipeline("tiny", "cpu", models_dir))


def generate(context: WorkerContext, prompt: str, regions: tuple = ()) -> Image.Image:
    request = GenerationRequest(
        kind="txt2img", prompt=prompt, seeds=(7,), width=64, height=64, steps=3, regions=regions
    )
    results = run_batch(context, [BatchItem("j", request)], 1, lambda *_: False)
    assert results is not None
    return Image.open(io.BytesIO(results["j"].images[0])).convert("RGB")


def difference(a: Image.Image, b: Image.Image, box: tuple[int, int, int, int] | None = None) -> float:
    diff = ImageChops.difference(a, b)
    return sum(ImageStat.Stat(diff.crop(box) if box else diff).mean) / 3


def test_weights_share_overlaps_and_never_exceed_one() -> None:
    weights = region_weights([(0, 0, 0.75, 1, "a"), (0.5, 0, 1, 1, "b")], 4, 4, "cpu", torch.float32)
    total = weights[0] + weights[1]
    assert torch.all(total <= 1.0) and float(weights[0][0, 0, 0, 0]) == 1.0 and float(weights[0][0, 0, 0, 2]) == 0.5


def test_a_region_over_the_whole_image_is_its_prompt(context: WorkerContext) -> None:
    plain = generate(context, "a red kite")
    covered = generate(context, "a blue car", regions=((0, 0, 1, 1, "a red kite"),))
    other = generate(context, "a blue car")
    # The same conditioning, computed in a separate UNet pass: equal to a float's rounding.
    assert difference(plain, covered) < 1.0 < difference(other, covered)


def test_a_region_changes_its_part_more_than_the_rest(context: WorkerContext) -> None:
    base = generate(context, "a blue car")
    steered = generate(context, "a blue car", regions=((0, 0, 0.5, 1, "a red kite on a stormy sky"),))
    assert difference(base, steered, (0, 0, 32, 64)) > difference(base, steered, (40, 0, 64, 64))


def test_regions_are_checked_and_kept_apart_in_batches() -> None:
    from gpu_worker.scheduling import batch_key

    with pytest.raises(ValueError, match="a box inside the image"):
        GenerationRequest(kind="txt2img", prompt="x", seeds=(1,), regions=((0.5, 0, 0.2, 1, "y"),)).validate()
    with pytest.raises(ValueError, match="every region needs a prompt"):
        GenerationRequest(kind="txt2img", prompt="x", seeds=(1,), regions=((0, 0, 1, 1, " "),)).validate()
    plain: Any = GenerationRequest(kind="txt2img", prompt="x", seeds=(1,))
    regional = GenerationRequest(kind="txt2img", prompt="x", seeds=(1,), regions=((0, 0, 1, 1, "y"),))
    assert batch_key(plain) != batch_key(regional)
