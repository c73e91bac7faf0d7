"""The worker process: loads the default model, then runs jobs sent over a pipe, one batch at a time.

One OS process per device, so a crash or an out-of-memory in native GPU code ends this process and
never the bot. Like an arq worker, a context loaded at start-up (the pipelines) serves every job;
other models of the registry load when a batch first asks for one (gpu_worker/model_cache.py).

Messages, parent to child: ("run", batch_id, [(job_id, GenerationRequest), ...], slots),
("cancel", job_id), ("stop",). Child to parent: ("ready", info), ("load_failed", message),
("loading", batch_id, alias, expected_seconds), ("progress", batch_id, step, total,
{job_id: preview_png}), ("result", batch_id, {job_id: GenerationResult}), ("failed", batch_id,
message), ("cancelled", batch_id).
"""

from __future__ import annotations

import io
import logging
import queue
import threading
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from PIL import Image

from gpu_worker.batch_runner import BatchItem, BatchOutOfMemoryError, run_with_oom_split
from gpu_worker.model_cache import ModelCache, free_accelerator_memory, load_entry
from gpu_worker.registry import ModelRegistry
from gpu_worker.requests import ModelLoadError

log = logging.getLogger(__name__)


@dataclass
class WorkerContext:
    """What a worker loads once and keeps: the base pipeline and the pipelines derived from it."""

    device: str
    base: Any
    derived: dict[str, Any] = field(default_factory=dict)
    # TAESD (diffusers' AutoencoderTiny) for sharp, cheap previews, when configured.
    preview_decoder: Any = None

    def pipeline_for(self, kind: str) -> Any:
        """Return the pipeline for a job kind, sharing the base pipeline's weights."""
        if kind == "txt2img":
            return self.base
        if kind not in self.derived:
            from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting

            factory = AutoPipelineForImage2Image if kind == "img2img" else AutoPipelineForInpainting
            derived = factory.from_pipe(self.base)
            # from_pipe does not carry the base's progress-bar setting: no tqdm bars in the worker's output.
            derived.set_progress_bar_config(disable=True)
            self.derived[kind] = derived
        return self.derived[kind]


