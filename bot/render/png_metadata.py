"""Generation parameters written into PNG text chunks, so a downloaded file tells how it was made.

Two chunks: `parameters`, in the layout AUTOMATIC1111 and other tools read (prompt, then a
`Negative prompt:` line, then `Steps: …, Seed: …`), and `salon`, the same facts as JSON.
"""

from __future__ import annotations

import io
import json
from typing import Any

from PIL import Image, PngImagePlugin


def parameters_text(params: dict[str, Any], seed: int) -> str:
    """Return the A1111-style `parameters` text for one image of a job."""
    lines = [str(params.get("prompt", ""))]
    if params.get("negative_prompt"):
        lines.append(f"Negative prompt: {params['negative_prompt']}")
    facts = [
        f"Steps: {params.get('steps')}",
        f"Sampler: {params.get('scheduler')}",
        f"CFG scale: {params.get('guidance')}",
        f"Seed: {seed}",
        f"Size: {params.get('width')}x{params.get('height')}",
        f"Model: {params.get('model')}",
    ]
    if params.get("kind") in ("img2img", "inpaint"):
        facts.append(f"Denoising strength: {params.get('strength')}")
    lines.append(", ".join(facts))
    return "\n".join(lines)


def with_parameters(png: bytes, params: dict[str, Any], seed: int | None, extra: dict[str, Any] | None = None) -> bytes:
    """Return the PNG re-encoded with `parameters` and `salon` text chunks (pixels unchanged)."""
    image = Image.open(io.BytesIO(png))
    info = PngImagePlugin.PngInfo()
    if seed is not None:
        info.add_itxt("parameters", parameters_text(params, seed))
    facts = {key: value for key, value in params.items() if key not in ("requester", "session")}
    info.add_itxt("salon", json.dumps({**facts, "seed": seed, **(extra or {})}, sort_keys=True, ensure_ascii=False))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def read_parameters(png: bytes) -> dict[str, str]:
    """Return the text chunks of a PNG (for tests and for people inspecting a file)."""
    image = Image.open(io.BytesIO(png))
    image.load()
    return {key: str(value) for key, value in getattr(image, "text", {}).items()}


def png_size(png: bytes) -> tuple[int, int]:
    """Return a PNG's (width, height), reading only its header."""
    with Image.open(io.BytesIO(png)) as image:
        return image.size
