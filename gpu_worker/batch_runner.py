"""Run a batch of jobs through one pipeline call, each image exactly as it would come out alone.

Batched GPU kernels pick their algorithms by batch size, so the same latent can denoise to slightly
different floats in a batch of 3 than alone. Two rules make every image independent of its
companions: prompts are encoded one at a time (the text encoder is not even position-invariant),
and text-to-image batches are always padded to the same number of slots, so the UNet and VAE
always see one batch shape. Each image's starting noise comes from its own CPU generator.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gpu_worker.requests import GenerationRequest, GenerationResult

# (step, total, latents of the whole padded batch) -> True to stop the batch
StepHook = Callable[[int, int, Any], bool]


@dataclass(frozen=True)
class BatchItem:
    """One job in a batch."""

    job_id: str
    request: GenerationRequest


class BatchOutOfMemoryError(Exception):
    """The device ran out of memory even for a single image."""


def is_out_of_memory(exc: BaseException) -> bool:
    """Return whether `exc` is the device running out of memory."""
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def run_batch(
    context: Any,
    items: list[BatchItem],
    slots: int,
    on_step: StepHook,
) -> dict[str, GenerationResult] | None:
    """Return each job's result, or None if `on_step` stopped the batch (every job cancelled)."""
    import torch

    from gpu_worker.models import make_scheduler

    first = items[0].request
    for item in items:
        item.request.validate()
    pipeline = context.pipeline_for(first.kind)
    pipeline.scheduler = make_scheduler(first.scheduler, context.base.scheduler.config)
    device = context.base.device
    dtype = context.base.unet.dtype
    guided = first.guidance > 1.0
    seeds = [seed for item in items for seed in item.request.seeds]
    real = len(seeds)
    if first.kind == "txt2img":
        slots = max(slots, real)
        seeds += [0] * (slots - real)  # padding slots: computed, then dropped
    generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]
    embeds: dict[str, list[Any]] = {}
    cache: dict[tuple[str, str], tuple[Any, ...]] = {}
    owners = [item for item in items for _ in item.request.seeds]
    owners += [owners[-1]] * (len(seeds) - real)
    for owner in owners:
        key = (owner.request.prompt, owner.request.negative_prompt)
        if key not in cache:
            cache[key] = _encode(pipeline, owner.request, device, guided)
        for name, value in zip(_EMBED_NAMES[len(cache[key])], cache[key], strict=True):
            if value is not None:
                embeds.setdefault(name, []).append(value)
    arguments: dict[str, Any] = {name: torch.cat(values) for name, values in embeds.items()}
    started = time.perf_counter()
    step_times: list[float] = []
    stopped = False

    def on_step_end(pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        nonlocal stopped
        step_times.append(time.perf_counter())
        total = getattr(pipe, "num_timesteps", first.steps)
        if on_step(step + 1, total, callback_kwargs["latents"]):
            stopped = True
            pipe._interrupt = True  # diffusers skips the remaining steps
        return callback_kwargs

    arguments.update(
        num_inference_steps=first.steps,
        guidance_scale=first.guidance,
        generator=generators,
        callback_on_step_end=on_step_end,
        output_type="pil",
    )
    if first.kind == "txt2img":
        scale = getattr(pipeline, "vae_scale_factor", 8)
        shape = (1, pipeline.unet.config.in_channels, first.height // scale, first.width // scale)
        # The same draw diffusers makes for a list of CPU generators, one image at a time.
        arguments["latents"] = torch.cat([torch.randn(shape, generator=g, dtype=torch.float32) for g in generators]).to(
            device, dtype
        )
        arguments.update(width=first.width, height=first.height)
    else:
        from PIL import Image

        init = Image.open(io.BytesIO(first.init_image or b"")).convert("RGB").resize((first.width, first.height))
        arguments.update(image=[init] * len(seeds), strength=first.strength)
        if first.kind == "inpaint":
            mask = Image.open(io.BytesIO(first.mask_image or b"")).convert("L").resize((first.width, first.height))
            arguments.update(mask_image=[mask] * len(seeds), width=first.width, height=first.height)
    with torch.inference_mode():
        output = pipeline(**arguments)
    if stopped:
        return None
    pngs = []
    for image in output.images[:real]:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        pngs.append(buffer.getvalue())
    elapsed = time.perf_counter() - started
    timings = {"total": elapsed, "batch_images": float(real), "batch_slots": float(len(seeds))}
    if len(step_times) > 1:
        timings["per_step"] = (step_times[-1] - step_times[0]) / (len(step_times) - 1)
    results: dict[str, GenerationResult] = {}
    offset = 0
    for item in items:
        count = len(item.request.seeds)
        results[item.job_id] = GenerationResult(
            pngs[offset : offset + count], tuple(item.request.seeds), dict(timings), str(device)
        )
        offset += count
    return results


_EMBED_NAMES: dict[int, tuple[str, ...]] = {
    2: ("prompt_embeds", "negative_prompt_embeds"),
    4: ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds"),
}


def _encode(pipeline: Any, request: GenerationRequest, device: Any, guided: bool) -> tuple[Any, ...]:
    """Return one prompt's embeddings (SD: 2 tensors; SDXL: 4 with the pooled ones), encoded alone."""
    import torch

    with torch.inference_mode():
        return tuple(
            pipeline.encode_prompt(
                prompt=request.prompt,
                device=device,
                num_images_per_prompt=1,
                do_classifier_free_guidance=guided,
                negative_prompt=request.negative_prompt or None,
            )
        )


def run_with_oom_split(
    context: Any,
    items: list[BatchItem],
    slots: int,
    on_step: StepHook,
    runner: Callable[..., dict[str, GenerationResult] | None] = run_batch,
) -> dict[str, GenerationResult] | None:
    """Return `run_batch`'s results, halving the batch whenever the device runs out of memory.

    A single image that still does not fit raises `BatchOutOfMemoryError` with a hint to go smaller.
    Halved batches use half the slots, so those images are no longer byte-identical to a full-slot
    run: memory pressure wins over reproducibility to the last bit.
    """
    try:
        return runner(context, items, slots, on_step)
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
    _free_device_memory()
    total = sum(len(item.request.seeds) for item in items)
    first = items[0].request
    if total <= 1:
        raise BatchOutOfMemoryError(
            f"a single {first.width}×{first.height} image does not fit in the device's memory; "
            "try a smaller size (for example 512×512) or fewer steps"
        )
    left, right = _split_images(items, total // 2)
    merged: dict[str, GenerationResult] = {}
    for half in (left, right):
        part = run_with_oom_split(context, half, max(1, slots // 2), on_step, runner)
        if part is None:
            return None
        for job_id, result in part.items():
            if job_id in merged:
                before = merged[job_id]
                result = GenerationResult(
                    before.images + result.images, before.seeds + result.seeds, before.timings, before.device
                )
            merged[job_id] = result
    return merged


def _split_images(items: list[BatchItem], first_count: int) -> tuple[list[BatchItem], list[BatchItem]]:
    """Return two lists of items holding the first `first_count` images and the rest (a job may span both)."""
    from dataclasses import replace

    left: list[BatchItem] = []
    right: list[BatchItem] = []
    remaining = first_count
    for item in items:
        seeds = item.request.seeds
        take = min(remaining, len(seeds))
        if take:
            left.append(BatchItem(item.job_id, replace(item.request, seeds=seeds[:take])))
        if take < len(seeds):
            right.append(BatchItem(item.job_id, replace(item.request, seeds=seeds[take:])))
        remaining -= take
    return left, right


def _free_device_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
