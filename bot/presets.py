"""Where Salon's shipped presets are: package data beside the code that reads them.

Presets (themes, style presets, wildcard lists) ship inside the packages, so an installed wheel
finds them as an editable checkout does; the runtime folder (`SALON_DATA_DIR`) holds only state,
and deleting it resets Salon without touching a preset.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def preset_path(package: str, *parts: str) -> Path:
    """Return the path of a preset shipped in `package` (for example `preset_path("bot.themes", "presets.toml")`).

    Salon is installed as plain files (a wheel unpacked into site-packages, or a checkout), never run
    from a zip, so the resource is a real file; anything else is a broken install and says so.
    """
    resource = files(package).joinpath(*parts)
    if not isinstance(resource, Path):
        raise RuntimeError(f"Salon's presets must be installed as files; {package} is at {resource!r}")
    return resource
