"""Themed channels and blocklists: templates, rules, presets, and every change logged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.errors import UserInputError
from bot.store import Actor, Database, list_events
from bot.themes.service import Theme, ThemeService, found_words, load_theme_presets

MOD = Actor("900", "mod")


@pytest.fixture
async def themes(tmp_path: Path) -> AsyncIterator[ThemeService]:
    db = Database(tmp_path / "salon.db")
    await db.open()
    yield ThemeService(db)
    await db.close()


def test_template_wraps_the_prompt_and_negatives_add_up() -> None:
    theme = Theme(name="planets", description="", template="{prompt}, distant planet landscape", negative="text")
    assert theme.apply("two moons", "blur") == ("two moons, distant planet landscape", "blur, text")


def test_template_without_exactly_one_placeholder_is_refused() -> None:
    with pytest.raises(UserInputError, match=r"must contain `\{prompt\}` exactly once"):
        Theme(name="x", description="", template="a landscape")
    with pytest.raises(UserInputError, match="exactly once"):
        Theme(name="x", description="", template="{prompt} {prompt}")


def test_required_words_accept_plurals_and_banned_words_refuse() -> None:
    theme = Theme(name="cats", description="", required_words=("cat", "kitten"), banned_words=("dog",))
    theme.check("three kittens asleep", "tiny")
    with pytest.raises(UserInputError, match="mention at least one of `cat`, `kitten`"):
        theme.check("a mouse", "tiny")
    with pytest.raises(UserInputError, match="does not allow `dog`"):
        theme.check("cats and dogs", "tiny")


def test_allowed_models_are_enforced() -> None:
    theme = Theme(name="t", description="", allowed_models=("sdxl",))
    with pytest.raises(UserInputError, match="allows only these models: `sdxl`"):
        theme.check("a cat", "tiny")


def test_whole_words_only() -> None:
    assert found_words("a catalogue of scattered things", ["cat"]) == []
    assert found_words("Cat, CATS and cat.", ["cat"]) == ["cat"]  # named as the list has it


@pytest.mark.parametrize(
    "disguised",
    [
        "ｇｏｒｅ",  # fullwidth letters
        "g\u200bore",  # a zero-width space inside
        "go\u00adre",  # a soft hyphen
        "g\u2060o\u200dre",  # a word joiner and a zero-width joiner
        "gоre",  # a Cyrillic о
        "ɡore",  # Latin script g (U+0261)
        "GΟRE",  # a Greek capital omicron
        "g\u0301ore",  # a stacked accent
        "𝐠𝐨𝐫𝐞",  # mathematical bold
        "ᴳᴼᴿᴱ",  # modifier capitals
    ],
)
def test_a_disguised_word_is_still_the_word(disguised: str) -> None:
    assert found_words(f"so much {disguised} here", ["gore"]) == ["gore"]
    assert found_words(f"{disguised}s everywhere", ["Gore"]) == ["gore"]


def test_a_term_listed_with_a_look_alike_or_spaces_matches_its_plain_spelling() -> None:
    assert found_words("a blood  bath", ["ｂｌｏｏｄ ｂａｔｈ"]) == ["ｂｌｏｏｄ ｂａｔｈ"]
    assert found_words("кот и собака", ["кот"]) == ["кот"]  # other scripts are words too
    assert found_words("a scoreboard, forego, gorey", ["gore"]) == []  # still whole words only


def test_every_shipped_preset_loads_and_applies() -> None:
    presets = load_theme_presets()
    assert {"cats", "distant-planets"} <= set(presets)
    for theme in presets.values():
        prompt, _ = theme.apply("something", "")
        assert "something" in prompt and theme.description


def test_broken_preset_file_names_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "themes.toml"
    path.write_text('[oops]\ndescription = "d"\ntemplate = "no placeholder"\n')
    with pytest.raises(ValueError, match=r"theme \[oops\] is invalid"):
        load_theme_presets(path)


async def test_set_show_clear_round_trip_with_events(themes: ThemeService) -> None:
    theme = themes.preset("cats")
    await themes.set_theme(MOD, "1", "10", theme)
    assert await themes.theme_of("10") == theme
    assert await themes.theme_of("11") is None
    assert await themes.clear_theme(MOD, "1", "10") is True
    assert await themes.clear_theme(MOD, "1", "10") is False
    assert await themes.theme_of("10") is None
    kinds = [event.kind for event in await list_events(themes.db, channel_id="10")]
    assert kinds == ["theme.set", "theme.cleared"]


async def test_unknown_preset_suggests_the_nearest(themes: ThemeService) -> None:
    with pytest.raises(UserInputError, match="Did you mean `cats`"):
        themes.preset("catz")
    assert themes.autocomplete("pla")[0][0] == "distant-planets"


async def test_blocklist_refuses_terms_in_its_guild_only(themes: ThemeService) -> None:
    assert await themes.block(MOD, "1", "  Gore ") is True
    assert await themes.block(MOD, "1", "gore") is False
    with pytest.raises(UserInputError, match="uses `gore`, blocked by the moderators"):
        await themes.check_blocklist("1", "so much GORE here")
    with pytest.raises(UserInputError, match="uses `gore`"):
        await themes.check_blocklist("1", "a calm sky", "ｇ\u200bоre")  # the negative prompt too, disguised
    await themes.check_blocklist("2", "so much gore here")
    await themes.check_blocklist(None, "gore in a DM")
    assert await themes.blocked("1") == ["gore"]
    assert await themes.unblock(MOD, "1", "gore") is True
    await themes.check_blocklist("1", "gore")
    kinds = [event.kind for event in await list_events(themes.db, kinds=("blocklist.added", "blocklist.removed"))]
    assert kinds == ["blocklist.added", "blocklist.removed"]


@pytest.mark.parametrize(
    ("defaults", "message"),
    [
        ({"steps": -1}, "The theme's default steps is -1; choose 1 to 150"),
        ({"steps": 0}, "The theme's default steps is 0; choose 1 to 150"),
        ({"steps": 1.5}, "1.5, not a whole number"),
        ({"guidance": 1e308}, "The theme's default guidance is 1e\\+308; choose 0 to 30"),
        ({"guidance": float("inf")}, "must be a number"),
        ({"width": 100}, "choose a multiple of 8 from 64 to 2048"),
        ({"height": "512"}, "must be a number"),
        ({"sampler": 3}, "Unknown theme default 'sampler'"),
    ],
)
def test_theme_defaults_have_the_limits_of_imagine(defaults: dict, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        Theme(name="x", description="", template="{prompt}", defaults=defaults)
