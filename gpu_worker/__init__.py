"""Salon's generation pool: diffusers pipelines in one worker process per device."""

from gpu_worker.pool import GenerationPool, JobHandle, JobQueue, ProcessPool
from gpu_worker.requests import (
    GenerationError,
    GenerationRequest,
    GenerationResult,
    JobCancelledError,
    ModelLoadError,
    PoolClosedError,
    Progress,
    WorkerCrashedError,
)

__all__ = [
    "GenerationError",
    "GenerationPool",
    "GenerationRequest",
    "GenerationResult",
    "JobCancelledError",
    "JobHandle",
    "JobQueue",
    "ModelLoadError",
    "PoolClosedError",
    "ProcessPool",
    "Progress",
    "WorkerCrashedError",
]
