"""Salon's generation pool: diffusers pipelines in one worker process per device."""

from gpu_worker.pool import GenerationPool, JobHandle, PoolListener, ProcessPool
from gpu_worker.requests import (
    GenerationError,
    GenerationRequest,
    GenerationResult,
    JobCancelledError,
    ModelLoadError,
    PoolClosedError,
    PoolEvent,
    PoolEventKind,
    PoolHealth,
    Progress,
    WorkerCrashedError,
    describe_exit,
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
    "PoolEvent",
    "PoolEventKind",
    "PoolHealth",
    "PoolListener",
    "ProcessPool",
    "Progress",
    "WorkerCrashedError",
    "describe_exit",
]
