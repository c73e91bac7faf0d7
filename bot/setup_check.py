"""What `python -m bot check` verifies before an admin starts Salon: one line per problem.

The quick check reads the settings, the data folder, the devices and the model source without
loading weights. `--deep` also loads each model on the first device and runs a one-step image
through Salon's own batch runner (so a model that loads but cannot generate is caught here, not
by every job), and asks Discord whether the token is accepted (in `bot.client`).
"""

from __future__ import annotations

import uuid
from pathlib import Path

from bot.settings import Settings
from bot.store.disk_space import free_bytes, human_size
from gpu_worker.requests import GenerationError


def quick_problems(settings: Settings) -> list[str]:
    """Return what stops Salon from starting with these settings, found without loading a model."""
    from gpu_worker.models import device_problem, inspect_source

    problems = [problem for device in settings.devices if (problem := device_problem(device))]
    registry = settings.model_registry
    for alias in registry.aliases:
        entry = registry.entry(alias)
        if entry.config is not None and not Path(entry.config).expanduser().is_dir():
            problems.append(f"{_model_setting(settings, alias)}: config folder {entry.config!r} does not exist")
        try:
            inspect_source(entry.source, fetch_index=False)
        except GenerationError as exc:
            problems.append(f"{_model_setting(settings, alias)}: {exc}")
    problems += _folder_problems(settings)
    return problems


def _model_setting(settings: Settings, alias: str) -> str:
    """Return where a model is configured, for the start of a problem line."""
    return f"SALON_MODELS_FILE model {alias!r}" if settings.models_file else "SALON_MODEL_SOURCE"


def _folder_problems(settings: Settings) -> list[str]:
    problems = []
    for name, folder in (("SALON_DATA_DIR", settings.data_dir), ("SALON_MODEL_CACHE_DIR", settings.models_dir)):
        problem = _writable_problem(folder)
        if problem:
            problems.append(f"{name}: {problem}")
    free = free_bytes(settings.data_dir)
    if free < settings.low_disk_bytes:
        threshold = human_size(settings.low_disk_bytes)
        problems.append(f"SALON_DATA_DIR: only {human_size(free)} free, under SALON_LOW_DISK_BYTES ({threshold})")
    return problems


def _writable_problem(folder: Path) -> str | None:
    """Return why Salon cannot write in `folder` (creating it), or None."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".salon-check-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return f"{str(folder)!r} cannot be written: {exc.strerror or exc}"
    return None


def generation_problems(settings: Settings) -> list[str]:
    """Return what stops each model of the registry from making an image: load it, run one small step."""
    return [problem for alias in settings.model_registry.aliases for problem in _model_problems(settings, alias)]


def _model_problems(settings: Settings, alias: str) -> list[str]:
    """Load one model on the first device (then let it go) and make a one-step 64×64 image."""
    from gpu_worker.batch_runner import BatchItem, run_batch
    from gpu_worker.model_cache import load_entry
    from gpu_worker.requests import GenerationRequest
    from gpu_worker.worker_process import WorkerContext

    device = settings.devices[0]
    where = _model_setting(settings, alias)
    registry = settings.model_registry
    source = registry.entry(alias).source
    try:
        context = WorkerContext(device, load_entry(registry, alias, device, settings.models_dir))
        request = GenerationRequest(
            kind="txt2img",
            prompt="a lighthouse at dusk",
            seeds=(0,),
            width=64,
            height=64,
            steps=1,
            guidance=settings.guidance,
            scheduler=settings.scheduler,
            model=alias,
        )
        results = run_batch(context, [BatchItem("check", request)], 1, lambda step, total, latents: False)
    except GenerationError as exc:
        return [f"{where}: {exc}"]
    except Exception as exc:  # a model that loads and then cannot generate: the problem this catches
        first_line = (str(exc).splitlines() or [""])[0][:300]
        what = f"{type(exc).__name__}: {first_line}"
        return [f"{where}: {source!r} loads but cannot make an image: {what}"]
    if not results or len(results["check"].images) != 1:
        return [f"{where}: {source!r} made no image in a one-step test"]
    return []
