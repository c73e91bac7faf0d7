"""`python -m bot models`: the registry as the admin sees it, and downloads made before the first job."""

from __future__ import annotations

from pathlib import Path

from tests.bot.test_settings import run_cli


def models_file(tmp_path: Path) -> Path:
    folder = tmp_path / "sd15"
    folder.mkdir()
    (folder / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    path = tmp_path / "models.toml"
    path.write_text(
        'default = "local"\n'
        f'[models.local]\nsource = "{folder}"\ndescription = "A saved folder"\n'
        '[models.turbo]\nsource = "stabilityai/sdxl-turbo"\nvariant = "fp16"\n'
    )
    return path


def test_list_shows_aliases_kinds_and_descriptions_the_default_first(tmp_path: Path) -> None:
    result = run_cli("models", env={"SALON_MODELS_FILE": str(models_file(tmp_path))}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["local (default)  [folder]  A saved folder", "turbo  [hub]"]


def test_pull_of_a_local_model_downloads_nothing(tmp_path: Path) -> None:
    result = run_cli("models", "pull", "local", env={"SALON_MODELS_FILE": str(models_file(tmp_path))}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("local: ") and "nothing to download" in result.stdout


def test_pull_while_offline_says_so_in_one_line_and_fails(tmp_path: Path) -> None:
    env = {"SALON_MODELS_FILE": str(models_file(tmp_path)), "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    result = run_cli("models", "pull", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "local: " in result.stdout  # every model is tried; the local one is fine
    [problem] = [line for line in result.stderr.splitlines() if line.startswith("salon: ")]
    assert problem.startswith("salon: models pull: turbo: model 'stabilityai/sdxl-turbo' is not in the local")
    assert "Traceback" not in result.stderr


def test_pull_of_an_unknown_alias_names_the_ones_there_are(tmp_path: Path) -> None:
    result = run_cli("models", "pull", "sdxl", env={"SALON_MODELS_FILE": str(models_file(tmp_path))}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "salon: no model sdxl; the registry has local, turbo"
