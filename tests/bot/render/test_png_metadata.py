"""PNG files carry their generation parameters in text chunks."""

from __future__ import annotations

import io
import json

from PIL import Image

from bot.render.png_metadata import read_parameters, with_parameters

PARAMS = {
    "prompt": "a red kite",
    "negative_prompt": "fog",
    "steps": 4,
    "scheduler": "euler",
    "guidance": 7.0,
    "width": 64,
    "height": 64,
    "model": "tiny",
    "kind": "txt2img",
    "requester": "101",
}


def test_parameters_and_salon_chunks_with_pixels_unchanged() -> None:
    image = Image.new("RGB", (8, 8), (1, 2, 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    tagged = with_parameters(buffer.getvalue(), PARAMS, 42, {"job_id": 5})
    chunks = read_parameters(tagged)
    assert chunks["parameters"] == (
        "a red kite\nNegative prompt: fog\nSteps: 4, Sampler: euler, CFG scale: 7.0, Seed: 42, Size: 64x64, Model: tiny"
    )
    salon = json.loads(chunks["salon"])
    assert salon["seed"] == 42 and salon["job_id"] == 5 and "requester" not in salon
    assert Image.open(io.BytesIO(tagged)).tobytes() == image.tobytes()
