"""Candidate prompts for a party: templates over its associations, the same list for the same state."""

from __future__ import annotations

from pathlib import Path

from bot.parties.rules import Role
from bot.parties.service import PartyService, PartySettings
from bot.parties.suggestions import PromptSuggester
from bot.store import Actor

ALICE = Actor("1", "alice")


async def test_templates_use_the_topic_and_the_most_mentioned_associations(parties: PartyService) -> None:
    state = await parties.start(
        ALICE, guild_id="1", channel_id="2", thread_id="3", topic="loneliness", settings=PartySettings()
    )
    await parties.associate(ALICE, "3", "empty chair")
    state = await parties.associate(ALICE, "3", "Edvard Munch", "artist")
    suggester = PromptSuggester()
    first = await suggester.suggest(state)
    assert len(first) == 5 and len(set(first)) == 5
    assert first[0] == "loneliness" and any("empty chair" in s for s in first)
    assert any("Edvard Munch" in s for s in first)
    assert await suggester.suggest(state) == first


async def test_start_makes_the_topic_version_one_and_the_caller_facilitator(parties: PartyService) -> None:
    state = await parties.start(
        ALICE, guild_id="1", channel_id="2", thread_id="3", topic="  love  ", settings=PartySettings(quorum=2)
    )
    assert state.current_version is not None and state.current_version.text == "love"
    assert state.holders(Role.FACILITATOR) == ["1"] and state.party.quorum == 2


WORDS = ["[UNK]", "<eos>", "rain", "umbrella", "grey", "sky", "window", "a", "of", "the", "soft", "light", "night"]


def tiny_text_model(folder: Path) -> Path:
    """Write a tiny random GPT-2 and a word-level tokenizer to `folder`, offline (no weights downloaded)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    words = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=words, unk_token="[UNK]", eos_token="<eos>")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(WORDS), n_positions=128, n_embd=16, n_layer=1, n_head=2, eos_token_id=1)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


async def test_a_configured_text_model_writes_the_suggestions(parties: PartyService, tmp_path: Path) -> None:
    state = await parties.start(
        ALICE, guild_id="1", channel_id="2", thread_id="3", topic="rain", settings=PartySettings()
    )
    state = await parties.associate(ALICE, "3", "umbrella")
    suggester = PromptSuggester(model=str(tiny_text_model(tmp_path / "model")))
    first = await suggester.suggest(state)
    assert suggester._generator is not None, "the model was loaded and used"
    assert first and all(text.startswith("rain, ") for text in first)
    assert first != PromptSuggester()._from_templates(state)
    assert await suggester.suggest(state) == first  # seeded by the party's state
