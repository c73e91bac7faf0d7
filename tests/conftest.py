"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a model cache where the tiny pipeline is built, once for the whole session."""
    from gpu_worker.tiny import build_tiny_pipeline_folder

    cache = tmp_path_factory.mktemp("models")
    build_tiny_pipeline_folder(cache)
    return cache
