"""Prompt embeddings through compel: weighted words and prompts longer than one 77-token window.

Compel reads its weighting syntax (`word+`, `word-`, `(word)1.3`, `(a red kite)0.8`) and, with
`truncate_long_prompts=False`, encodes a long prompt as consecutive windows of 75 tokens between
start and end markers, split at a sentence, phrase or word boundary. The windows' embeddings are
concatenated, so the UNet attends to all of them. Each window costs cross-attention time, so at
most `MAX_PROMPT_WINDOWS` are kept; the words of the windows beyond are cut, decoded back to text
from the tokenizer, and returned as `dropped` so the user is told what was left out.

The positive and negative embeddings are padded to the same number of windows (with the
empty-prompt embedding, as compel does), because classifier-free guidance stacks them into one
batch. SDXL has two text encoders: each gets its own compel, their per-token embeddings are
concatenated feature-wise, and the second one's pooled embedding conditions the UNet too, as in
diffusers' own `encode_prompt`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_PROMPT_WINDOWS = 3
# What one window holds between its start and end markers.
WINDOW_TOKENS = 75


@dataclass(frozen=True)
class EncodedPrompt:
    """A prompt's embeddings in the pipeline's order (None where not needed), and the text that did not fit."""

    prompt_embeds: Any
    negative_prompt_embeds: Any = None
    # SDXL only: the pooled embeddings of its second text encoder.
    pooled_prompt_embeds: Any = None
    negative_pooled_prompt_embeds: Any = None
    # The end of the prompt beyond MAX_PROMPT_WINDOWS windows ("" when all of it fit).
    dropped: str = ""
    # The same for the negative prompt: it is cut too, but only the prompt's loss is shown to users.
    negative_dropped: str = ""

    @property
    def length(self) -> int:
        """Return the number of token positions in the embeddings (77 per window)."""
        return int(self.prompt_embeds.shape[1])

    def pipeline_arguments(self) -> dict[str, Any]:
        """Return the embeddings as keyword arguments of a diffusers pipeline call, leaving out the unused ones."""
        named = {
            "prompt_embeds": self.prompt_embeds,
            "negative_prompt_embeds": self.negative_prompt_embeds,
            "pooled_prompt_embeds": self.pooled_prompt_embeds,
            "negative_pooled_prompt_embeds": self.negative_pooled_prompt_embeds,
        }
        return {name: value for name, value in named.items() if value is not None}


def encode_prompt(pipeline: Any, prompt: str, negative: str, device: Any, guided: bool) -> EncodedPrompt:
    """Return the embeddings of `prompt` (and of `negative` when `guided`), at most MAX_PROMPT_WINDOWS windows each.

    Works for Stable Diffusion pipelines (one CLIP text encoder) and SDXL ones (`text_encoder_2`,
    which may be the only encoder, as in the refiner). Without guidance the negative prompt is
    not encoded, so it cannot change the embeddings' length.
    """
    import torch

    encoders = _encoders(pipeline, device)
    with torch.inference_mode():
        positive = [_encode_capped(encoder, prompt) for encoder in encoders]
        negatives = [_encode_capped(encoder, negative) for encoder in encoders] if guided else None
        # Guidance stacks negative and positive into one batch, and SDXL joins its encoders
        # feature-wise: every part must have as many windows as the longest.
        parts = [*positive, *(negatives or [])]
        length = max(part.embeds.shape[1] for part in parts)
        positive = [_padded(encoder, part, length) for encoder, part in zip(encoders, positive, strict=True)]
        if negatives is not None:
            negatives = [_padded(encoder, part, length) for encoder, part in zip(encoders, negatives, strict=True)]
        prompt_embeds = _join([part.embeds for part in positive])
        pooled = _pooled(encoders, positive)
        negative_embeds = _join([part.embeds for part in negatives]) if negatives is not None else None
        negative_pooled = _pooled(encoders, negatives) if negatives is not None else None
        if negatives is not None and not negative.strip() and _zeros_for_empty_negative(pipeline):
            # SDXL checkpoints are configured to use zeros for an empty negative prompt; diffusers
            # does the same in its own `encode_prompt`, and images should match that.
            negative_embeds = torch.zeros_like(negative_embeds)
            negative_pooled = torch.zeros_like(negative_pooled) if negative_pooled is not None else None
    return EncodedPrompt(
        prompt_embeds=prompt_embeds,
        negative_prompt_embeds=negative_embeds,
        pooled_prompt_embeds=pooled,
        negative_pooled_prompt_embeds=negative_pooled,
        dropped=positive[0].dropped,
        negative_dropped=negatives[0].dropped if negatives is not None else "",
    )


@dataclass(frozen=True)
class _Encoder:
    """One tokenizer and text encoder behind its compel; `pooled` when the pipeline wants its pooled output."""

    compel: Any
    tokenizer: Any
    pooled: bool


@dataclass(frozen=True)
class _Capped:
    """One text through one encoder: per-token embeddings (cut to the window cap), pooled, and what was cut."""

    embeds: Any
    pooled: Any
    dropped: str


def _encoders(pipeline: Any, device: Any) -> list[_Encoder]:
    """Return the pipeline's text encoders wrapped in compel: one for SD, two (or the second alone) for SDXL."""
    from compel import Compel, ReturnedEmbeddingsType

    if getattr(pipeline, "text_encoder_2", None) is None:
        compel = Compel(
            tokenizer=pipeline.tokenizer,
            text_encoder=pipeline.text_encoder,
            truncate_long_prompts=False,
            device=str(device),
        )
        return [_Encoder(compel, pipeline.tokenizer, pooled=False)]
    # Two compels rather than compel's deprecated list form, which prints a warning on every build;
    # joined below the same way compel's multi-encoder provider joins them.
    pairs = [
        (getattr(pipeline, "tokenizer", None), getattr(pipeline, "text_encoder", None), False),
        (pipeline.tokenizer_2, pipeline.text_encoder_2, True),
    ]
    return [
        _Encoder(
            Compel(
                tokenizer=tokenizer,
                text_encoder=text_encoder,
                returned_embeddings_type=ReturnedEmbeddingsType.PENULTIMATE_HIDDEN_STATES_NON_NORMALIZED,
                requires_pooled=pooled,
                truncate_long_prompts=False,
                device=str(device),
            ),
            tokenizer,
            pooled,
        )
        for tokenizer, text_encoder, pooled in pairs
        if tokenizer is not None and text_encoder is not None
    ]


