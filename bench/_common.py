"""Shared bits of the benchmark scripts: machine description and result printing."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from typing import Any


def machine() -> str:
    """Return a one-line description of this machine (CPU count, GPU if any, torch version)."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}"


def report(name: str, figures: dict[str, Any]) -> None:
    """Print the figures as one JSON line with the date and the machine, ready for BENCHMARKS.md."""
    line = {"bench": name, "date": datetime.now(UTC).date().isoformat(), "machine": machine(), **figures}
    print(json.dumps(line, ensure_ascii=False))
