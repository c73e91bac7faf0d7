"""Model sources and schedulers: from a name in the settings to a resident diffusers pipeline."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from gpu_worker.requests import ModelLoadError

log = logging.getLogger(__name__)

SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
    "dpmpp_2m_karras": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "use_karras_sigmas": True}),
    "unipc": ("UniPCMultistepScheduler", {}),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),
}
HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt")


def scheduler_names() -> list[str]:
    """Return the scheduler names a request may use."""
    return sorted(SCHEDULERS)


def make_scheduler(name: str, base_config: Any) -> Any:
    """Return a fresh scheduler of the named kind, configured like the model's own.

    A fresh instance per call: schedulers keep per-run state (step index, sigmas), so sharing one
    between calls or derived pipelines would leak state from one job into the next.
    """
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}; use one of {', '.join(scheduler_names())}")
    import diffusers

    class_name, overrides = SCHEDULERS[name]
    return getattr(diffusers, class_name).from_config(base_config, **overrides)


def torch_dtype_for(device: str) -> Any:
    """Return the weights' dtype for a device: half precision on accelerators, float32 on the CPU."""
    import torch

    if device.startswith("cuda"):
        return torch.bfloat16 if os.environ.get("SALON_BF16") == "1" else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32


def describe_source(source: str) -> str:
    """Return which kind of source a model name is: tiny, folder, single-file, hub id."""
    if source == "tiny":
        return "tiny"
    path = Path(source).expanduser()
    if path.is_dir():
        return "folder"
    if source.endswith(SINGLE_FILE_SUFFIXES):
        return "single-file"
    if HF_ID.match(source):
        return "hub"
    return "unknown"


def load_pipeline(source: str, device: str, cache_dir: Path, dtype: Any = None) -> Any:
    """Return the text-to-image pipeline for `source` on `device`, or raise `ModelLoadError`.

    `cache_dir` is where the tiny pipeline is built; `dtype` defaults to `torch_dtype_for(device)`.
    """
    kind = describe_source(source)
    dtype = dtype if dtype is not None else torch_dtype_for(device)
    try:
        if kind == "tiny":
            from gpu_worker.tiny import build_tiny_pipeline_folder

            pipeline = _from_folder(build_tiny_pipeline_folder(cache_dir), dtype)
        elif kind == "folder":
            pipeline = _from_folder(Path(source).expanduser(), dtype)
        elif kind == "single-file":
            pipeline = _from_single_file(Path(source).expanduser(), dtype)
        elif kind == "hub":
            pipeline = _from_hub(source, dtype)
        else:
            raise ModelLoadError(
                f"model source {source!r} is not 'tiny', an existing folder, a .safetensors/.ckpt file, "
                "or a Hugging Face id like org/name"
            )
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"could not load model {source!r}: {_one_line(exc)}") from exc
    pipeline.set_progress_bar_config(disable=True)
    # diffusers uses PyTorch's scaled-dot-product attention by default (AttnProcessor2_0).
    return pipeline.to(device)


def _from_folder(folder: Path, dtype: Any) -> Any:
    from diffusers import AutoPipelineForText2Image

    if not (folder / "model_index.json").exists():
        raise ModelLoadError(f"folder {str(folder)!r} is not a diffusers model (it has no model_index.json)")
    return AutoPipelineForText2Image.from_pretrained(folder, dtype=dtype, local_files_only=True)


def _from_single_file(path: Path, dtype: Any) -> Any:
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    if not path.is_file():
        raise ModelLoadError(f"checkpoint file {str(path)!r} does not exist")
    pipeline_class = StableDiffusionXLPipeline if _looks_like_sdxl(path) else StableDiffusionPipeline
    try:
        return pipeline_class.from_single_file(path, dtype=dtype, local_files_only=_offline())
    except OSError as exc:
        raise ModelLoadError(
            f"could not load checkpoint {str(path)!r}: {_one_line(exc)} (single files need their base "
            "model's config in the local Hugging Face cache when HF_HUB_OFFLINE is set)"
        ) from exc


def _looks_like_sdxl(path: Path) -> bool:
    """Return whether a checkpoint holds SDXL weights (it has a second text encoder)."""
    if path.suffix != ".safetensors":
        return False
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as checkpoint:
        return any(key.startswith("conditioner.embedders.1") for key in checkpoint.keys())  # noqa: SIM118


def _from_hub(model_id: str, dtype: Any) -> Any:
    from diffusers import AutoPipelineForText2Image

    offline = _offline()
    try:
        return AutoPipelineForText2Image.from_pretrained(model_id, dtype=dtype, local_files_only=offline)
    except OSError as exc:
        where = "the local Hugging Face cache and HF_HUB_OFFLINE is set" if offline else "the local cache"
        raise ModelLoadError(f"model {model_id!r} is not in {where}: {_one_line(exc)}") from exc


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
