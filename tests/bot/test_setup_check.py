"""The deep check catches a model that loads and then cannot make an image (what SD3 did to every job)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import gpu_worker.batch_runner
from bot.settings import load_settings
from bot.setup_check import generation_problems


def test_a_model_that_loads_but_cannot_draw_is_one_line(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fails(*args: Any, **kwargs: Any) -> None:
        raise AttributeError("'StableDiffusion3Pipeline' object has no attribute 'unet'\nmore detail")

    monkeypatch.setattr(gpu_worker.batch_runner, "run_batch", fails)
    settings = load_settings(model_cache_dir=models_dir, data_dir=models_dir.parent / "data")
    assert generation_problems(settings) == [
        "SALON_MODEL_SOURCE: 'tiny' loads but cannot make an image: "
        "AttributeError: 'StableDiffusion3Pipeline' object has no attribute 'unet'"
    ]


def test_the_tiny_model_draws_in_one_step(models_dir: Path) -> None:
    assert generation_problems(load_settings(model_cache_dir=models_dir, data_dir=models_dir.parent / "data")) == []
