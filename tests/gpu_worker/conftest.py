"""Fixtures: the tiny model folder, built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a cache folder where the tiny pipeline has been built."""
    from gpu_worker.tiny import build_tiny_pipeline_folder

    cache = tmp_path_factory.mktemp("models")
    build_tiny_pipeline_folder(cache)
    return cache