def _encode_capped(encoder: _Encoder, text: str) -> _Capped:
    """Return `text` encoded by one compel, its windows beyond the cap cut off and decoded into `dropped`."""
    if encoder.pooled:
        embeds, tokens, pooled = encoder.compel.build_conditioning_tensor(text, return_tokenization=True)
    else:
        embeds, tokens = encoder.compel.build_conditioning_tensor(text, return_tokenization=True)
        pooled = None
    window = encoder.tokenizer.model_max_length
    keep = MAX_PROMPT_WINDOWS * window
    if embeds.shape[1] <= keep:
        return _Capped(embeds, pooled, "")
    # The windows are encoded one by one, so the first ones do not depend on what is cut.
    return _Capped(embeds[:, :keep], pooled, _decode_beyond(encoder.tokenizer, tokens, keep))


def _padded(encoder: _Encoder, part: _Capped, length: int) -> _Capped:
    """Return `part` with its embeddings padded to `length` positions by compel (empty-prompt windows)."""
    if part.embeds.shape[1] == length:
        return part
    # Compel pads every tensor of a list to the longest one; the second is only a length to reach.
    target = part.embeds.new_zeros((part.embeds.shape[0], length, part.embeds.shape[2]))
    embeds = encoder.compel.pad_conditioning_tensors_to_same_length([part.embeds, target])[0]
    return _Capped(embeds, part.pooled, part.dropped)


def _decode_beyond(tokenizer: Any, tokens: Any, keep: int) -> str:
    """Return the words of the token ids after position `keep`, without start, end and padding markers."""
    flat = tokens.reshape(-1).tolist()
    markers = {tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id}
    # Blends and `.swap()` report a tokenization shorter than their embeddings; nothing to decode then.
    cut = [token for token in flat[keep:] if token not in markers]
    if not cut:
        return "(the end of the prompt)" if len(flat) <= keep else ""
    return " ".join(tokenizer.decode(cut).split())


def _join(parts: list[Any]) -> Any:
    """Return the encoders' per-token embeddings side by side (SDXL's UNet reads 768 + 1280 features)."""
    import torch

    if len(parts) == 1:
        return parts[0]
    return torch.cat(parts, dim=-1)


def _pooled(encoders: list[_Encoder], parts: list[_Capped]) -> Any:
    """Return the pooled embedding of the encoder that gives one, or None for SD."""
    for encoder, part in zip(encoders, parts, strict=True):
        if encoder.pooled:
            return part.pooled
    return None


def _zeros_for_empty_negative(pipeline: Any) -> bool:
    config = getattr(pipeline, "config", None)
    return bool(getattr(config, "force_zeros_for_empty_prompt", False))
