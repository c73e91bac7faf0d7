"""The one place a worker request is built from a job spec; nothing patches a request afterwards."""

from __future__ import annotations

from bot.jobs.spec import JobSpec
from bot.store.image_files import ImageFiles
from gpu_worker import GenerationRequest


def build_request(spec: JobSpec, files: ImageFiles, *, requester: str) -> GenerationRequest:
    """Return the request the worker runs for `spec`, its start image and mask read back from the files."""
    render = spec.render
    return GenerationRequest(
        kind=render.kind,
        prompt=render.prompt,
        negative_prompt=render.negative_prompt,
        seeds=tuple(render.seeds),
        width=render.width,
        height=render.height,
        steps=render.steps,
        guidance=render.guidance,
        scheduler=render.scheduler,
        model=render.model,
        strength=render.strength,
        init_image=files.read(render.init_image_sha256) if render.init_image_sha256 else None,
        mask_image=files.read(render.mask_sha256) if render.mask_sha256 else None,
        requester=requester,
        session=render.share_key,
        priority=render.priority,
        journey=render.journey,
        regions=tuple(tuple(region) for region in render.regions),  # type: ignore[misc]
    )
