"""Suggestions for names a user mistyped."""

from __future__ import annotations

from bot.nearest import nearest_names, unknown_name_message


def test_prefix_and_close_spellings_are_suggested_best_first() -> None:
    known = ["watercolor", "oil", "pastel", "pencil"]
    assert nearest_names("water", known)[0] == "watercolor"
    assert nearest_names("pastell", known)[0] == "pastel"
    assert nearest_names("PENCIL", known)[0] == "pencil"


def test_message_suggests_nearest_or_lists_the_known_names() -> None:
    assert "Did you mean `watercolor`?" in unknown_name_message("style", "watercolour", ["watercolor", "oil"])
    message = unknown_name_message("theme", "zzz", ["cats", "planets"])
    assert "There is no theme named 'zzz'" in message and "`cats`, `planets`" in message
