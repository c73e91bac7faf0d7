"""Variants `{a|b}` and wildcards `__name__`, expanded by dynamicprompts from the lists in a folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import UserInputError
from bot.prompting.wildcards import WILDCARDS_DIR, Wildcards


@pytest.fixture
def wildcards(tmp_path: Path) -> Wildcards:
    (tmp_path / "animals.txt").write_text("# animals, one a line\ncat\ndog\nfox\nowl\n", encoding="utf-8")
    (tmp_path / "artists.txt").write_text("Claude Monet\nHokusai\nIvan Aivazovsky\n", encoding="utf-8")
    return Wildcards(tmp_path)


def options(folder: Path, name: str) -> set[str]:
    lines = (folder / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def test_names_are_the_lists_in_the_folder(wildcards: Wildcards) -> None:
    assert wildcards.names() == ["animals", "artists"]


def test_a_wildcard_draws_one_line_of_its_list_never_a_comment(wildcards: Wildcards, tmp_path: Path) -> None:
    drawn = {wildcards.expand("__animals__", seed) for seed in range(40)}
    assert drawn == options(tmp_path, "animals")


def test_a_variant_picks_one_of_its_options(wildcards: Wildcards) -> None:
    drawn = {wildcards.expand("a {red|green|blue} car", seed) for seed in range(40)}
    assert drawn == {"a red car", "a green car", "a blue car"}


def test_same_template_and_seed_always_give_the_same_text(wildcards: Wildcards, tmp_path: Path) -> None:
    template = "a {red|green|blue} __animals__ by __artists__"
    first = [wildcards.expand(template, seed) for seed in range(10)]
    assert first == [Wildcards(tmp_path).expand(template, seed) for seed in range(10)]
    assert len(set(first)) > 1  # and the seed does choose


def test_text_without_syntax_is_left_as_it_is(wildcards: Wildcards) -> None:
    text = "(a lighthouse)1.3 at dusk++, storm-- #1 fan | poster"
    assert wildcards.expand(text, 3) == text
    assert not wildcards.has_syntax(text)


def test_hash_is_prompt_text_not_a_comment(wildcards: Wildcards) -> None:
    assert wildcards.expand("#1 {red|red} car, #ff0000", 1) == "#1 red car, #ff0000"


def test_has_syntax_spots_variants_and_wildcards() -> None:
    assert Wildcards.has_syntax("a {red|blue} car")
    assert Wildcards.has_syntax("by __artists__")
    assert not Wildcards.has_syntax("a {single} word in braces, a_snake_case name")


def test_a_word_in_double_underscores_that_names_no_list_stays_text(wildcards: Wildcards) -> None:
    # Markdown underline, a dunder, a typo: kept as written, never refused, never a file path.
    for template in ("a __dunder__ cat", "__init__ by __artsts__", "__../../etc/passwd__", "__xyz*__"):
        assert wildcards.expand(template, 1) == template
    assert wildcards.used("__init__ by __artsts__") == ()
    [note] = wildcards.literal_notes("a cat by __artsts__ and __artsts__ again")
    assert "`__artsts__` is not a wildcard list, so it was kept as text" in note and "`__artists__`" in note


def test_known_lists_expand_beside_literal_words(wildcards: Wildcards) -> None:
    expanded = wildcards.expand("__ani*__ by __artists__, not __this__", 2)
    animal, rest = expanded.split(" by ", 1)
    assert animal in {"cat", "dog", "fox", "owl"} and rest.endswith(", not __this__")
    assert "__artists__" not in rest
    assert wildcards.used("__ani*__ by __artists__, not __this__") == ("animals", "artists")


@pytest.mark.parametrize("template", ["a {red|blue car", "a red|blue} car", "a }{red|blue} car", "{a|{b|c}"])
def test_unbalanced_braces_say_how_variants_are_written(wildcards: Wildcards, template: str) -> None:
    with pytest.raises(UserInputError, match=r"\{red\|green\|blue\}"):
        wildcards.expand(template, 1)


def test_syntax_dynamicprompts_cannot_read_is_a_user_error(wildcards: Wildcards) -> None:
    with pytest.raises(UserInputError, match="could not be read"):
        wildcards.expand("{a|b} $$ c", 1)


def test_nested_variants_expand(wildcards: Wildcards) -> None:
    drawn = {wildcards.expand("{a|{b|c}}", seed) for seed in range(40)}
    assert drawn == {"a", "b", "c"}


def test_a_missing_folder_is_a_setup_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        Wildcards(tmp_path / "nowhere")


def test_shipped_lists_are_all_there_and_expand() -> None:
    shipped = Wildcards(WILDCARDS_DIR)
    assert set(shipped.names()) >= {"artists", "colors", "moods", "mediums", "lighting"}
    artists = options(WILDCARDS_DIR, "artists")
    assert len(artists) >= 25
    assert {"Claude Monet", "Ivan Aivazovsky", "Alphonse Mucha", "Gustav Klimt"} <= artists
    for name in shipped.names():
        assert shipped.expand(f"__{name}__", 7) in options(WILDCARDS_DIR, name)
