"""Grid PNGs: images laid out near-square (numbered so people can say "I like 3"), with parameters."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from PIL import Image

from bot.render.png_metadata import with_parameters
from gpu_worker.grid import make_grid


def grid_png(
    pngs: Sequence[bytes],
    *,
    numbered: bool = True,
    facts: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> bytes:
    """Return one PNG with `pngs` in a grid, carrying `facts` and `extra` as text chunks when given.

    CPU-bound: call it off the event loop (`asyncio.to_thread`) for anything but a handful of thumbnails.
    """
    grid = make_grid([Image.open(io.BytesIO(png)).convert("RGB") for png in pngs], numbered=numbered)
    buffer = io.BytesIO()
    grid.save(buffer, format="PNG")
    if facts is None and extra is None:
        return buffer.getvalue()
    return with_parameters(buffer.getvalue(), facts or {}, None, extra)
