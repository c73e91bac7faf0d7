"""Run a batch of jobs through one pipeline call, each image exactly as it would come out alone.

Batched GPU kernels pick their algorithms by batch size, so the same latent can denoise to slightly
different floats in a batch of 3 than alone. Two rules make every image independent of its
companions: prompts are encoded one at a time (the text encoder is not even position-invariant),
and text-to-image batches are always padded to the same number of slots, so the UNet and VAE
always see one batch shape. Each image's starting noise comes from its own CPU generator.

Long prompts (compel, `gpu_worker.prompt_encoding`) encode to one, two or three 77-token windows.
Embeddings of different lengths cannot be stacked, and padding a short prompt with empty windows
would change its image, so a batch runs one pipeline call per embedding length, each padded to the
same slots as a lone job; the results are put back in job order.
"""

from __future__ import annotations

import functools
import io
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from gpu_worker.prompt_encoding import EncodedPrompt, encode_prompt
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
    """Return each job's result, or None if `on_step` stopped the batch (every job cancelled).

    Jobs whose prompts encode to different lengths (one, two or three windows) run in separate
    pipeline calls, one per length, in the order the lengths first appear; `on_step` then sees the
    steps of all calls as one run, and latents holding every real image in job order.
    """
    first = items[0].request
    for item in items:
        item.request.validate()
    pipeline = context.pipeline_for(first.kind)
    device = context.base.device
    guided = first.guidance > 1.0
    encoded: dict[tuple[str, str], EncodedPrompt] = {}
    for item in items:
        if _prompt_key(item) not in encoded:
            encoded[_prompt_key(item)] = _encode(pipeline, item.request, device, guided)
    # Embeddings of different lengths cannot share a call, and padding a prompt to a longer one
    # would change its image: each length gets its own call, padded to the usual slots.
    groups: dict[int, list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault(encoded[_prompt_key(item)].length, []).append(index)
    # Item i's images are positions starts[i] to starts[i + 1] of the batch, in job order.
    starts = list(itertools.accumulate((len(item.request.seeds) for item in items), initial=0))
    real = starts[-1]
    # A group holding more images than the batch has slots (one job of nine images on a pool of
    # eight) runs as several calls of at most `slots` images, so memory stays what the admin set.
    plan: list[tuple[list[BatchItem], list[int]]] = []
    for group in groups.values():
        members = [items[index] for index in group]
        places = [p for index in group for p in range(starts[index], starts[index + 1])]
        while members:
            chunk, members = _split_images(members, slots)
            taken = sum(len(item.request.seeds) for item in chunk)
            plan.append((chunk, places[:taken]))
            places = places[taken:]
    positions = [places for _, places in plan]
    calls = len(plan)
    everything: Any = None

    def report(call: int, step: int, total: int, latents: Any) -> bool:
        nonlocal everything
        if calls == 1:
            return on_step(step, total, latents)
        # Several calls: keep the newest latents of every real image, in job order, for previews.
        if everything is None:
            everything = latents.new_zeros((real, *latents.shape[1:]))
        everything[positions[call]] = latents[: len(positions[call])]
        return on_step(call * total + step, calls * total, everything)

    started = time.perf_counter()
    pngs: list[bytes] = [b""] * real
    step_gaps: list[float] = []
    used_slots = 0
    for call, (members, _) in enumerate(plan):
        run = _run_call(context, pipeline, members, encoded, slots, functools.partial(report, call))
        if run is None:
            return None
        images, call_slots, gaps = run
        used_slots += call_slots
        step_gaps += gaps
        for position, png in zip(positions[call], images, strict=True):
            pngs[position] = png
    elapsed = time.perf_counter() - started
    timings = {"total": elapsed, "batch_images": float(real), "batch_slots": float(used_slots)}
    if calls > 1:
        timings["batch_calls"] = float(calls)
    if step_gaps:
        timings["per_step"] = sum(step_gaps) / len(step_gaps)
    results: dict[str, GenerationResult] = {}
    for index, item in enumerate(items):
        results[item.job_id] = GenerationResult(
            pngs[starts[index] : starts[index + 1]],
            tuple(item.request.seeds),
            dict(timings),
            str(device),
            dropped_text=encoded[_prompt_key(item)].dropped,
        )
    return results


def _run_call(
    context: Any,
    pipeline: Any,
    items: list[BatchItem],
    encoded: dict[tuple[str, str], EncodedPrompt],
    slots: int,
    on_step: StepHook,
) -> tuple[list[bytes], int, list[float]] | None:
    """Return one pipeline call's PNGs (real images only, in job order), its slot count and its step gaps.

    None means `on_step` stopped it.
    """
    import torch

    from gpu_worker.models import make_scheduler

    first = items[0].request
    # A fresh scheduler per call: each call then starts exactly as the same jobs would alone.
    pipeline.scheduler = make_scheduler(first.scheduler, context.base.scheduler.config)
    device = context.base.device
    dtype = context.base.unet.dtype
    seeds = [seed for item in items for seed in item.request.seeds]
    real = len(seeds)
    if first.kind == "txt2img":
        slots = max(slots, real)
        seeds += [0] * (slots - real)  # padding slots: computed, then dropped
    generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]
    owners = [item for item in items for _ in item.request.seeds]
    owners += [owners[-1]] * (len(seeds) - real)
    embeds: dict[str, list[Any]] = {}
    for owner in owners:
        for name, value in encoded[_prompt_key(owner)].pipeline_arguments().items():
            embeds.setdefault(name, []).append(value)
    arguments: dict[str, Any] = {name: torch.cat(values) for name, values in embeds.items()}
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
    with torch.inference_mode(), _regions_of(pipeline, first, device, dtype):
        output = pipeline(**arguments)
    if stopped:
        return None
    pngs = []
    for image in output.images[:real]:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        pngs.append(buffer.getvalue())
    gaps = [later - earlier for earlier, later in itertools.pairwise(step_times)]
    return pngs, len(seeds), gaps


def _regions_of(pipeline: Any, request: GenerationRequest, device: Any, dtype: Any) -> Any:
    """Return a context that steers the call by the request's regional prompts (a no-op without them)."""
    from contextlib import nullcontext
    from dataclasses import replace

    if not request.regions:
        return nullcontext()
    from gpu_worker.regional import region_weights, regional_unet

    guided = request.guidance > 1.0
    scale = getattr(pipeline, "vae_scale_factor", 8)
    weights = region_weights(list(request.regions), request.height // scale, request.width // scale, device, dtype)
    cache: dict[str, Any] = {}
    embeds = []
    for *_, text in request.regions:
        if text not in cache:
            cache[text] = _encode(pipeline, replace(request, prompt=text), device, guided).prompt_embeds
        embeds.append(cache[text])
    return regional_unet(pipeline, weights, embeds, guided)


def _prompt_key(item: BatchItem) -> tuple[str, str]:
    return item.request.prompt, item.request.negative_prompt


def _encode(pipeline: Any, request: GenerationRequest, device: Any, guided: bool) -> EncodedPrompt:
    """Return one prompt's embeddings through compel, encoded alone (the text encoder is not batch-invariant)."""
    return encode_prompt(pipeline, request.prompt, request.negative_prompt, device, guided)


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
                # Both halves encoded the same prompt, so they dropped the same text.
                result = replace(before, images=before.images + result.images, seeds=before.seeds + result.seeds)
            merged[job_id] = result
    return merged


def _split_images(items: list[BatchItem], first_count: int) -> tuple[list[BatchItem], list[BatchItem]]:
    """Return two lists of items holding the first `first_count` images and the rest (a job may span both)."""
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
