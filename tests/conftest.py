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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `worker` every test that needs the tiny model on disk: it runs torch, in a worker process or here.

    `make test-fast` leaves them out; `make test` runs them all.
    """
    for item in items:
        if "models_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.worker)
