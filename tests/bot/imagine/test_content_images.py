"""Content images: only real pictures of sane size get through, normalised to RGB PNG."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from bot.errors import UserInputError
from bot.imagine.content_images import MAX_ATTACHMENT_BYTES, check_attachment_header, load_content_image, size_like


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def test_jpeg_becomes_rgb_png_of_the_same_size() -> None:
    content = load_content_image("cat.jpg", encoded(Image.new("RGB", (120, 80), (200, 10, 10)), "JPEG"))
    assert (content.width, content.height) == (120, 80)
    assert Image.open(io.BytesIO(content.png)).format == "PNG"


def test_text_file_is_refused_with_the_allowed_formats() -> None:
    with pytest.raises(UserInputError, match="not an image Salon can read; attach one of PNG, JPEG"):
        load_content_image("notes.txt", b"hello, not a picture")


def test_announced_non_image_and_oversized_files_are_refused_before_download() -> None:
    with pytest.raises(UserInputError, match="is application/pdf, not an image"):
        check_attachment_header("paper.pdf", 1000, "application/pdf")
    with pytest.raises(UserInputError, match="limited to 10 MB"):
        check_attachment_header("huge.png", MAX_ATTACHMENT_BYTES + 1, "image/png")


def png_claiming(width: int, height: int) -> bytes:
    """Return a valid PNG header that claims `width`×`height` pixels, with a tiny compressed body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )
    return bomb


def test_decompression_bomb_is_refused_from_its_header() -> None:
    with pytest.raises(UserInputError, match=r"bomb\.png expands to more pixels .* limited to \d+ megapixels"):
        load_content_image("bomb.png", png_claiming(30000, 30000))


def test_picture_over_the_pixel_limit_is_refused_before_decoding() -> None:
    with pytest.raises(UserInputError, match=r"is 5000×5000 pixels; content images are limited to 16 megapixels"):
        load_content_image("big.png", png_claiming(5000, 5000))


def test_size_like_keeps_the_aspect_and_the_pixel_budget() -> None:
    assert size_like(1600, 900, 512 * 512) == (680, 384)
    assert size_like(500, 500, 512 * 512) == (512, 512)
