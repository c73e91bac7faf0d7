"""Previews: the linear latent map, TAESD when configured, and the denoising journey as a GIF."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageStat

from gpu_worker import GenerationRequest, ProcessPool
from gpu_worker.previews import journey_gif, latents_to_images, preview_png


def test_latents_map_to_rgb_at_latent_size() -> None:
    latents = torch.randn(2, 4, 8, 12, generator=torch.Generator().manual_seed(0))
    images = latents_to_images(latents)
    assert [image.size for image in images] == [(12, 8), (12, 8)]
    assert Image.open(io.BytesIO(preview_png(latents))).size == (24 * 10, 8 * 10)


def test_journey_gif_has_a_frame_per_step_and_holds_the_last() -> None:
    frames = [Image.new("RGB", (16, 16), (i * 40, 0, 0)) for i in range(5)]
    gif = Image.open(io.BytesIO(journey_gif(frames)))
    assert gif.format == "GIF" and gif.n_frames == 5
    gif.seek(4)
    assert gif.info["duration"] == 1500
    with pytest.raises(ValueError, match="at least one frame"):
        journey_gif([])


@pytest.fixture(scope="module")
def taesd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("taesd")
    # Four blocks, like the real TAESD: it decodes latents to 8× their size, as the tiny VAE does.
    AutoencoderTiny(
        encoder_block_out_channels=(32, 32, 32, 32),
        decoder_block_out_channels=(32, 32, 32, 32),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
        latent_channels=4,
    ).save_pretrained(folder)
    return folder


@pytest.mark.asyncio(loop_scope="function")
async def test_pool_with_taesd_previews_and_a_journey(models_dir: Path, taesd_dir: Path) -> None:
    pool = ProcessPool("tiny", ["cpu"], models_dir, batch_size=2, preview_every=1, preview_decoder=str(taesd_dir))
    await pool.start()
    try:
        request = GenerationRequest(
            kind="txt2img", prompt="a comet", seeds=(5, 6), width=64, height=64, steps=4, journey=True
        )
        handle = await pool.submit("journey", request)
        previews = [update.preview async for update in handle.progress() if update.preview]
        result = await handle.result()
    finally:
        await pool.close()
    # TAESD decodes to full resolution (64×64 per image), the linear map only to the latent size.
    assert Image.open(io.BytesIO(previews[0])).size == (128 * 2, 64 * 2)
    # One journey per image, each its own: four steps and the final image, at the frames' size.
    assert len(result.journey_gifs) == 2 and result.journey_gifs[0] != result.journey_gifs[1]
    for gif_bytes, png in zip(result.journey_gifs, result.images, strict=True):
        gif = Image.open(io.BytesIO(gif_bytes))
        assert gif.n_frames == 5 and gif.size == (256, 256)
        gif.seek(4)
        final = Image.open(io.BytesIO(png)).convert("RGB").resize((256, 256), Image.Resampling.NEAREST)
        assert abs(_mean(gif.convert("RGB")) - _mean(final)) < 8  # the last frame is the image (GIF palette aside)


@pytest.mark.asyncio(loop_scope="function")
async def test_missing_preview_decoder_is_named(models_dir: Path, tmp_path: Path) -> None:
    pool = ProcessPool("tiny", ["cpu"], models_dir, preview_decoder=str(tmp_path / "no-taesd"))
    with pytest.raises(Exception, match=r"could not load the preview decoder '.*no-taesd'"):
        await pool.start()


def _mean(image: Image.Image) -> float:
    return sum(ImageStat.Stat(image).mean) / 3
