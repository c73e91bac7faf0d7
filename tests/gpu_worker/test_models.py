"""Model sources load through one code path, and failures name the source."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from gpu_worker.models import describe_source, load_pipeline, make_scheduler
from gpu_worker.requests import ModelLoadError
from gpu_worker.tiny import build_tiny_pipeline_folder


@pytest.fixture(scope="module")
def tiny_pipeline(models_dir: Path):
    return load_pipeline("tiny", "cpu", models_dir)


def generate(pipeline, seeds: list[int], prompt: str = "a red cat") -> list[Image.Image]:
    generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]
    return pipeline(
        prompt=[prompt] * len(seeds),
        generator=generators,
        num_inference_steps=4,
        width=64,
        height=64,
        guidance_scale=7.0,
    ).images


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_tiny_pipeline_generates_real_distinct_images(tiny_pipeline) -> None:
    images = generate(tiny_pipeline, [1, 2, 3, 4])
    assert [image.size for image in images] == [(64, 64)] * 4
    arrays = [np.asarray(image, dtype=np.float32) for image in images]
    assert all(array.std() > 1.0 for array in arrays), "a real pipeline does not give flat images"
    assert len({png(image) for image in images}) == 4, "different seeds give different images"


def test_same_seed_gives_byte_identical_image(tiny_pipeline) -> None:
    assert png(generate(tiny_pipeline, [7])[0]) == png(generate(tiny_pipeline, [7])[0])


def test_tokenizer_reads_prompts(tiny_pipeline) -> None:
    ids = tiny_pipeline.tokenizer("a cat").input_ids
    assert tiny_pipeline.tokenizer.model_max_length == 77
    assert ids[0] == 0 and ids[-1] == 1 and len(ids) == 6  # start, 'a</w>', 'c', 'a', 't</w>', end


def test_local_folder_loads_through_from_pretrained(models_dir: Path) -> None:
    folder = build_tiny_pipeline_folder(models_dir)
    assert describe_source(str(folder)) == "folder"
    pipeline = load_pipeline(str(folder), "cpu", models_dir)
    assert type(pipeline).__name__ == "StableDiffusionPipeline"


def test_folder_without_model_index_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"has no model_index\.json"):
        load_pipeline(str(tmp_path), "cpu", tmp_path)


def test_unknown_source_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"model source 'not a model!' is not 'tiny'"):
        load_pipeline("not a model!", "cpu", tmp_path)


def test_missing_checkpoint_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"checkpoint file '.*/missing.safetensors' does not exist"):
        load_pipeline(str(tmp_path / "missing.safetensors"), "cpu", tmp_path)


def test_hub_id_not_cached_offline_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelLoadError, match=r"model 'salon-test/absent-model' is not in the local Hugging Face cache"):
        load_pipeline("salon-test/absent-model", "cpu", tmp_path)


def test_unknown_scheduler_lists_allowed(tiny_pipeline) -> None:
    with pytest.raises(ValueError, match=r"unknown scheduler 'warp'; use one of ddim, dpmpp_2m"):
        make_scheduler("warp", tiny_pipeline.scheduler.config)
    first = make_scheduler("euler", tiny_pipeline.scheduler.config)
    second = make_scheduler("euler", tiny_pipeline.scheduler.config)
    assert first is not second


@pytest.mark.parametrize("pipeline_class", ["StableDiffusion3Pipeline", "FluxPipeline", "PixArtAlphaPipeline"])
def test_a_family_salon_does_not_run_is_refused_before_its_weights_load(tmp_path: Path, pipeline_class: str) -> None:
    # Only the index: were its weights read, the error would be a missing file, not this line.
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": pipeline_class}), encoding="utf-8")
    with pytest.raises(ModelLoadError) as refused:
        load_pipeline(str(tmp_path), "cpu", tmp_path)
    message = str(refused.value)
    assert f"is a {pipeline_class}, which Salon does not run; it runs Stable Diffusion 1.x/2.x and SDXL" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("key", "family"), [("joint_blocks.0.attn.qkv.weight", "SD3"), ("double_blocks.0.img_attn", "FLUX")]
)
def test_a_single_file_of_a_transformer_family_is_refused(tmp_path: Path, key: str, family: str) -> None:
    checkpoint = tmp_path / "model.safetensors"
    save_file({f"model.diffusion_model.{key}": torch.zeros(1)}, str(checkpoint))
    with pytest.raises(ModelLoadError, match=f"is a {family} checkpoint, which Salon does not run"):
        load_pipeline(str(checkpoint), "cpu", tmp_path)