class ControlListener(threading.Thread):
    """Reads the pipe while the main thread generates, so a cancel lands within one step."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(name="salon-worker-control", daemon=True)
        self.conn = conn
        self.jobs: queue.Queue[tuple[str, list[BatchItem], int] | None] = queue.Queue()
        self.cancelled: set[str] = set()
        self._lock = threading.Lock()

    def run(self) -> None:
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                self.jobs.put(None)  # the parent is gone: stop
                return
            if message[0] == "run":
                batch_id, pairs, slots = message[1:]
                self.jobs.put((batch_id, [BatchItem(job_id, request) for job_id, request in pairs], slots))
            elif message[0] == "cancel":
                with self._lock:
                    self.cancelled.add(message[1])
            elif message[0] == "stop":
                self.jobs.put(None)
                return

    def is_cancelled(self, job_id: str) -> bool:
        """Return whether the parent asked to cancel this job."""
        with self._lock:
            return job_id in self.cancelled


def serve(
    conn: Connection,
    registry_json: str,
    device: str,
    cache_dir: str,
    preview_every: int,
    log_level: str,
    preview_decoder: str | None = None,
    memory_budget_bytes: int = 0,
) -> None:
    """Run the worker until told to stop or the parent goes away (the process's entry point)."""
    logging.basicConfig(
        level=log_level, format="%(asctime)s %(levelname)-8s [worker %(process)d] %(name)s: %(message)s"
    )
    _quiet_libraries()
    registry = ModelRegistry.model_validate_json(registry_json)
    decoder: Any = None

    def load(alias: str) -> WorkerContext:
        try:
            base = load_entry(registry, alias, device, Path(cache_dir))
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(f"could not load model {alias!r}: {exc}") from exc
        return WorkerContext(device=device, base=base, preview_decoder=decoder)

    models = ModelCache(registry, load, budget_bytes=memory_budget_bytes, on_unload=free_accelerator_memory)
    try:
        if preview_decoder:
            decoder = load_preview_decoder(preview_decoder, device)
        context = models.get(registry.default)
    except ModelLoadError as exc:
        conn.send(("load_failed", str(exc)))
        return
    except Exception as exc:
        conn.send(("load_failed", f"could not load model {registry.default!r}: {exc}"))
        return
    listener = ControlListener(conn)
    listener.start()
    conn.send(
        (
            "ready",
            {
                "device": device,
                "model": registry.default,
                "pipeline": type(context.base).__name__,
                "load_seconds": models.load_seconds[registry.default],
            },
        )
    )
    while True:
        work = listener.jobs.get()
        if work is None:
            return
        batch_id, items, slots = work
        live = [item for item in items if not listener.is_cancelled(item.job_id)]
        if not live:
            conn.send(("cancelled", batch_id))
            continue
        try:
            # A batch never mixes models (the queue's compatibility key holds the alias).
            context = models.get(
                live[0].request.model,
                lambda alias, seconds, batch_id=batch_id: conn.send(("loading", batch_id, alias, seconds)),
            )
            outcome = serve_batch(context, batch_id, live, slots, conn, listener, preview_every)
        except Exception as exc:  # a failed batch must not take the worker down
            log.exception("batch %s failed", batch_id)
            conn.send(
                (
                    "failed",
                    batch_id,
                    str(exc) if isinstance(exc, BatchOutOfMemoryError) else f"{type(exc).__name__}: {exc}",
                )
            )
            continue
        conn.send(outcome)


def serve_batch(
    context: WorkerContext,
    batch_id: str,
    items: list[BatchItem],
    slots: int,
    conn: Connection,
    listener: ControlListener,
    preview_every: int,
) -> tuple[Any, ...]:
    """Return the message that ends a batch: its results, or that every job in it was cancelled."""
    from gpu_worker.previews import fit_journey_frame, image_previews, journey_gif, preview_png

    spans: list[tuple[str, int, int]] = []
    offset = 0
    for item in items:
        spans.append((item.job_id, offset, offset + len(item.request.seeds)))
        offset += len(item.request.seeds)

    decoder = context.preview_decoder
    # Per journey job: one list of frames per step, each with one preview per image of the job.
    journeys: dict[str, list[list[Image.Image]]] = {item.job_id: [] for item in items if item.request.journey}

    def on_step(step: int, total: int, latents: Any) -> bool:
        previews: dict[str, bytes] = {}
        if preview_every and step % preview_every == 0 and step < total:
            # Classifier-free guidance keeps one latent per image; previews show each job's own images.
            previews = {job_id: preview_png(latents[start:end], decoder=decoder) for job_id, start, end in spans}
        for job_id, start, end in spans:
            if job_id in journeys:
                journeys[job_id].append(image_previews(latents[start:end], decoder=decoder))
        conn.send(("progress", batch_id, step, total, previews))
        return all(listener.is_cancelled(item.job_id) for item in items)

    results = run_with_oom_split(context, items, slots, on_step)
    if results is None:
        return ("cancelled", batch_id)
    for job_id, frames in journeys.items():
        result = results[job_id]
        finals = [fit_journey_frame(Image.open(io.BytesIO(png))) for png in result.images]
        gifs = tuple(journey_gif([*(step[index] for step in frames), final]) for index, final in enumerate(finals))
        results[job_id] = replace(result, journey_gifs=gifs)
    return ("result", batch_id, results)


def load_preview_decoder(source: str, device: str) -> Any:
    """Return TAESD (an `AutoencoderTiny`) from a local folder or a cached Hugging Face id."""
    from diffusers import AutoencoderTiny

    from gpu_worker.models import torch_dtype_for

    try:
        return AutoencoderTiny.from_pretrained(source, dtype=torch_dtype_for(device)).to(device)
    except Exception as exc:
        raise ModelLoadError(f"could not load the preview decoder {source!r}: {exc}") from exc


def _quiet_libraries() -> None:
    """Silence per-load progress bars and advice; the worker's own log lines say what happened."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
