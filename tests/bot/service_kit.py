"""Helpers for service tests: settings under a temporary folder, and services over a fresh store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.jobs.results import FinishedGeneration
from bot.jobs.spec import ImagineOptions, Place
from bot.services import Services
from bot.settings import Settings, load_settings
from bot.store import Actor, Database, ImageFiles
from gpu_worker import GenerationPool


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Return settings for a service test: a data folder under `tmp_path`, the tiny model, small images."""
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "model_source": "tiny",
        "image_width": 64,
        "image_height": 64,
        "steps": 2,
        "images_per_prompt": 2,
    }
    values.update(overrides)
    return load_settings(**values)


async def open_services(settings: Settings, pool: GenerationPool) -> tuple[Services, Database]:
    """Return services over a freshly opened store (close the database when done)."""
    db = Database(settings.resolved_database_path)
    await db.open()
    return Services.build(settings, db, ImageFiles(settings.images_dir), pool), db


async def generate(services: Services, actor: Actor, place: Place, options: ImagineOptions) -> FinishedGeneration:
    """Return a finished /imagine job: prepared, queued and run to its stored images."""
    prepared = await services.imagine.prepare(actor, place, options)
    return await services.jobs.wait(await services.jobs.submit(actor, place, prepared))
