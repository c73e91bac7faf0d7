"""Model sources and schedulers: from a name in the settings to a resident diffusers pipeline."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
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
# The pipeline families Salon generates with end to end (UNet denoisers with CLIP text encoders:
# weighted prompts, img2img, inpainting, regional prompts, journeys). Any other family is refused
# when it is named, before its weights load, so no model is loaded only to fail every job.
SUPPORTED_PIPELINES = {
    "StableDiffusionPipeline": "Stable Diffusion 1.x/2.x",
    "StableDiffusionXLPipeline": "SDXL",
}
SUPPORTED_FAMILIES = "Stable Diffusion 1.x/2.x and SDXL (few-step SD-Turbo and SDXL-Turbo included)"
# Single-file checkpoints of families with a transformer denoiser, by a key only they hold.
_TRANSFORMER_CHECKPOINT_KEYS = {"joint_blocks": "SD3", "double_blocks": "FLUX"}
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


def require_supported(pipeline_class: str, source: str) -> None:
    """Raise `ModelLoadError` in one line unless `pipeline_class` is a family Salon runs."""
    if pipeline_class not in SUPPORTED_PIPELINES:
        raise ModelLoadError(
            f"model {source!r} is a {pipeline_class}, which Salon does not run; it runs {SUPPORTED_FAMILIES}"
        )


def declared_pipeline(folder: Path) -> str:
    """Return the pipeline class a diffusers folder declares in its model_index.json (no weights read)."""
    index = folder / "model_index.json"
    if not index.exists():
        raise ModelLoadError(f"folder {str(folder)!r} is not a diffusers model (it has no model_index.json)")
    try:
        declared = json.loads(index.read_text(encoding="utf-8")).get("_class_name")
    except (OSError, ValueError, AttributeError) as exc:
        raise ModelLoadError(f"{str(index)!r} cannot be read: {_one_line(exc)}") from exc
    if not isinstance(declared, str):
        raise ModelLoadError(f"{str(index)!r} names no pipeline class (_class_name)")
    return declared


def inspect_source(source: str, *, fetch_index: bool = True) -> str:
    """Check a model source without loading its weights; return its kind or raise `ModelLoadError`.

    A missing file, a folder that is not a diffusers model and a family Salon does not run are
    all found here. A hub id's index is read from the local cache, and fetched (a few kB) when
    `fetch_index` and the hub is reachable.
    """
    kind = describe_source(source)
    if kind == "unknown":
        raise ModelLoadError(
            f"model source {source!r} is not 'tiny', an existing folder, a .safetensors/.ckpt file, "
            "or a Hugging Face id like org/name"
        )
    if kind == "folder":
        require_supported(declared_pipeline(Path(source).expanduser()), source)
    elif kind == "single-file":
        path = Path(source).expanduser()
        if not path.is_file():
            raise ModelLoadError(f"checkpoint file {str(path)!r} does not exist")
        family = _transformer_family(path)
        if family is not None:
            require_supported(f"{family} checkpoint", str(path))
    elif kind == "hub" and (fetch_index or _offline()):
        from huggingface_hub import hf_hub_download

        try:
            # The small index first: a family Salon does not run is refused before gigabytes download.
            index = hf_hub_download(source, "model_index.json", local_files_only=_offline() or not fetch_index)
        except OSError as exc:  # huggingface_hub's errors (not found, offline, no network) are OSErrors
            raise ModelLoadError(_hub_problem(source, exc)) from exc
        require_supported(declared_pipeline(Path(index).parent), source)
    return kind


def _hub_problem(model_id: str, exc: BaseException) -> str:
    if _offline():
        where = "is not in the local Hugging Face cache (HF_HUB_OFFLINE is set, so nothing is downloaded)"
    else:
        where = "could not be fetched from the Hugging Face Hub"
    return f"model {model_id!r} {where}: {_one_line(exc)}"


def device_problem(device: str) -> str | None:
    """Return why `device` cannot run here ("cuda:1 ... only 1 CUDA device"), or None when it can."""
    import torch

    name, _, index = device.partition(":")
    if name == "cuda":
        if not torch.cuda.is_available():
            return f"device {device!r}: this machine has no usable CUDA GPU (is the CUDA build of torch installed?)"
        count = torch.cuda.device_count()
        if index and int(index) >= count:
            return f"device {device!r}: this machine has {count} CUDA device(s), numbered from 0"
    if name == "mps" and not torch.backends.mps.is_available():
        return f"device {device!r}: Apple's MPS is not available on this machine"
    return None


def load_pipeline(
    source: str,
    device: str,
    cache_dir: Path,
    dtype: Any = None,
    *,
    config: str | None = None,
    variant: str | None = None,
) -> Any:
    """Return the text-to-image pipeline for `source` on `device`, or raise `ModelLoadError`.

    `cache_dir` is where the tiny pipeline is built; `dtype` defaults to `torch_dtype_for(device)`.
    `config` is a single file's local diffusers config folder; `variant` (such as "fp16") picks a
    folder's or hub model's weight files of that variant where they exist, and the plain ones otherwise.
    """
    dtype = dtype if dtype is not None else torch_dtype_for(device)
    try:
        kind = inspect_source(source)
        if kind == "tiny":
            from gpu_worker.tiny import build_tiny_pipeline_folder

            pipeline = _from_folder(build_tiny_pipeline_folder(cache_dir), dtype)
        elif kind == "folder":
            pipeline = _from_folder(Path(source).expanduser(), dtype, variant)
        elif kind == "single-file":
            pipeline = _from_single_file(Path(source).expanduser(), dtype, config)
        else:
            pipeline = _from_hub(source, dtype, variant)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"could not load model {source!r}: {_one_line(exc)}") from exc
    require_supported(type(pipeline).__name__, source)  # what AutoPipeline chose, whatever was declared
    pipeline.set_progress_bar_config(disable=True)
    # diffusers uses PyTorch's scaled-dot-product attention by default (AttnProcessor2_0).
    return pipeline.to(device)


def pull_model(source: str, cache_dir: Path, *, variant: str | None = None) -> str:
    """Fetch a model's files now, so the first job does not wait on a download; return what was done.

    A hub model downloads into the Hugging Face cache with huggingface_hub's progress bars (only
    its `variant` files, such as fp16, where the repository has them); its index is read first, so
    a family Salon does not run downloads nothing. `tiny` is built; a folder or file is already here.
    """
    kind = inspect_source(source)
    if kind == "tiny":
        from gpu_worker.tiny import build_tiny_pipeline_folder

        return f"the tiny model is built in {build_tiny_pipeline_folder(cache_dir)}"
    if kind != "hub":
        return f"{source!r} is on this machine: nothing to download"
    if _offline():
        raise ModelLoadError(f"cannot download {source!r}: HF_HUB_OFFLINE is set")
    from diffusers import DiffusionPipeline

    folder = _from_hub_variant(source, variant, lambda chosen: DiffusionPipeline.download(source, variant=chosen))
    return f"{source} is downloaded in {folder}"


def _from_folder(folder: Path, dtype: Any, variant: str | None = None) -> Any:
    from diffusers import AutoPipelineForText2Image

    if variant and not any(folder.rglob(f"*.{variant}.safetensors")):
        variant = None  # the folder has only the plain weights: load those
    return AutoPipelineForText2Image.from_pretrained(folder, dtype=dtype, local_files_only=True, variant=variant)


def _from_single_file(path: Path, dtype: Any, config: str | None = None) -> Any:
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    pipeline_class = StableDiffusionXLPipeline if _looks_like_sdxl(path) else StableDiffusionPipeline
    if config is not None:
        # A local config: the components' shapes come from it, and nothing is fetched.
        return pipeline_class.from_single_file(path, dtype=dtype, config=config, local_files_only=True)
    try:
        return pipeline_class.from_single_file(path, dtype=dtype, local_files_only=_offline())
    except OSError as exc:
        if _offline():
            hint = "a single file needs its base model's config in the local Hugging Face cache (HF_HUB_OFFLINE is set)"
        else:
            hint = "a single file fetches its base model's config from the Hugging Face Hub, which failed"
        raise ModelLoadError(f"could not load checkpoint {str(path)!r}: {_one_line(exc)} ({hint})") from exc


def _transformer_family(path: Path) -> str | None:
    """Return "SD3" or "FLUX" for a checkpoint of those families (a transformer denoiser), else None."""
    if path.suffix != ".safetensors":
        return None
    for key in checkpoint_keys(path):
        for marker, family in _TRANSFORMER_CHECKPOINT_KEYS.items():
            if marker in key:
                return family
    return None


def _looks_like_sdxl(path: Path) -> bool:
    """Return whether a checkpoint holds SDXL weights (it has a second text encoder)."""
    if path.suffix != ".safetensors":
        return False
    return any(key.startswith("conditioner.embedders.1") for key in checkpoint_keys(path))


def checkpoint_keys(path: Path) -> list[str]:
    """Return the tensor names of a .safetensors file (its header only); ModelLoadError if unreadable."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as checkpoint:
            return list(checkpoint.keys())
    except (SafetensorError, OSError) as exc:
        raise ModelLoadError(f"checkpoint file {str(path)!r} is not a readable .safetensors file: {exc}") from exc


def _from_hub(model_id: str, dtype: Any, variant: str | None = None) -> Any:
    from diffusers import AutoPipelineForText2Image

    return _from_hub_variant(
        model_id,
        variant,
        lambda chosen: AutoPipelineForText2Image.from_pretrained(
            model_id, dtype=dtype, local_files_only=_offline(), variant=chosen
        ),
    )


def _from_hub_variant(model_id: str, variant: str | None, fetch: Callable[[str | None], Any]) -> Any:
    """Return `fetch(variant)`, or `fetch(None)` when the repository has no files of that variant.

    diffusers says a variant is missing with a ValueError; the hub's own errors become one line.
    """
    try:
        try:
            return fetch(variant)
        except ValueError:
            if variant is None:
                raise
            log.info("model %s has no %s variant; using its plain weights", model_id, variant)
            return fetch(None)
    except OSError as exc:
        raise ModelLoadError(_hub_problem(model_id, exc)) from exc


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
