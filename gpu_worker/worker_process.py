"""The worker process: loads a pipeline once, then runs jobs sent over a pipe, one at a time.

One OS process per device, so a crash or an out-of-memory in native GPU code ends this process and
never the bot. Like an arq worker, a context loaded at start-up (the pipelines) serves every job.

Messages, parent to child: ("run", job_id, GenerationRequest), ("cancel", job_id), ("stop",).
Child to parent: ("ready", info), ("load_failed", message), ("progress", job_id, step, total,
preview_png | None), ("result", job_id, GenerationResult), ("failed", job_id, message),
("cancelled", job_id).
"""

from __future__ import annotations

import io
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from gpu_worker.requests import GenerationRequest, GenerationResult, ModelLoadError

log = logging.getLogger(__name__)


@dataclass
class WorkerContext:
    """What a worker loads once and keeps: the base pipeline and the pipelines derived from it."""

    device: str
    base: Any
    derived: dict[str, Any] = field(default_factory=dict)

    def pipeline_for(self, kind: str) -> Any:
        """Return the pipeline for a job kind, sharing the base pipeline's weights."""
        if kind == "txt2img":
            return self.base
        if kind not in self.derived:
            from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting

            factory = AutoPipelineForImage2Image if kind == "img2img" else AutoPipelineForInpainting
            self.derived[kind] = factory.from_pipe(self.base)
        return self.derived[kind]


class ControlListener(threading.Thread):
    """Reads the pipe while the main thread generates, so a cancel lands within one step."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(name="salon-worker-control", daemon=True)
        self.conn = conn
        self.jobs: queue.Queue[tuple[str, GenerationRequest] | None] = queue.Queue()
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
                self.jobs.put((message[1], message[2]))
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


def serve(conn: Connection, source: str, device: str, cache_dir: str, preview_every: int, log_level: str) -> None:
    """Run the worker until told to stop or the parent goes away (the process's entry point)."""
    logging.basicConfig(
        level=log_level, format="%(asctime)s %(levelname)-8s [worker %(process)d] %(name)s: %(message)s"
    )
    _quiet_libraries()
    try:
        from gpu_worker.models import load_pipeline

        context = WorkerContext(device=device, base=load_pipeline(source, device, Path(cache_dir)))
    except ModelLoadError as exc:
        conn.send(("load_failed", str(exc)))
        return
    except Exception as exc:
        conn.send(("load_failed", f"could not load model {source!r}: {exc}"))
        return
    listener = ControlListener(conn)
    listener.start()
    conn.send(("ready", {"device": device, "source": source, "pipeline": type(context.base).__name__}))
    while True:
        item = listener.jobs.get()
        if item is None:
            return
        job_id, request = item
        if listener.is_cancelled(job_id):
            conn.send(("cancelled", job_id))
            continue
        try:
            outcome = run_job(context, job_id, request, conn, listener, preview_every)
        except Exception as exc:  # a failed job must not take the worker down
            log.exception("job %s failed", job_id)
            conn.send(("failed", job_id, f"{type(exc).__name__}: {exc}"))
            continue
        conn.send(outcome)


def _quiet_libraries() -> None:
    """Silence per-load progress bars and advice; the worker's own log lines say what happened."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def run_job(
    context: WorkerContext,
    job_id: str,
    request: GenerationRequest,
    conn: Connection,
    listener: ControlListener,
    preview_every: int,
) -> tuple[Any, ...]:
    """Return the message that ends a job: its result, or that it was cancelled."""
    import torch
    from PIL import Image

    from gpu_worker.models import make_scheduler
    from gpu_worker.previews import preview_png

    request.validate()
    pipeline = context.pipeline_for(request.kind)
    pipeline.scheduler = make_scheduler(request.scheduler, context.base.scheduler.config)
    count = len(request.seeds)
    # One CPU generator per image, seeded from that image's own seed: the same seed gives the same
    # image whatever else is in the batch and on whatever device.
    generators = [torch.Generator("cpu").manual_seed(seed) for seed in request.seeds]
    started = time.perf_counter()
    step_times: list[float] = []
    cancelled = False

    def on_step_end(pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        nonlocal cancelled
        step_times.append(time.perf_counter())
        total = pipe.num_timesteps if hasattr(pipe, "num_timesteps") else request.steps
        done = step + 1
        preview = None
        if preview_every and (done % preview_every == 0) and done < total:
            preview = preview_png(callback_kwargs["latents"])
        conn.send(("progress", job_id, done, total, preview))
        if listener.is_cancelled(job_id):
            cancelled = True
            pipe._interrupt = True  # diffusers skips the remaining steps
        return callback_kwargs

    arguments: dict[str, Any] = {
        "prompt": [request.prompt] * count,
        "negative_prompt": [request.negative_prompt] * count,
        "num_inference_steps": request.steps,
        "guidance_scale": request.guidance,
        "generator": generators,
        "callback_on_step_end": on_step_end,
        "output_type": "pil",
    }
    if request.kind == "txt2img":
        arguments.update(width=request.width, height=request.height)
    else:
        init = Image.open(io.BytesIO(request.init_image or b"")).convert("RGB")
        arguments.update(image=init.resize((request.width, request.height)), strength=request.strength)
        if request.kind == "inpaint":
            mask = Image.open(io.BytesIO(request.mask_image or b"")).convert("L")
            arguments.update(mask_image=mask.resize((request.width, request.height)))
            arguments.update(width=request.width, height=request.height)
    with torch.inference_mode():
        output = pipeline(**arguments)
    if cancelled:
        return ("cancelled", job_id)
    images = []
    for image in output.images:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        images.append(buffer.getvalue())
    elapsed = time.perf_counter() - started
    timings = {"total": elapsed}
    if len(step_times) > 1:
        timings["per_step"] = (step_times[-1] - step_times[0]) / (len(step_times) - 1)
    return ("result", job_id, GenerationResult(images, tuple(request.seeds), timings, context.device))
