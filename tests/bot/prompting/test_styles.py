"""Style presets: loaded and checked from TOML, found by name, offered to autocomplete, applied to prompts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import UserInputError
from bot.prompting.styles import STYLES_PATH, StyleCatalog, StylePreset, default_style_catalog

PRESETS = """
[oil]
label = "Oil painting"
description = "Oil on canvas."
template = "{prompt}, oil painting"
negative = "photo"

[watercolor]
label = "Watercolor"
description = "Wet paper."
template = "watercolor painting of {prompt}"

[aivazovsky]
label = "By Ivan Aivazovsky"
description = "The sea."
template = "{prompt}, by Ivan Aivazovsky"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "styles.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def catalog(tmp_path: Path) -> StyleCatalog:
    return StyleCatalog.load(write(tmp_path, PRESETS))


def test_presets_load_with_every_field(catalog: StyleCatalog) -> None:
    assert catalog.names() == ["aivazovsky", "oil", "watercolor"]
    assert catalog.get("oil") == StylePreset(
        name="oil",
        label="Oil painting",
        description="Oil on canvas.",
        template="{prompt}, oil painting",
        negative="photo",
    )
    assert catalog.get("watercolor").negative == ""


def test_get_ignores_case_and_spaces(catalog: StyleCatalog) -> None:
    assert catalog.get("  OIL ").name == "oil"


def test_unknown_style_suggests_the_nearest_names(catalog: StyleCatalog) -> None:
    with pytest.raises(UserInputError, match=r"no style named 'watercolour'.*Did you mean `watercolor`"):
        catalog.get("watercolour")


def test_apply_puts_the_prompt_in_the_template_and_adds_the_negative(catalog: StyleCatalog) -> None:
    assert catalog.apply(catalog.get("oil"), " a red kite ", "fog") == ("a red kite, oil painting", "fog, photo")
    assert catalog.apply(catalog.get("oil"), "a kite", "") == ("a kite, oil painting", "photo")
    assert catalog.apply(catalog.get("watercolor"), "a kite", " ") == ("watercolor painting of a kite", "")


def test_apply_does_not_read_braces_in_the_users_prompt(catalog: StyleCatalog) -> None:
    prompt, _ = catalog.apply(catalog.get("oil"), "a {red|blue} {prompt} kite", "")
    assert prompt == "a {red|blue} {prompt} kite, oil painting"


def test_autocomplete_offers_prefix_matches_before_substrings(catalog: StyleCatalog) -> None:
    assert catalog.autocomplete("aiv") == [("aivazovsky", "By Ivan Aivazovsky")]
    # "o" starts `oil`; it is inside "watercolor" and "aivazovsky".
    assert catalog.autocomplete("O") == [
        ("oil", "Oil painting"),
        ("aivazovsky", "By Ivan Aivazovsky"),
        ("watercolor", "Watercolor"),
    ]
    assert catalog.autocomplete("by")[0] == ("aivazovsky", "By Ivan Aivazovsky")  # the label's prefix counts


def test_autocomplete_of_nothing_lists_everything_up_to_the_limit(catalog: StyleCatalog) -> None:
    assert [name for name, _ in catalog.autocomplete("")] == ["aivazovsky", "oil", "watercolor"]
    assert len(catalog.autocomplete("", limit=2)) == 2
    assert catalog.autocomplete("zzz") == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[oil]\nlabel = "O"\ndescription = "d"\ntemplate = "oil painting"', r"\[oil\].*\{prompt\} exactly once.*0"),
        ('[oil]\nlabel = "O"\ndescription = "d"\ntemplate = "{prompt} {prompt}"', r"\[oil\].*exactly once.*2"),
        ('[oil]\nlabel = "O"\ndescription = "d"', r"\[oil\] needs a non-empty template"),
        ('[oil]\ndescription = "d"\ntemplate = "{prompt}"', r"\[oil\] needs a non-empty label"),
        ('[oil]\nlabel = "O"\ndescription = "d"\ntemplate = "{prompt}"\ncolour = 1', r"\[oil\] has unknown keys"),
        ('[Oil]\nlabel = "O"\ndescription = "d"\ntemplate = "{prompt}"', r"\[Oil\].*slug"),
        ('[oil]\nlabel = "O"\ndescription = "d"\ntemplate = "{prompt}"\nnegative = 3', r"\[oil\].*negative"),
        ("oil = 1", r"\[oil\] must be a table"),
    ],
)
def test_broken_entries_are_named(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        StyleCatalog.load(write(tmp_path, text))


def test_a_name_defined_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"styles.toml is not valid TOML.*oil"):
        StyleCatalog.load(write(tmp_path, PRESETS + '\n[oil]\nlabel = "x"\ndescription = "d"\ntemplate = "{prompt}"\n'))
    twice = StylePreset("oil", "Oil", "d", "{prompt}")
    with pytest.raises(ValueError, match="'oil' is defined twice"):
        StyleCatalog([twice, twice])


def test_every_shipped_preset_loads_and_applies() -> None:
    shipped = default_style_catalog()
    assert shipped is default_style_catalog()  # loaded once
    assert STYLES_PATH.is_file()
    names = shipped.names()
    assert {"oil", "watercolor", "pastel", "pencil", "ink", "photo", "anime"} <= set(names)
    for name in names:
        preset = shipped.get(name)
        assert preset.label and preset.description
        prompt, negative = shipped.apply(preset, "a lighthouse at dusk", "fog")
        assert "a lighthouse at dusk" in prompt and "{prompt}" not in prompt
        assert negative.startswith("fog")


def test_shipped_presets_carry_the_essays_artists_and_modifiers() -> None:
    templates = " | ".join(default_style_catalog().get(name).template for name in default_style_catalog().names())
    for phrase in ("by Edvard Munch", "by Pablo Picasso", "by James Gurney", "trending on artstation", "sepia, matte"):
        assert phrase in templates
    assert "unreal engine" in templates.lower()


def test_shipped_autocomplete_finds_watercolor_from_its_start() -> None:
    assert default_style_catalog().autocomplete("wat")[0][0] == "watercolor"
