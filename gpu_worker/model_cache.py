"""The models one worker keeps resident: loaded on first use, least recently used evicted first.

A worker serves every alias of the registry. The default model loads at start (the worker is not
ready before it); another loads when a batch first asks for it, after the least recently used
models are evicted to stay within the memory budget. Budget 0 keeps one model resident.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpu_worker.registry import ModelRegistry
from gpu_worker.requests import ModelLoadError

log = logging.getLogger(__name__)

# Told before a load starts: (alias, expected seconds or None when this worker never loaded it).
LoadingListener = Callable[[str, float | None], None]


def pipeline_bytes(pipeline: Any) -> int:
    """Return the bytes a pipeline's weights and buffers take (its torch modules)."""
    import torch

    total = 0
    for component in getattr(pipeline, "components", {}).values():
        if isinstance(component, torch.nn.Module):
            total += sum(t.numel() * t.element_size() for t in (*component.parameters(), *component.buffers()))
    return total


class ModelCache:
    """Resident pipelines of one worker by alias, least recently used first."""

    def __init__(
        self,
        registry: ModelRegistry,
        load: Callable[[str], Any],
        *,
        budget_bytes: int = 0,
        size_of: Callable[[Any], int] = pipeline_bytes,
        on_unload: Callable[[], None] | None = None,
    ) -> None:
        self.registry = registry
        self._load = load
        self.budget_bytes = budget_bytes
        self._size_of = size_of
        self._on_unload = on_unload
        self._resident: OrderedDict[str, Any] = OrderedDict()
        self.load_seconds: dict[str, float] = {}
        self._sizes: dict[str, int] = {}  # bytes of every model loaded here, resident or not

    @property
    def resident(self) -> list[str]:
        """Return the aliases loaded now, least recently used first."""
        return list(self._resident)

    def resolve(self, alias: str) -> str:
        """Return the alias a request means ("" is the registry's default); ModelLoadError if unknown."""
        alias = alias or self.registry.default
        if alias not in self.registry.models:
            # Jobs queued before the registry name their model by its source: keep them runnable.
            alias = next((name for name, entry in self.registry.models.items() if entry.source == alias), alias)
        if alias not in self.registry.models:
            raise ModelLoadError(f"no model {alias!r} here; this worker serves {', '.join(self.registry.aliases)}")
        return alias

    def get(self, alias: str, on_loading: LoadingListener | None = None) -> Any:
        """Return the resident pipeline context of `alias`, loading it (and evicting others) if needed."""
        alias = self.resolve(alias)
        if alias in self._resident:
            self._resident.move_to_end(alias)
            return self._resident[alias]
        if on_loading is not None:
            on_loading(alias, self.expected_seconds(alias))
        self._make_room(self._expected_bytes(alias))
        started = time.monotonic()
        loaded = self._load(alias)
        self.load_seconds[alias] = time.monotonic() - started
        size = self._size_of(getattr(loaded, "base", loaded))
        self._resident[alias] = loaded
        self._sizes[alias] = size
        self._make_room(0, keep=alias)  # it may be larger than expected: evict others, never itself
        log.info(
            "model %s loaded in %.1f s (%.2f GB); resident: %s",
            alias,
            self.load_seconds[alias],
            size / 1e9,
            ", ".join(self._resident),
        )
        return loaded

    def expected_seconds(self, alias: str) -> float | None:
        """Return how long `alias` took to load here last time, or the slowest load seen, or None."""
        if alias in self.load_seconds:
            return self.load_seconds[alias]
        return max(self.load_seconds.values(), default=None)

    def _expected_bytes(self, alias: str) -> int:
        # A model loaded before takes what it took then; one not seen yet is taken to be as large as
        # the largest resident one.
        if alias in self._sizes:
            return self._sizes[alias]
        return max((self._sizes[resident] for resident in self._resident), default=0)

    def _make_room(self, incoming: int, keep: str | None = None) -> None:
        """Evict least recently used models (never `keep`) until the resident ones and `incoming` bytes fit.

        Budget 0 keeps one model: every other is evicted, before a load and after it.
        """
        evicted = False
        while True:
            others = [alias for alias in self._resident if alias != keep]
            used = sum(self._sizes[resident] for resident in self._resident)
            if not others or (self.budget_bytes and used + incoming <= self.budget_bytes):
                break
            self._resident.pop(others[0])
            log.info("model %s evicted to make room", others[0])
            evicted = True
        if evicted:
            gc.collect()
            if self._on_unload is not None:
                self._on_unload()


def free_accelerator_memory() -> None:
    """Give memory freed by evicted models back to the device (CUDA keeps it cached otherwise)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def load_entry(registry: ModelRegistry, alias: str, device: str, cache_dir: Path) -> Any:
    """Return the base pipeline of a registry entry on `device`."""
    from gpu_worker.models import load_pipeline

    entry = registry.entry(alias)
    return load_pipeline(entry.source, device, cache_dir, config=entry.config, variant=entry.variant)
