"""Choosing a model: registry aliases only, each with its defaults under the theme's, its negative appended."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.errors import UserInputError
from bot.jobs.spec import ImagineOptions, Place
from bot.services import Services
from bot.store import Actor
from bot.themes.service import Theme
from gpu_worker.memory_pool import MemoryPool
from tests.bot.service_kit import make_settings, open_services

ALICE = Actor("1", "alice")
PLACE = Place("1", "50")

MODELS = """
default = "base"
[models.base]
source = "tiny"
[models.turbo]
source = "/srv/models/turbo.safetensors"
description = "One step"
[models.turbo.defaults]
steps = 1
guidance = 0.0
scheduler = "euler_a"
width = 128
height = 96
negative_prompt = "blurry"
"""


@pytest.fixture
async def services(tmp_path: Path, memory_pool: MemoryPool) -> AsyncIterator[Services]:
    models = tmp_path / "models.toml"
    models.write_text(MODELS)
    built, db = await open_services(make_settings(tmp_path, models_file=models), memory_pool)
    yield built
    await built.jobs.shutdown()
    await db.close()


async def test_the_default_model_takes_the_deployment_defaults(services: Services) -> None:
    render = (await services.imagine.prepare(ALICE, PLACE, ImagineOptions("a boat"))).spec.render
    assert (render.model, render.steps, render.width, render.height) == ("base", 2, 64, 64)
    assert render.negative_prompt == ""


async def test_a_chosen_model_brings_its_own_defaults_and_negative(services: Services) -> None:
    options = ImagineOptions("a boat", negative_prompt="text", model="turbo")
    render = (await services.imagine.prepare(ALICE, PLACE, options)).spec.render
    assert (render.model, render.steps, render.guidance, render.scheduler) == ("turbo", 1, 0.0, "euler_a")
    assert (render.width, render.height) == (128, 96)
    assert render.negative_prompt == "text, blurry"


async def test_the_members_options_and_the_theme_win_over_the_model(services: Services) -> None:
    theme = Theme(name="slow", description="", defaults={"steps": 6}, allowed_models=("turbo",))
    await services.themes.set_theme(ALICE, PLACE.guild_id, PLACE.channel_id, theme)
    render = (await services.imagine.prepare(ALICE, PLACE, ImagineOptions("a boat"))).spec.render
    assert render.model == "turbo"  # the theme's first allowed model is its default
    assert render.steps == 6  # the theme's default over the model's
    assert render.guidance == 0.0  # the model's, which the theme leaves open
    asked = (await services.imagine.prepare(ALICE, PLACE, ImagineOptions("a boat", steps=3))).spec.render
    assert asked.steps == 3


async def test_a_path_or_unknown_alias_is_refused_naming_the_aliases(services: Services) -> None:
    for asked in ("/srv/models/turbo.safetensors", "sdxl"):
        with pytest.raises(UserInputError) as caught:
            await services.imagine.prepare(ALICE, PLACE, ImagineOptions("a boat", model=asked))
        assert "base" in str(caught.value) and "turbo" in str(caught.value)
        assert "/srv" not in str(caught.value).replace(asked, "")
