"""A worker's resident models: loaded on first use, least recently used evicted within the budget."""

from __future__ import annotations

import pytest

from gpu_worker.model_cache import ModelCache
from gpu_worker.registry import ModelEntry, ModelRegistry
from gpu_worker.requests import ModelLoadError

SIZES = {"a": 4, "b": 4, "c": 6}


def registry() -> ModelRegistry:
    return ModelRegistry(
        default="a", models={alias: ModelEntry(source=f"/models/{alias}.safetensors") for alias in SIZES}
    )


class Loader:
    """Records each load; a loaded 'pipeline' is its alias and knows its size."""

    def __init__(self) -> None:
        self.loads: list[str] = []
        self.unloads = 0

    def load(self, alias: str) -> str:
        self.loads.append(alias)
        return alias

    def unload(self) -> None:
        self.unloads += 1


def cache(budget: int, loader: Loader) -> ModelCache:
    return ModelCache(registry(), loader.load, budget_bytes=budget, size_of=SIZES.__getitem__, on_unload=loader.unload)


def test_a_resident_model_is_not_loaded_again() -> None:
    loader = Loader()
    models = cache(100, loader)
    assert models.get("") == "a"  # "" is the default
    assert models.get("a") == "a"
    assert loader.loads == ["a"]


def test_least_recently_used_is_evicted_to_fit_the_budget() -> None:
    loader = Loader()
    models = cache(10, loader)
    models.get("a")
    models.get("b")
    models.get("a")  # b is now the least recently used
    assert models.resident == ["b", "a"]
    models.get("c")  # 4 + 4 + 6 > 10: b goes, a stays
    assert models.resident == ["a", "c"]
    assert loader.unloads == 1
    models.get("b")
    assert models.resident == ["c", "b"]
    assert loader.loads == ["a", "b", "c", "b"]


def test_budget_zero_keeps_one_model() -> None:
    loader = Loader()
    models = cache(0, loader)
    for alias in ("a", "b", "a", "c"):
        models.get(alias)
        assert models.resident == [alias]
    assert loader.loads == ["a", "b", "a", "c"]


def test_a_model_larger_than_the_budget_still_loads_alone() -> None:
    loader = Loader()
    models = cache(5, loader)
    models.get("a")
    models.get("c")
    assert models.resident == ["c"]


def test_the_listener_hears_of_each_load_with_the_time_it_took_before() -> None:
    loader = Loader()
    models = cache(0, loader)
    heard: list[tuple[str, float | None]] = []
    models.get("a", lambda alias, seconds: heard.append((alias, seconds)))
    first_load = models.load_seconds["a"]
    models.get("a", lambda alias, seconds: heard.append((alias, seconds)))  # resident: nothing to say
    models.get("b", lambda alias, seconds: heard.append((alias, seconds)))
    models.get("a", lambda alias, seconds: heard.append((alias, seconds)))
    assert heard == [
        ("a", None),  # never loaded here: unknown
        ("b", first_load),  # unseen: as long as the slowest load so far
        ("a", first_load),  # seen: as long as last time
    ]


def test_an_unknown_alias_names_the_served_ones() -> None:
    models = cache(0, Loader())
    with pytest.raises(ModelLoadError, match="no model 'sdxl' here; this worker serves a, b, c"):
        models.get("sdxl")


def test_a_job_queued_before_the_registry_finds_its_model_by_source() -> None:
    models = cache(0, Loader())
    assert models.resolve("/models/b.safetensors") == "b"
