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


def preview_image(latents: Any, max_side: int = 256, decoder: Any = None) -> Image.Image:
    """Return a grid of previews of all latents in the batch, scaled up to about `max_side`.

    With a `decoder` (TAESD, diffusers' `AutoencoderTiny`) the previews are real, sharp decodes at
    a fraction of the VAE's cost; without one, the linear latent→RGB map.
    """
    from gpu_worker.grid import make_grid

    images = taesd_images(decoder, latents) if decoder is not None else latents_to_images(latents)
    return _upscaled(make_grid(images, numbered=False), max_side)


def preview_png(latents: Any, max_side: int = 256, decoder: Any = None) -> bytes:
    """Return `preview_image` as PNG bytes."""
    buffer = io.BytesIO()
    preview_image(latents, max_side, decoder).save(buffer, format="PNG")
    return buffer.getvalue()


def taesd_images(decoder: Any, latents: Any) -> list[Image.Image]:
    """Return TAESD decodes of SD latents (TAESD reads the UNet's latents as they are)."""
    import torch

    with torch.inference_mode():
        decoded = decoder.decode(latents.to(decoder.device, decoder.dtype)).sample
    pixels = ((decoded.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(frame, mode="RGB") for frame in pixels]


def image_previews(latents: Any, max_side: int = 256, decoder: Any = None) -> list[Image.Image]:
    """Return one preview per latent, scaled up to about `max_side`: a frame of each image's own journey."""
    images = taesd_images(decoder, latents) if decoder is not None else latents_to_images(latents)
    return [fit_journey_frame(image, max_side) for image in images]


def fit_journey_frame(image: Image.Image, max_side: int = 256) -> Image.Image:
    """Return a journey frame about `max_side` a side: small latents scaled up, full-size images down.

    Full-size frames (TAESD decodes, the final image) are shrunk so a 30-step journey stays a small file.
    """
    if max(image.size) > max_side:
        image = image.convert("RGB")
        image.thumbnail((max_side, max_side))
        return image
    return _upscaled(image, max_side)


def _upscaled(image: Image.Image, max_side: int) -> Image.Image:
    scale = max(1, max_side // max(image.size))
    if scale > 1:
        return image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    return image


def journey_gif(frames: list[Image.Image], frame_ms: int = 150, final_ms: int = 1500) -> bytes:
    """Return an animated GIF of the denoising journey: one frame per step, the last one held."""
    if not frames:
        raise ValueError("a journey needs at least one frame")
    size = frames[-1].size
    frames = [frame.convert("RGB").resize(size, Image.Resampling.NEAREST) for frame in frames]
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=[frame_ms] * (len(frames) - 1) + [final_ms],
        loop=0,
    )
    return buffer.getvalue()
