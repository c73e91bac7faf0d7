"""Salon's settings, read from the environment and `.env` (pydantic-settings).

Every setting is documented, with its default, in `.env.example`. Names are `SALON_*`, except the
three Discord connection settings, which keep the names other Discord tools use.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.catalogue import compiled_languages

if TYPE_CHECKING:
    from gpu_worker.registry import ModelRegistry

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class SettingsError(Exception):
    """A setting is missing or invalid; the message is one line naming the setting."""


class Settings(BaseSettings):
    """Salon's configuration; construct with `load_settings()` for readable errors."""

    model_config = SettingsConfigDict(
        env_prefix="SALON_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    discord_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DISCORD_TOKEN", "SALON_DISCORD_TOKEN")
    )
    discord_api_base: str | None = Field(
        default=None, validation_alias=AliasChoices("DISCORD_API_BASE", "SALON_DISCORD_API_BASE")
    )
    discord_gateway_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DISCORD_GATEWAY_URL", "SALON_DISCORD_GATEWAY_URL")
    )
    dev_guild_id: int | None = None

    data_dir: Path = Path("data")
    database_path: Path | None = None

    model_source: str = "tiny"
    # A models.toml (see models.example.toml): several models by alias, with their defaults. Without
    # it, Salon offers the one model of SALON_MODEL_SOURCE.
    models_file: Path | None = None
    # GPU memory each worker may fill with resident models, in GB; 0 keeps one model at a time.
    model_memory_gb: float = Field(default=0.0, ge=0.0, le=4096.0)
    model_cache_dir: Path | None = None
    preview_decoder: str | None = None
    devices: Annotated[list[str], NoDecode] = ["cpu"]

    batch_size: int = Field(default=8, ge=1, le=64)
    job_timeout_seconds: float = Field(default=600.0, gt=0, le=86_400)
    # A job fails only after this many of the batches it was in ended with their worker dead.
    job_max_crashes: int = Field(default=2, ge=1, le=20)
    # A dead worker is restarted with backoff from the first wait to the cap, without end.
    worker_restart_seconds: float = Field(default=1.0, gt=0.0, le=600.0)
    worker_restart_cap_seconds: float = Field(default=60.0, gt=0.0, le=3600.0)
    max_jobs_per_user: int = Field(default=10, ge=1, le=1000)
    # Images one member may have waiting or running, all requests together: at least one full grid (9).
    max_queued_images_per_user: int = Field(default=36, ge=9, le=10_000)
    max_queued_jobs: int = Field(default=200, ge=1, le=100_000)
    # Jobs one member may start in any minute, rerolls, variations and remixes too (0: no limit).
    max_jobs_per_minute: int = Field(default=12, ge=0, le=1000)
    # What one member may add to one party: associations and prompt proposals.
    max_associations_per_member: int = Field(default=50, ge=1, le=10_000)
    max_proposals_per_member: int = Field(default=20, ge=1, le=10_000)
    # Region cells one member may have marked in one session (a party, a channel's stream).
    max_marks_per_member: int = Field(default=500, ge=1, le=100_000)
    # After READY, discord.py waits this long after the last guild arrives before Salon counts as ready
    # (its own default, 2 s). A bot in many guilds may want longer; the tests use a tenth of a second.
    guild_ready_timeout_seconds: float = Field(default=2.0, gt=0.0, le=120.0)
    # A reaction taken back and given again within this many seconds is one action (one reroll).
    reaction_debounce_seconds: float = Field(default=10.0, ge=0.0, le=3600.0)
    # Seconds one member waits between two new jobs (0: no cooldown; the caps above still hold).
    job_cooldown_seconds: float = Field(default=0.0, ge=0.0, le=3600.0)
    # A result that took longer than this also mentions its requester (Discord notifies nobody of an edit).
    ping_after_seconds: float = Field(default=10.0, ge=0.0, le=3600.0)
    # A delivery that meets a Discord outage is retried with backoff from the first wait to the cap,
    # for up to the give-up time; after that it is retried at the next start.
    delivery_retry_seconds: float = Field(default=2.0, gt=0.0, le=600.0)
    delivery_retry_cap_seconds: float = Field(default=60.0, gt=0.0, le=3600.0)
    delivery_give_up_seconds: float = Field(default=600.0, gt=0.0, le=86_400.0)
    # Below this much free space in the data folder, /queue warns and the start-up log says so.
    low_disk_bytes: int = Field(default=1_000_000_000, ge=0)
    # How often the running bot records that it is alive, for `python -m bot health` (a container's health check).
    heartbeat_seconds: float = Field(default=30.0, ge=1.0, le=3600.0)

    image_width: int = Field(default=512, ge=64, le=2048, multiple_of=8)
    image_height: int = Field(default=512, ge=64, le=2048, multiple_of=8)
    steps: int = Field(default=25, ge=1, le=150)
    guidance: float = Field(default=7.0, ge=0.0, le=30.0)
    images_per_prompt: int = Field(default=4, ge=1, le=9)
    scheduler: str = "euler"
    suggest_model: str | None = None

    log_level: LogLevel = "INFO"
    # Commands in DMs and group DMs, where no server's blocklist, theme or moderators apply: off.
    allow_dms: bool = False
    # The language members read: "en", or one compiled into bot/locale/<language>/LC_MESSAGES/salon.mo.
    language: str = "en"

    @field_validator("discord_api_base", "discord_gateway_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        schemes = ("http://", "https://", "ws://", "wss://")
        if not value.startswith(schemes):
            raise ValueError(f"must be a URL starting with one of {', '.join(schemes)}")
        return value.rstrip("/")

    @field_validator("discord_token")
    @classmethod
    def _check_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None
        if any(ch.isspace() for ch in value.get_secret_value()):
            raise ValueError("must not contain spaces or line breaks (paste the bot token alone)")
        return value

    @field_validator("devices", mode="before")
    @classmethod
    def _split_devices(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("devices")
    @classmethod
    def _check_devices(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("list at least one device, e.g. cpu or cuda:0")
        for device in value:
            name, _, index = device.partition(":")
            if name not in ("cpu", "cuda", "mps") or (index and not index.isdigit()):
                raise ValueError(f"{device!r} is not a device; use cpu, mps, cuda or cuda:N")
        return value

    @field_validator("language")
    @classmethod
    def _check_language(cls, value: str) -> str:
        if value not in compiled_languages():
            raise ValueError(
                f"{value!r} has no compiled catalogue; available: {', '.join(compiled_languages())}"
                " (README: Translating Salon)"
            )
        return value

    @field_validator("scheduler")
    @classmethod
    def _check_scheduler(cls, value: str) -> str:
        from gpu_worker.models import scheduler_names  # stdlib-only at import: no torch here

        if value not in scheduler_names():
            raise ValueError(f"{value!r} is not a scheduler; use one of {', '.join(scheduler_names())}")
        return value

    @field_validator("data_dir", "model_cache_dir")
    @classmethod
    def _check_folder(cls, value: Path | None) -> Path | None:
        if value is not None and value.exists() and not value.is_dir():
            raise ValueError(f"{str(value)!r} is a file; name a folder (it is created if missing)")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_queue_caps(self) -> Settings:
        if self.max_jobs_per_user > self.max_queued_jobs:
            raise ValueError("SALON_MAX_JOBS_PER_USER must not exceed SALON_MAX_QUEUED_JOBS")
        return self

    @field_validator("models_file")
    @classmethod
    def _readable_models_file(cls, value: Path | None) -> Path | None:
        from gpu_worker.registry import RegistryError, load_registry  # pydantic and tomllib only

        if value is not None:
            try:
                load_registry(value)
            except RegistryError as exc:
                raise ValueError(str(exc)) from None
        return value

    @cached_property
    def model_registry(self) -> ModelRegistry:
        """Return the models Salon offers: the models file's, or SALON_MODEL_SOURCE's one.

        Read once: the pool, the composer and `check` all see the same registry.
        """
        from gpu_worker.registry import load_registry, single_model_registry

        if self.models_file is not None:
            return load_registry(self.models_file)
        return single_model_registry(self.model_source)

    @property
    def model_memory_bytes(self) -> int:
        """Return the per-worker memory budget for resident models in bytes (0: one model)."""
        return int(self.model_memory_gb * 1e9)

    @property
    def resolved_database_path(self) -> Path:
        """Return the database file: `SALON_DATABASE_PATH`, else `salon.db` in the data folder."""
        return self.database_path or self.data_dir / "salon.db"

    @property
    def images_dir(self) -> Path:
        """Return the folder of content-addressed image files."""
        return self.data_dir / "images"

    @property
    def models_dir(self) -> Path:
        """Return where built models (the tiny one) are cached: `SALON_MODEL_CACHE_DIR` or data/models."""
        return self.model_cache_dir or self.data_dir / "models"

    @property
    def exports_dir(self) -> Path:
        """Return where `/export` and the demo write galleries and blog posts."""
        return self.data_dir / "exports"

    @property
    def logs_dir(self) -> Path:
        """Return the folder of the rotating log file."""
        return self.data_dir / "logs"

    def require_token(self) -> str:
        """Return the bot token, or raise `SettingsError` when it is not set."""
        if self.discord_token is None:
            raise SettingsError(
                "DISCORD_TOKEN: missing; set it in the environment or in .env "
                "(the bot token from the Discord developer portal)"
            )
        return self.discord_token.get_secret_value()


def _setting_name(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "settings"
    field = str(loc[0])
    if field.isupper():  # pydantic reports an aliased field by the alias it was read from
        return field
    info = Settings.model_fields.get(field)
    if info is not None and isinstance(info.validation_alias, AliasChoices):
        return str(info.validation_alias.choices[0])
    return f"SALON_{field.upper()}"


def load_settings(**overrides: object) -> Settings:
    """Return settings from the environment, `.env` and `overrides`, or raise a one-line `SettingsError`."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{_setting_name(error['loc'])}: {message}")
        raise SettingsError("; ".join(problems)) from None
