"""Images for a published post: JPEGs small enough for the web."""

from __future__ import annotations

import io

from PIL import Image

WEB_SIDE = 1024
WEB_QUALITY = 85


def web_jpeg(png: bytes, side: int = WEB_SIDE, quality: int = WEB_QUALITY) -> bytes:
    """Return a JPEG of `png` for the web: at most `side` pixels a side, at `quality`."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()
