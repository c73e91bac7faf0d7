"""Cheap step previews: latents to RGB by a fixed linear map, no VAE decode."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

# Least-squares fit from SD 1.x/2.x latent channels to RGB, as used by several UIs for previews.
# Good enough to show composition and colour while the image forms; TAESD is the sharper option.
SD_LATENT_RGB: tuple[tuple[float, float, float], ...] = (
    (0.298, 0.207, 0.208),
    (0.187, 0.286, 0.173),
    (-0.158, 0.189, 0.264),
    (-0.184, -0.271, -0.473),
)


def latents_to_images(latents: Any) -> list[Image.Image]:
    """Return one RGB image per latent in a (batch, 4, h, w) tensor, at latent resolution."""
    import torch

    coefficients = torch.tensor(SD_LATENT_RGB, dtype=torch.float32)
    rgb = latents.detach().to("cpu", torch.float32).permute(0, 2, 3, 1) @ coefficients
    pixels = ((rgb + 1.0) / 2.0).clamp(0.0, 1.0).mul(255).round().to(torch.uint8).numpy()
    return [Image.fromarray(frame, mode="RGB") for frame in pixels]


def preview_png(latents: Any, max_side: int = 256) -> bytes:
    """Return a PNG grid of previews of all latents in the batch, scaled up to about `max_side`."""
    from gpu_worker.grid import make_grid

    grid = make_grid(latents_to_images(latents), numbered=False)
    scale = max(1, max_side // max(grid.size))
    if scale > 1:
        grid = grid.resize((grid.width * scale, grid.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    grid.save(buffer, format="PNG")
    return buffer.getvalue()
