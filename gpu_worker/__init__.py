"""Salon's generation pool: diffusers pipelines in one worker process per device."""

from gpu_worker.pool import GenerationPool, JobHandle, ProcessPool
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
from gpu_worker.scheduling import FairQueue

__all__ = [
    "FairQueue",
    "GenerationError",
    "GenerationPool",
    "GenerationRequest",
    "GenerationResult",
    "JobCancelledError",
    "JobHandle",
    "ModelLoadError",
    "PoolClosedError",
    "ProcessPool",
    "Progress",
    "WorkerCrashedError",
]
