"""`python -m bot check --deep` against the loopback Discord: the token asked, the model made to draw."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.__main__ import _check
from bot.settings import Settings
from tests.e2e.conftest import World


async def test_a_deep_check_loads_the_model_draws_and_asks_discord(
    world: World, salon_settings: Callable[..., Settings], models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _check(salon_settings(model_cache_dir=models_dir), deep=True) == 0
    out = capsys.readouterr()
    # stderr holds only diffusers' loading progress, no problem.
    assert "salon: check: everything checks out" in out.out and "salon: check:" not in out.err


async def test_a_deep_check_says_when_discord_refuses_the_token(
    world: World, salon_settings: Callable[..., Settings], models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = salon_settings(model_cache_dir=models_dir, discord_token="not.the.token")
    assert await _check(settings, deep=True) == 2
    problems = [line for line in capsys.readouterr().err.splitlines() if line.startswith("salon: check:")]
    assert problems == [
        "salon: check: DISCORD_TOKEN: Discord refused it; copy the bot token again from the developer portal"
    ]


async def test_a_deep_check_says_when_discord_cannot_be_reached(
    salon_settings: Callable[..., Settings], world: World, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = salon_settings(model_cache_dir=models_dir, discord_api_base="http://127.0.0.1:9/api/v10")
    assert await _check(settings, deep=True) == 2
    [line] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("salon: check:")]
    assert line.startswith("salon: check: Discord cannot be reached at http://127.0.0.1:9/api/v10: ")
