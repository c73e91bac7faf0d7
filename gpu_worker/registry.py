"""The model registry: aliases members choose from, each mapped to a source and its own defaults.

Admins know their models by name and members should never see a filesystem path. `models.toml`
(see `models.example.toml`) names each model once:

    default = "dreamshaper"

    [models.dreamshaper]
    source = "/models/dreamshaper_8.safetensors"   # a hub id, a diffusers folder, a single file, or "tiny"
    config = "/models/sd15-config"                 # a single file's local diffusers config (offline)
    description = "Dreamy SD 1.5 fine-tune"
    variant = "fp16"                               # fetch a hub model's fp16 files where they exist
    [models.dreamshaper.defaults]
    steps = 30
    guidance = 6.5

Without a file, the registry holds the one model of `SALON_MODEL_SOURCE`, under an alias made
from its name. The registry travels to each worker process as JSON; the bot reads aliases,
descriptions and defaults from it, the worker the sources.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

Alias = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,31}$")]


class ModelDefaults(BaseModel):
    """What a generation with this model takes when neither the member nor the theme chooses."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    width: int | None = Field(default=None, ge=64, le=2048, multiple_of=8)
    height: int | None = Field(default=None, ge=64, le=2048, multiple_of=8)
    steps: int | None = Field(default=None, ge=1, le=150)
    guidance: float | None = Field(default=None, ge=0.0, le=30.0)
    scheduler: str | None = None
    negative_prompt: str = ""

    @field_validator("scheduler")
    @classmethod
    def _known_scheduler(cls, value: str | None) -> str | None:
        from gpu_worker.models import scheduler_names  # stdlib-only at import

        if value is not None and value not in scheduler_names():
            raise ValueError(f"{value!r} is not a scheduler; use one of {', '.join(scheduler_names())}")
        return value

    def chosen(self) -> dict[str, Any]:
        """Return the defaults this entry sets (the others fall back to the deployment's)."""
        return {
            name: value for name, value in self.model_dump().items() if value is not None and name != "negative_prompt"
        }


class ModelEntry(BaseModel):
    """One model: where its weights are, what members read about it, and its defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1)
    description: str = Field(default="", max_length=100)
    # A single file's diffusers config folder (model_index.json and component configs), for offline loads.
    config: str | None = None
    # A hub model's weight variant, such as "fp16": half the download where the repository has it.
    variant: str | None = None
    defaults: ModelDefaults = ModelDefaults()


class ModelRegistry(BaseModel):
    """Every model a deployment offers, by alias, and which one a job gets when none is chosen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Alias
    models: dict[Alias, ModelEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _default_is_listed(self) -> ModelRegistry:
        if self.default not in self.models:
            raise ValueError(f"default {self.default!r} is not one of the models: {', '.join(self.models)}")
        return self

    @property
    def aliases(self) -> tuple[str, ...]:
        """Return every alias, the default first."""
        return (self.default, *(alias for alias in self.models if alias != self.default))

    def entry(self, alias: str) -> ModelEntry:
        """Return the entry of `alias`; KeyError names the ones there are."""
        try:
            return self.models[alias]
        except KeyError:
            raise KeyError(f"no model {alias!r}; the registry has {', '.join(self.aliases)}") from None


class RegistryError(ValueError):
    """A models.toml that cannot be used; the message names the file and the problem."""


def alias_for(source: str) -> str:
    """Return the alias members see for a bare `SALON_MODEL_SOURCE`: its last name, never its path."""
    name = source.rstrip("/").rsplit("/", 1)[-1]
    for suffix in (".safetensors", ".ckpt"):
        name = name.removesuffix(suffix)
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", name.casefold()).strip("-._")[:32]
    return cleaned or "model"


def single_model_registry(source: str) -> ModelRegistry:
    """Return the registry of one model given by its source alone."""
    alias = alias_for(source)
    return ModelRegistry(default=alias, models={alias: ModelEntry(source=source)})


def load_registry(path: Path) -> ModelRegistry:
    """Return the registry in a models.toml, or raise `RegistryError` in one line."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RegistryError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return ModelRegistry.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise RegistryError(f"{path}: {where}: {message}") from exc
