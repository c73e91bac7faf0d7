"""The GPU benchmark script stays runnable: it builds and measures the tiny architecture on the CPU."""

from __future__ import annotations

import json

import pytest

from bench.gpu_pipelines import ARCHITECTURES, measure


def test_measures_the_tiny_architecture_on_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    measure("tiny", [1], "fp32", "cpu", small=True)
    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines() if text.startswith("{")]
    assert line["arch"] == "tiny" and line["batch"] == 1 and line["steps"] == 2
    for key in ("images_per_s", "unet_it_per_s", "unet_tflops", "matmul_peak_tflops", "fraction_of_peak"):
        assert line[key] > 0


def test_every_architecture_config_names_its_parts() -> None:
    names = {path.stem for path in ARCHITECTURES.glob("*.json")}
    assert {"sd15", "sdxl", "sd_turbo", "tiny"} <= names
    for path in ARCHITECTURES.glob("*.json"):
        arch = json.loads(path.read_text())
        assert {"pipeline", "resolution", "steps", "unet", "vae", "text_encoders"} <= set(arch)
