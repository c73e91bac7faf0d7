"""Settings: read from the environment and .env; errors are one readable line and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError, load_settings
from bot.store.database import bundled_migrations

REPO = Path(__file__).resolve().parents[2]
SETTING_VARS = [name for name in os.environ if name.startswith(("SALON_", "DISCORD_"))]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in SETTING_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env from the repo


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SALON_", "DISCORD_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={**clean, "PYTHONPATH": str(REPO), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_defaults() -> None:
    settings = load_settings()
    assert settings.model_source == "tiny"
    assert settings.devices == ["cpu"]
    assert settings.resolved_database_path == Path("data/salon.db")
    assert settings.discord_token is None


def test_env_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SALON_DEVICES=cuda:0, cuda:1\nDISCORD_TOKEN=from-dotenv\n")
    monkeypatch.setenv("DISCORD_TOKEN", "from-env")
    monkeypatch.setenv("DISCORD_API_BASE", "http://127.0.0.1:9/api/v10/")
    settings = load_settings()
    assert settings.devices == ["cuda:0", "cuda:1"]
    assert settings.require_token() == "from-env"
    assert settings.discord_api_base == "http://127.0.0.1:9/api/v10"
    assert "from-env" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("SALON_DEVICES", "gpu0", "SALON_DEVICES: 'gpu0' is not a device; use cpu, mps, cuda or cuda:N"),
        ("SALON_MAX_QUEUED_JOBS", "lots", "SALON_MAX_QUEUED_JOBS: Input should be a valid integer"),
        ("SALON_LOG_LEVEL", "chatty", "SALON_LOG_LEVEL: Input should be 'DEBUG'"),
        ("DISCORD_API_BASE", "discord.com", "DISCORD_API_BASE: must be a URL starting with one of http://"),
        ("SALON_IMAGE_WIDTH", "500", "SALON_IMAGE_WIDTH: Input should be a multiple of 8"),
        ("SALON_SCHEDULER", "warp", "SALON_SCHEDULER: 'warp' is not a scheduler; use one of ddim, dpmpp_2m"),
        ("SALON_LANGUAGE", "fr", "SALON_LANGUAGE: 'fr' has no compiled catalogue; available: en (README"),
    ],
)
def test_invalid_setting_names_itself(monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value).startswith(expected)
    assert "\n" not in str(caught.value)


def test_a_data_folder_that_is_a_file_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    afile = tmp_path / "salon-data"
    afile.write_text("not a folder")
    monkeypatch.setenv("SALON_DATA_DIR", str(afile))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == f"SALON_DATA_DIR: {str(afile)!r} is a file; name a folder (it is created if missing)"


def test_missing_token_is_named() -> None:
    with pytest.raises(SettingsError, match=r"^DISCORD_TOKEN: missing"):
        Settings().require_token()


def test_cli_missing_token_exits_2_without_traceback(tmp_path: Path) -> None:
    result = run_cli(env={}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "salon: setting error: DISCORD_TOKEN: missing; set it in the environment or in .env "
        "(the bot token from the Discord developer portal)"
    ]


def test_cli_invalid_setting_exits_2_and_hides_token(tmp_path: Path) -> None:
    result = run_cli(env={"DISCORD_TOKEN": "sekrit-token", "SALON_DEVICES": "tpu"}, cwd=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "SALON_DEVICES" in result.stderr
    assert "sekrit-token" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_cli_help_lists_subcommands(tmp_path: Path) -> None:
    result = run_cli("--help", env={}, cwd=tmp_path)
    assert result.returncode == 0
    for command in ("run", "migrate", "check"):
        assert command in result.stdout


def test_cli_check_hides_token(tmp_path: Path) -> None:
    result = run_cli("check", env={"DISCORD_TOKEN": "sekrit-token"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "discord_token = set" in result.stdout
    assert "sekrit-token" not in result.stdout + result.stderr


def test_cli_migrate_creates_database(tmp_path: Path) -> None:
    result = run_cli("migrate", env={"SALON_DATA_DIR": str(tmp_path / "d")}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "d" / "salon.db").exists()
    assert f"schema version {len(bundled_migrations())}" in result.stdout


def test_env_example_documents_every_setting() -> None:
    documented = (REPO / ".env.example").read_text()
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        env_name = alias.choices[0] if alias is not None else f"SALON_{name.upper()}"  # type: ignore[union-attr]
        assert f"\n{env_name}=" in documented, f"{env_name} is not in .env.example"


def test_cli_check_names_every_problem_in_one_line_each(tmp_path: Path) -> None:
    env = {
        "DISCORD_TOKEN": "sekrit-token",
        "SALON_MODEL_SOURCE": str(tmp_path / "missing.safetensors"),
        "SALON_DEVICES": "cpu,cuda:99",
    }
    result = run_cli("check", env=env, cwd=tmp_path)
    assert result.returncode == 2
    problems = result.stderr.strip().splitlines()
    assert len(problems) == 2 and all(line.startswith("salon: check: ") for line in problems)
    assert "device 'cuda:99'" in problems[0]
    assert problems[1].endswith(f"checkpoint file {str(tmp_path / 'missing.safetensors')!r} does not exist")
    assert "Traceback" not in result.stderr and "sekrit-token" not in result.stdout + result.stderr


def test_cli_check_refuses_a_family_salon_does_not_run(tmp_path: Path) -> None:
    folder = tmp_path / "sd3"
    folder.mkdir()
    (folder / "model_index.json").write_text('{"_class_name": "StableDiffusion3Pipeline"}')
    result = run_cli("check", env={"SALON_MODEL_SOURCE": str(folder)}, cwd=tmp_path)
    assert result.returncode == 2
    [problem] = result.stderr.strip().splitlines()
    assert (
        "is a StableDiffusion3Pipeline, which Salon does not run; it runs Stable Diffusion 1.x/2.x and SDXL" in problem
    )


def test_cli_run_with_discord_unreachable_says_so_in_one_line(tmp_path: Path) -> None:
    env = {
        "DISCORD_TOKEN": "sekrit-token",
        "DISCORD_API_BASE": "http://127.0.0.1:9/api/v10",
        "SALON_DATA_DIR": str(tmp_path / "data"),
    }
    result = run_cli("run", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "sekrit-token" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert "Discord cannot be reached at http://127.0.0.1:9/api/v10" in line


def test_a_bad_models_file_is_one_line_naming_the_entry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    models = tmp_path / "models.toml"
    models.write_text('default = "a"\n[models.a]\nsource = "tiny"\n[models.a.defaults]\nscheduler = "warp"\n')
    monkeypatch.setenv("SALON_MODELS_FILE", str(models))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"SALON_MODELS_FILE: {models}: models.a.defaults.scheduler: ")
    assert "'warp' is not a scheduler" in message and "\n" not in message


def test_a_models_file_gives_aliases_and_defaults_never_sources(tmp_path: Path) -> None:
    from bot.services import generation_defaults

    models = tmp_path / "models.toml"
    models.write_text(
        'default = "fast"\n'
        '[models.fast]\nsource = "/srv/models/turbo.safetensors"\ndescription = "One step"\n'
        '[models.fast.defaults]\nsteps = 1\nguidance = 0.0\nnegative_prompt = "blurry"\n'
        '[models.tiny]\nsource = "tiny"\n'
    )
    defaults = generation_defaults(load_settings(models_file=models))
    assert defaults.model == "fast" and defaults.known_models == ("fast", "tiny")
    assert defaults.model_defaults == {"fast": {"steps": 1, "guidance": 0.0}, "tiny": {}}
    assert defaults.model_negatives == {"fast": "blurry"}
    assert defaults.model_label("fast") == "fast · One step" and defaults.model_label("tiny") == "tiny"
    assert "/srv" not in repr(defaults)


def test_cli_check_names_each_registry_model_with_a_problem(tmp_path: Path) -> None:
    models = tmp_path / "models.toml"
    models.write_text(
        'default = "tiny"\n[models.tiny]\nsource = "tiny"\n'
        f'[models.gone]\nsource = "{tmp_path / "gone.safetensors"}"\n'
        f'[models.local]\nsource = "{tmp_path / "x.safetensors"}"\nconfig = "{tmp_path / "no-config"}"\n'
    )
    # A truncated download: not a checkpoint at all.
    (tmp_path / "x.safetensors").write_bytes(b"\x00" * 3)
    result = run_cli("check", env={"SALON_MODELS_FILE": str(models)}, cwd=tmp_path)
    assert result.returncode == 2
    problems = result.stderr.strip().splitlines()
    assert len(problems) == 3, problems
    assert "SALON_MODELS_FILE model 'gone'" in problems[0] and "does not exist" in problems[0]
    assert "SALON_MODELS_FILE model 'local'" in problems[1] and "config folder" in problems[1]
    assert "SALON_MODELS_FILE model 'local'" in problems[2] and "not a readable .safetensors file" in problems[2]
    assert "Traceback" not in result.stderr
