"""A tiny Stable Diffusion pipeline with random weights, built entirely offline.

Used by the tests and on machines without weights. It is a real `StableDiffusionPipeline` (real
UNet, VAE, CLIP text encoder and tokenizer) saved to a folder and then loaded by the same
`from_pretrained` path as any local model. Its images look like noise; its code paths are real.

The UNet and text encoder mirror diffusers' own Stable Diffusion test dummies. The VAE differs on
purpose: four blocks instead of two, so it scales latents by 8 like every real SD model (64×64
pixels → 8×8 latents). Latent sizes, previews and size rules then match real models, and a 64×64
batch of four runs about five times faster on a CPU than with the dummies' factor-2 VAE.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)

TINY_SEED = 0
# Bump when the configs or the vocabulary change, so stale cached folders are rebuilt.
TINY_VERSION = "2"


def _config(name: str) -> dict[str, object]:
    text = resources.files("gpu_worker.configs.tiny").joinpath(f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)


def tiny_vocab() -> dict[str, int]:
    """Return a CLIP vocabulary of the special tokens plus every printable ASCII character.

    With a header-only merges file CLIP's BPE splits words into characters, the last one marked
    `</w>`; both forms of each character are in the vocabulary, so every ASCII prompt encodes.
    """
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for code in range(33, 127):
        for token in (chr(code), f"{chr(code)}</w>"):
            vocab.setdefault(token, len(vocab))
    return vocab


def build_tiny_pipeline_folder(cache_dir: Path) -> Path:
    """Return a folder holding the tiny pipeline, building and saving it on first use."""
    target = cache_dir / f"tiny-sd-v{TINY_VERSION}"
    if (target / "model_index.json").exists():
        return target
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    cache_dir.mkdir(parents=True, exist_ok=True)
    # Build in a temporary sibling and rename, so a half-written folder is never taken for a model.
    staging = Path(tempfile.mkdtemp(prefix=".tiny-", dir=cache_dir))
    try:
        tokenizer_dir = staging / "tokenizer-files"
        tokenizer_dir.mkdir()
        (tokenizer_dir / "vocab.json").write_text(json.dumps(tiny_vocab()), encoding="utf-8")
        (tokenizer_dir / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
        tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir, model_max_length=77)

        torch.manual_seed(TINY_SEED)
        unet = UNet2DConditionModel.from_config(_config("unet"))
        vae = AutoencoderKL.from_config(_config("vae"))
        text_encoder = CLIPTextModel(CLIPTextConfig(**_config("text_encoder")))
        scheduler = EulerDiscreteScheduler.from_config(_config("scheduler"))
        pipeline = StableDiffusionPipeline(
            unet=unet,
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        model_dir = staging / "model"
        pipeline.save_pretrained(model_dir, safe_serialization=True)
        try:
            os.replace(model_dir, target)
        except OSError:
            if not (target / "model_index.json").exists():  # not a concurrent build that won the race
                raise
        log.info("built the tiny offline pipeline in %s", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
