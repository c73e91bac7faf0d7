"""Regional prompts at generation time: different prompts steer different parts of one image.

At every denoising step the UNet's conditional noise prediction is computed once for the whole
prompt and once for each region's prompt; inside a region its prediction takes over, weighted by
the region's mask at latent resolution (overlaps share, the rest keeps the whole prompt). The
unconditional half of classifier-free guidance is left as it is. This is the "latent couple" /
MultiDiffusion idea, done by wrapping `unet.forward` for the one pipeline call, so the pipeline
itself stays stock. Each region costs one more UNet pass over the conditional half per step.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

Region = tuple[float, float, float, float, str]  # left, top, right, bottom (fractions of the image), prompt


def region_weights(regions: list[Region], height: int, width: int, device: Any, dtype: Any) -> list[Any]:
    """Return one [1, 1, height, width] weight map per region; where regions overlap they share, never above 1."""
    import torch

    masks = []
    for left, top, right, bottom, _ in regions:
        mask = torch.zeros(1, 1, height, width, dtype=torch.float32)
        mask[:, :, round(top * height) : round(bottom * height), round(left * width) : round(right * width)] = 1.0
        masks.append(mask)
    total = torch.stack(masks).sum(dim=0).clamp(min=1.0)
    return [(mask / total).to(device, dtype) for mask in masks]


def _half(value: Any, rows: int, start: int) -> Any:
    """Return the rows from `start` of a batch-sized tensor (or of the tensors in a dict); anything else as it is."""
    import torch

    if isinstance(value, torch.Tensor) and value.ndim and value.shape[0] == rows:
        return value[start:]
    if isinstance(value, dict):
        return {key: _half(item, rows, start) for key, item in value.items()}
    return value


@contextmanager
def regional_unet(pipeline: Any, weights: list[Any], region_embeds: list[Any], guided: bool) -> Iterator[None]:
    """Make `pipeline.unet` blend each region's prediction into the conditional half while the block runs."""
    import torch

    unet = pipeline.unet
    original = unet.forward

    def forward(sample: Any, timestep: Any, encoder_hidden_states: Any = None, *args: Any, **kwargs: Any) -> Any:
        output = original(sample, timestep, encoder_hidden_states, *args, **kwargs)
        as_tuple = isinstance(output, tuple)
        noise = output[0] if as_tuple else output.sample
        rows = sample.shape[0]
        start = rows // 2 if guided else 0
        cond_sample = sample[start:]
        cond_kwargs = {key: _half(value, rows, start) for key, value in kwargs.items()}
        cond_timestep = _half(timestep, rows, start)
        blended = noise[start:] * (1 - sum(weights))
        for weight, embeds in zip(weights, region_embeds, strict=True):
            states = embeds.expand(cond_sample.shape[0], -1, -1)
            region = original(cond_sample, cond_timestep, states, *args, **cond_kwargs)
            region_noise = region[0] if isinstance(region, tuple) else region.sample
            blended = blended + weight * region_noise
        noise = torch.cat([noise[:start], blended]) if start else blended
        if as_tuple:
            return (noise, *output[1:])
        output.sample = noise
        return output

    unet.forward = forward  # an instance attribute shadows the class's forward for this call only
    try:
        yield
    finally:
        del unet.forward
