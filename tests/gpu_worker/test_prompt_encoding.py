"""Prompt embeddings through compel: weights, long prompts in windows, the cut beyond three, SD and SDXL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from gpu_worker.models import load_pipeline
from gpu_worker.prompt_encoding import MAX_PROMPT_WINDOWS, WINDOW_TOKENS, EncodedPrompt, encode_prompt
from gpu_worker.tiny import _config, tiny_vocab

WINDOW = WINDOW_TOKENS + 2  # the start and end markers


def word(number: int) -> str:
    """Return a distinct word of letters for `number` (CLIP splits digits apart, so none are used)."""
    letters = "w"
    while True:
        number, digit = divmod(number, 26)
        letters += chr(ord("a") + digit)
        if not number:
            return letters


def words(count: int) -> str:
    """Return `count` distinct lowercase words; the tiny tokenizer spends one token per character."""
    return " ".join(word(number) for number in range(count))


def windows(encoded: EncodedPrompt) -> int:
    return encoded.length // WINDOW


@pytest.fixture(scope="module")
def sd(models_dir: Path) -> Any:
    return load_pipeline("tiny", "cpu", models_dir)


@pytest.fixture(scope="module")
def sdxl(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Return a tiny SDXL pipeline (two CLIP encoders, text-time UNet) with random weights, as diffusers' tests do."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    folder = tmp_path_factory.mktemp("tokenizer")
    (folder / "vocab.json").write_text(json.dumps(tiny_vocab()), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    tokenizer = CLIPTokenizer.from_pretrained(folder, model_max_length=WINDOW)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        # 6 size/crop numbers of 8 features each, plus the pooled text embedding (projection_dim).
        projection_class_embeddings_input_dim=80,
        cross_attention_dim=64,  # both encoders' 32 features side by side
        norm_num_groups=1,
    )
    text = CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        hidden_size=32,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=1000,
        hidden_act="gelu",
        projection_dim=32,
        max_position_embeddings=WINDOW,
    )
    pipeline = StableDiffusionXLPipeline(
        vae=AutoencoderKL.from_config(_config("vae")),
        text_encoder=CLIPTextModel(text),
        text_encoder_2=CLIPTextModelWithProjection(text),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=EulerDiscreteScheduler.from_config(_config("scheduler")),
    )
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


@pytest.mark.parametrize("negative", ["fog", ""])
def test_a_short_prompt_encodes_as_diffusers_would(sd: Any, negative: str) -> None:
    # So images made before compel came in are reproduced to the byte.
    encoded = encode_prompt(sd, "a red kite", negative, "cpu", guided=True)
    expected, expected_negative = sd.encode_prompt(
        "a red kite", "cpu", 1, do_classifier_free_guidance=True, negative_prompt=negative or None
    )
    assert torch.equal(encoded.prompt_embeds, expected)
    assert torch.equal(encoded.negative_prompt_embeds, expected_negative)
    assert encoded.length == WINDOW and encoded.dropped == ""
    assert encoded.pooled_prompt_embeds is None and encoded.negative_pooled_prompt_embeds is None


@pytest.mark.parametrize(
    "weighted", ["a red+ kite", "a red++ kite", "a (red)1.3 kite", "a red- kite", "a (red)0.5 kite"]
)
def test_weighted_words_change_the_embeddings(sd: Any, weighted: str) -> None:
    plain = encode_prompt(sd, "a red kite", "", "cpu", guided=False).prompt_embeds
    changed = encode_prompt(sd, weighted, "", "cpu", guided=False).prompt_embeds
    assert changed.shape == plain.shape and not torch.equal(changed, plain)


def test_encoding_is_deterministic(sd: Any) -> None:
    first = encode_prompt(sd, f"{words(60)}+", "blurry", "cpu", guided=True)
    again = encode_prompt(sd, f"{words(60)}+", "blurry", "cpu", guided=True)
    assert torch.equal(first.prompt_embeds, again.prompt_embeds)
    assert torch.equal(first.negative_prompt_embeds, again.negative_prompt_embeds)


def test_a_prompt_past_77_tokens_takes_a_second_window_and_loses_nothing(sd: Any) -> None:
    prompt = words(40)  # 40 words of 2-3 characters: over 75 tokens, under 150
    assert len(sd.tokenizer(prompt).input_ids) > WINDOW
    encoded = encode_prompt(sd, prompt, "", "cpu", guided=True)
    assert windows(encoded) == 2 and encoded.dropped == ""
    assert encoded.negative_prompt_embeds.shape == encoded.prompt_embeds.shape


def test_a_prompt_past_three_windows_is_cut_and_names_the_cut_words(sd: Any) -> None:
    prompt = words(120)
    encoded = encode_prompt(sd, prompt, "", "cpu", guided=False)
    assert windows(encoded) == MAX_PROMPT_WINDOWS
    assert encoded.dropped and prompt.endswith(" " + encoded.dropped)
    assert encoded.dropped.endswith(word(119)) and not encoded.dropped.startswith(word(0))
    # What was kept is exactly what the same words give without the cut ones.
    kept = prompt[: -len(encoded.dropped)].strip()
    assert torch.equal(encode_prompt(sd, kept, "", "cpu", guided=False).prompt_embeds, encoded.prompt_embeds)


def test_a_short_negative_is_padded_to_the_prompts_windows(sd: Any) -> None:
    encoded = encode_prompt(sd, words(60), "fog", "cpu", guided=True)
    assert windows(encoded) == 3
    assert encoded.negative_prompt_embeds.shape == encoded.prompt_embeds.shape
    alone = encode_prompt(sd, "x", "fog", "cpu", guided=True).negative_prompt_embeds
    assert torch.equal(encoded.negative_prompt_embeds[:, :WINDOW], alone)


def test_a_long_negative_pads_the_prompt(sd: Any) -> None:
    encoded = encode_prompt(sd, "a kite", words(40), "cpu", guided=True)
    assert windows(encoded) == 2
    alone = encode_prompt(sd, "a kite", "", "cpu", guided=False).prompt_embeds
    assert torch.equal(encoded.prompt_embeds[:, :WINDOW], alone)


def test_a_negative_past_three_windows_is_cut_too(sd: Any) -> None:
    encoded = encode_prompt(sd, "a kite", words(120), "cpu", guided=True)
    assert windows(encoded) == MAX_PROMPT_WINDOWS
    assert encoded.dropped == "" and encoded.negative_dropped.endswith(word(119))


def test_without_guidance_the_negative_is_not_encoded(sd: Any) -> None:
    encoded = encode_prompt(sd, "a kite", words(60), "cpu", guided=False)
    assert encoded.negative_prompt_embeds is None and windows(encoded) == 1
    assert set(encoded.pipeline_arguments()) == {"prompt_embeds"}


def test_sdxl_short_prompt_encodes_as_diffusers_would(sdxl: Any) -> None:
    encoded = encode_prompt(sdxl, "a red kite", "fog", "cpu", guided=True)
    expected = sdxl.encode_prompt(
        "a red kite", device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=True, negative_prompt="fog"
    )
    mine = (
        encoded.prompt_embeds,
        encoded.negative_prompt_embeds,
        encoded.pooled_prompt_embeds,
        encoded.negative_pooled_prompt_embeds,
    )
    for ours, theirs in zip(mine, expected, strict=True):
        assert torch.equal(ours, theirs)


def test_sdxl_empty_negative_is_zeros_as_in_diffusers(sdxl: Any) -> None:
    encoded = encode_prompt(sdxl, "a red kite", "", "cpu", guided=True)
    expected = sdxl.encode_prompt("a red kite", device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=True)
    assert torch.equal(encoded.negative_prompt_embeds, expected[1])
    assert torch.equal(encoded.negative_pooled_prompt_embeds, expected[3])
    assert not encoded.negative_prompt_embeds.any()


def test_sdxl_long_prompt_joins_both_encoders_and_pools_the_second(sdxl: Any) -> None:
    encoded = encode_prompt(sdxl, f"a (red)1.2 kite, {words(120)}", "fog", "cpu", guided=True)
    assert encoded.prompt_embeds.shape == (1, MAX_PROMPT_WINDOWS * WINDOW, 64)
    assert encoded.negative_prompt_embeds.shape == encoded.prompt_embeds.shape
    assert encoded.pooled_prompt_embeds.shape == (1, 32) == encoded.negative_pooled_prompt_embeds.shape
    assert encoded.dropped.endswith(word(119))
    assert list(encoded.pipeline_arguments()) == [
        "prompt_embeds",
        "negative_prompt_embeds",
        "pooled_prompt_embeds",
        "negative_pooled_prompt_embeds",
    ]


def test_sdxl_pipeline_runs_on_two_window_embeddings(sdxl: Any) -> None:
    encoded = encode_prompt(sdxl, words(40), "fog", "cpu", guided=True)
    assert windows(encoded) == 2
    generator = torch.Generator("cpu").manual_seed(1)
    with torch.inference_mode():
        output = sdxl(
            **encoded.pipeline_arguments(),
            num_inference_steps=2,
            width=64,
            height=64,
            guidance_scale=5.0,
            generator=generator,
            output_type="np",
        )
    assert output.images.shape == (1, 64, 64, 3)
