"""Inline flags inside a prompt: `--no fog --seed 42 --ar 16:9 --steps 30`."""

from __future__ import annotations

import pytest

from bot.errors import UserInputError
from bot.prompting.flags import InlineFlags, parse_inline_flags, size_for_aspect


def test_a_prompt_without_flags_is_only_tidied() -> None:
    assert parse_inline_flags("  a   lighthouse\nat dusk ") == InlineFlags(prompt="a lighthouse at dusk")


def test_every_flag_is_read_out_of_the_prompt() -> None:
    flags = parse_inline_flags("a lighthouse at dusk --no fog, rain --seed 42 --ar 16:9 --steps 30")
    assert flags == InlineFlags(prompt="a lighthouse at dusk", negative="fog, rain", seed=42, aspect=(16, 9), steps=30)


def test_no_takes_every_word_until_the_next_flag() -> None:
    flags = parse_inline_flags("a cat --no blurry   dogs  and  text --seed 1")
    assert flags.negative == "blurry dogs and text" and flags.seed == 1 and flags.prompt == "a cat"


def test_words_after_a_one_word_flag_go_back_into_the_prompt() -> None:
    flags = parse_inline_flags("a cat --ar 2:3 sitting in the rain --steps 20 at night")
    assert flags.prompt == "a cat sitting in the rain at night"
    assert flags.aspect == (2, 3) and flags.steps == 20


def test_equals_sign_and_phone_dashes_work_like_two_hyphens() -> None:
    assert parse_inline_flags("a cat --no=fog").negative == "fog"
    assert parse_inline_flags("a cat —no fog —seed=7") == InlineFlags(prompt="a cat", negative="fog", seed=7)
    assert parse_inline_flags("a cat –ar 1:1").aspect == (1, 1)


def test_flag_names_ignore_case() -> None:
    assert parse_inline_flags("a cat --SEED 3 --AR 4:3").aspect == (4, 3)


def test_double_hyphens_inside_a_word_are_not_flags() -> None:
    assert parse_inline_flags("a well--known cat -- sleeping").prompt == "a well--known cat -- sleeping"


def test_unknown_flag_names_the_allowed_ones() -> None:
    with pytest.raises(UserInputError) as caught:
        parse_inline_flags("a cat --foo bar")
    message = str(caught.value)
    assert "--foo" in message
    for allowed in ("--no <words>", "--seed <number>", "--ar <width>:<height>", "--steps <number>"):
        assert allowed in message


def test_misspelt_flag_suggests_the_nearest() -> None:
    with pytest.raises(UserInputError, match="Did you mean `--seed`"):
        parse_inline_flags("a cat --sed 4")
    with pytest.raises(UserInputError, match="Did you mean `--ar`"):
        parse_inline_flags("a cat --ar16:9")


@pytest.mark.parametrize("text", ["a cat --seed", "a cat --seed --ar 1:1", "a cat --no", "a cat --no= --seed 2"])
def test_flag_without_value_says_it_needs_one(text: str) -> None:
    with pytest.raises(UserInputError, match=r"needs a value.*--no <words>"):
        parse_inline_flags(text)


@pytest.mark.parametrize("text", ["a cat --seed abc", "a cat --seed 4.5", "a cat --seed -3", "a cat --steps twenty"])
def test_non_integer_seed_or_steps_asks_for_a_whole_number(text: str) -> None:
    with pytest.raises(UserInputError, match="takes a whole number"):
        parse_inline_flags(text)


def test_range_of_seed_and_steps_is_left_to_the_generation_service() -> None:
    flags = parse_inline_flags("a cat --seed 99999999999999999999 --steps 5000")
    assert flags.seed == 99999999999999999999 and flags.steps == 5000


def test_repeated_flag_is_refused() -> None:
    with pytest.raises(UserInputError, match="--seed is given twice"):
        parse_inline_flags("a cat --seed 1 --seed 2")


@pytest.mark.parametrize("value", ["abc", "16/9", "16:", ":9", "1.5:1", "16:9:1"])
def test_malformed_aspect_shows_the_form(value: str) -> None:
    with pytest.raises(UserInputError, match="such as 16:9"):
        parse_inline_flags(f"a cat --ar {value}")


@pytest.mark.parametrize("value", ["0:1", "1:0", "22:9", "16:30"])
def test_aspect_sides_go_from_1_to_21(value: str) -> None:
    with pytest.raises(UserInputError, match="from 1 to 21"):
        parse_inline_flags(f"a cat --ar {value}")


@pytest.mark.parametrize("value", ["5:1", "1:5", "21:5"])
def test_aspect_narrower_than_1_to_4_is_refused(value: str) -> None:
    with pytest.raises(UserInputError, match="from 1:4 to 4:1"):
        parse_inline_flags(f"a cat --ar {value}")


def test_extreme_allowed_aspects_are_accepted() -> None:
    assert parse_inline_flags("x --ar 4:1").aspect == (4, 1)
    assert parse_inline_flags("x --ar 21:21").aspect == (21, 21)


def test_sixteen_by_nine_at_512_squared_is_704_by_384() -> None:
    assert size_for_aspect((16, 9), 512 * 512) == (680, 384)


@pytest.mark.parametrize("aspect", [(1, 1), (4, 3), (3, 4), (2, 3), (16, 9), (9, 16), (21, 9), (4, 1), (1, 4)])
def test_sizes_are_multiples_of_64_near_the_base_area_and_ratio(aspect: tuple[int, int]) -> None:
    base = 768 * 768
    width, height = size_for_aspect(aspect, base)
    assert width % 8 == 0 and height % 8 == 0
    assert abs(width * height - base) / base < 0.15
    assert abs(width / height - aspect[0] / aspect[1]) / (aspect[0] / aspect[1]) < 0.1


def test_square_keeps_the_base_size() -> None:
    assert size_for_aspect((1, 1), 512 * 512) == (512, 512)
    assert size_for_aspect((7, 7), 1024 * 1024) == (1024, 1024)


def test_sides_stay_between_64_and_2048() -> None:
    assert size_for_aspect((4, 1), 64 * 64) == (128, 64)
    assert size_for_aspect((1, 4), 4096 * 4096) == (2048, 2048)


def test_nonsense_size_arguments_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="positive"):
        size_for_aspect((0, 1), 512 * 512)
    with pytest.raises(ValueError, match="positive"):
        size_for_aspect((1, 1), 0)
