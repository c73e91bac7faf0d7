"""The deployment kit agrees with the code: the image copies every package, compose and the unit use real settings.

Docker cannot run here; CI runs the image's install script on the built wheel (.ci/wheel-demo).
These checks catch the kit drifting from the code it ships.
"""

from __future__ import annotations

import configparser
import re
import tomllib
from pathlib import Path

import yaml

from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def dockerfile_instructions() -> list[tuple[str, str]]:
    """Return (INSTRUCTION, arguments) pairs, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            pairs.append((instruction.upper(), rest.strip()))
    return pairs


def setting_names() -> set[str]:
    return {f"SALON_{name.upper()}" for name in Settings.model_fields} | {"DISCORD_TOKEN"}


def test_the_image_copies_every_package_the_wheel_ships() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {pattern.rstrip("*") for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set()
    for instruction, rest in dockerfile_instructions():
        if instruction == "COPY" and not rest.startswith("--from"):
            *sources, _target = rest.split()
            for source in sources:
                assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which is not in the repository"
                copied.add(source)
    assert packages <= copied, f"the image would build a wheel without {packages - copied}"


def test_the_image_runs_as_a_user_with_a_data_volume_and_a_health_check() -> None:
    instructions = dockerfile_instructions()
    users = [rest for instruction, rest in instructions if instruction == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert ("VOLUME", "/data") in instructions
    assert any(i == "ENV" and "SALON_DATA_DIR=/data" in rest for i, rest in instructions)
    (health,) = [rest for instruction, rest in instructions if instruction == "HEALTHCHECK"]
    assert '"-m", "bot", "health"' in health
    assert any(i == "FROM" and rest.startswith("nvidia/cuda:") for i, rest in instructions)
    assert any(i == "RUN" and "install-salon" in rest for i, rest in instructions)


def test_compose_gives_the_gpu_the_env_file_and_a_volume() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    salon = compose["services"]["salon"]
    assert salon["env_file"] == ".env" and salon["runtime"] == "nvidia"
    assert salon["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    volume, _, target = salon["volumes"][0].partition(":")
    assert volume in compose["volumes"] and target == salon["environment"]["SALON_DATA_DIR"]
    assert set(salon["environment"]) <= setting_names()


def test_the_service_unit_runs_salon_and_names_real_settings() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(ROOT / "deploy" / "salon.service", encoding="utf-8")
    service = unit["Service"]
    assert service["ExecStart"].endswith("-m bot run") and service["User"] == "salon"
    assert service["RestartPreventExitStatus"] == "2"  # a setting error does not fix itself
    name, _, _value = service["Environment"].partition("=")
    assert name in setting_names()
