"""The model registry: models.toml parsed into aliases, sources and defaults, or refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_worker.registry import RegistryError, alias_for, load_registry, single_model_registry

REPO = Path(__file__).resolve().parents[2]
ONE = 'default = "a"\n[models.a]\nsource = "tiny"\n'  # the smallest valid file, for adding a mistake to


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "models.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_example_loads() -> None:
    registry = load_registry(REPO / "models.example.toml")
    assert registry.default == "tiny"
    assert registry.entry("tiny").source == "tiny"


def test_entries_carry_source_config_variant_and_defaults(tmp_path: Path) -> None:
    registry = load_registry(
        write(
            tmp_path,
            """
default = "turbo"
[models.dream]
source = "/models/dream.safetensors"
config = "/models/sd15-config"
description = "Dreamy"
[models.dream.defaults]
negative_prompt = "lowres"
[models.turbo]
source = "stabilityai/sdxl-turbo"
variant = "fp16"
[models.turbo.defaults]
steps = 1
guidance = 0.0
scheduler = "euler_a"
width = 512
""",
        )
    )
    assert registry.aliases == ("turbo", "dream")  # the default first
    turbo = registry.entry("turbo")
    assert turbo.variant == "fp16"
    assert turbo.defaults.chosen() == {"steps": 1, "guidance": 0.0, "scheduler": "euler_a", "width": 512}
    dream = registry.entry("dream")
    assert dream.config == "/models/sd15-config"
    assert dream.defaults.negative_prompt == "lowres"
    assert dream.defaults.chosen() == {}  # the negative prompt is appended, not a default


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("default = [", "not valid TOML"),
        ('default = "b"\n[models.a]\nsource = "tiny"\n', "default 'b' is not one of the models: a"),
        ('default = "A B"\n[models."A B"]\nsource = "tiny"\n', "should match pattern"),
        ('default = "a"\n[models.a]\nsource = "tiny"\nsauce = 1\n', "models.a.sauce"),
        (
            'default = "a"\n[models.a]\nsource = "tiny"\n[models.a.defaults]\nscheduler = "warp"\n',
            "'warp' is not a scheduler",
        ),
        ('default = "a"\n[models.a]\nsource = "tiny"\n[models.a.defaults]\nsteps = 0\n', "models.a.defaults.steps"),
        ('default = "a"\n[models.a]\nsource = "tiny"\n[models.a.defaults]\nwidth = 100\n', "multiple of 8"),
        ('default = "a"\n[models]\n', "models"),
    ],
)
def test_a_bad_file_is_refused_in_one_line_naming_it(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot be read"):
        load_registry(tmp_path / "absent.toml")


def test_an_unknown_alias_names_the_ones_there_are() -> None:
    registry = single_model_registry("tiny")
    with pytest.raises(KeyError, match="no model 'sdxl'; the registry has tiny"):
        registry.entry("sdxl")


@pytest.mark.parametrize(
    ("source", "alias"),
    [
        ("tiny", "tiny"),
        ("/models/DreamShaper_8.safetensors", "dreamshaper_8"),
        ("stabilityai/sdxl-turbo", "sdxl-turbo"),
        ("/srv/models/my model/", "my-model"),
        ("/models/***.ckpt", "model"),
    ],
)
def test_a_bare_source_gets_an_alias_without_its_path(source: str, alias: str) -> None:
    assert alias_for(source) == alias
    assert single_model_registry(source).aliases == (alias,)
