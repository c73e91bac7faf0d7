"""Content images users attach to /imagine: checked before anything is decoded, then normalised.

Discord tells the size and type of an attachment before it is downloaded, so oversized or
non-image files are refused without reading them; Pillow reads only the header before the pixel
count is checked, so a decompression bomb is refused before it is decoded.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from bot.catalogue import _
from bot.errors import UserInputError

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 4096 * 4096
ALLOWED_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP", "GIF": "GIF", "BMP": "BMP"}


@dataclass(frozen=True)
class ContentImage:
    """An accepted content image: RGB PNG bytes and its size."""

    png: bytes
    width: int
    height: int


def check_attachment_header(filename: str, size: int, content_type: str | None) -> None:
    """Raise `UserInputError` if an attachment is too large or announced as something other than an image."""
    if size > MAX_ATTACHMENT_BYTES:
        raise UserInputError(
            _("{filename} is {size:.1f} MB; content images are limited to {max_attachment_bytes} MB.").format(
                filename=filename, size=size / 1024 / 1024, max_attachment_bytes=MAX_ATTACHMENT_BYTES // 1024 // 1024
            )
        )
    if content_type and not content_type.startswith("image/"):
        raise UserInputError(
            _("{filename} is {content_type}, not an image; attach a PNG, JPEG or WebP picture.").format(
                filename=filename, content_type=content_type
            )
        )


def load_content_image(filename: str, data: bytes) -> ContentImage:
    """Return the attachment as RGB PNG, or raise `UserInputError` saying why it was refused."""
    check_attachment_header(filename, len(data), None)
    allowed = ", ".join(ALLOWED_FORMATS.values())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in ALLOWED_FORMATS:
                raise UserInputError(
                    _("{filename} is a {format} file; attach one of {allowed}.").format(
                        filename=filename, format=image.format, allowed=allowed
                    )
                )
            width, height = image.size
            # Refuse by the header's size, before a single pixel is decoded.
            if width * height > MAX_PIXELS:
                raise UserInputError(
                    _(
                        "{filename} is {width}×{height} pixels; content images are limited to {max_pixels} megapixels."
                    ).format(filename=filename, width=width, height=height, max_pixels=MAX_PIXELS // 1000000)
                )
            image.seek(0)  # the first frame of an animation
            rgb = image.convert("RGB")
    except UserInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UserInputError(
            _(
                "{filename} expands to more pixels than a picture has (a decompression bomb); "
                "content images are limited to {max_pixels} megapixels."
            ).format(filename=filename, max_pixels=MAX_PIXELS // 1000000)
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise UserInputError(
            _("{filename} is not an image Salon can read; attach one of {allowed}.").format(
                filename=filename, allowed=allowed
            )
        ) from exc
    buffer = io.BytesIO()
    rgb.save(buffer, format="PNG")
    return ContentImage(buffer.getvalue(), rgb.width, rgb.height)


def size_like(width: int, height: int, pixels: int, *, step: int = 8, largest: int = 2048) -> tuple[int, int]:
    """Return a generation size with the picture's aspect ratio and about `pixels` pixels (multiples of `step`)."""
    ratio = width / height
    new_height = (pixels / ratio) ** 0.5
    new_width = new_height * ratio

    def fit(side: float) -> int:
        return int(min(largest, max(64, round(side / step) * step)))

    return fit(new_width), fit(new_height)
