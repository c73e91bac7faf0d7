"""Overhead of the pool: the same tiny pipeline called directly vs through ProcessPool.

python -m bench.pool_overhead [--runs 20] [--steps 8] [--images 4]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

from bench._common import report
from gpu_worker import GenerationRequest, ProcessPool
from gpu_worker.batch_runner import BatchItem, run_batch
from gpu_worker.models import load_pipeline
from gpu_worker.worker_process import WorkerContext


def direct_times(cache: Path, request: GenerationRequest, runs: int) -> list[float]:
    """Return seconds per direct call, measured in a fresh process like the pool's worker."""
    context = WorkerContext("cpu", load_pipeline("tiny", "cpu", cache))
    run_batch(context, [BatchItem("warm", request)], len(request.seeds), lambda *_: False)
    times = []
    for n in range(runs):
        started = time.perf_counter()
        run_batch(context, [BatchItem(str(n), request)], len(request.seeds), lambda *_: False)
        times.append(time.perf_counter() - started)
    return times


async def pooled_times(cache: Path, request: GenerationRequest, runs: int) -> list[float]:
    """Return seconds per call through the pool, from submit to result."""
    pool = ProcessPool("tiny", ["cpu"], cache, batch_size=len(request.seeds), preview_every=0)
    await pool.start()
    try:
        await (await pool.submit("warm", request)).result()
        times = []
        for n in range(runs):
            started = time.perf_counter()
            await (await pool.submit(str(n), request)).result()
            times.append(time.perf_counter() - started)
        return times
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--images", type=int, default=4)
    args = parser.parse_args()
    cache = Path(tempfile.mkdtemp(prefix="salon-bench-"))
    request = GenerationRequest(
        kind="txt2img", prompt="a lighthouse", seeds=tuple(range(args.images)), width=64, height=64, steps=args.steps
    )
    # Both sides run in a spawned process of their own, one after the other, twice (A B A B), so
    # neither shares the CPU with the other and both pay the same process set-up.
    called: list[float] = []
    through_pool: list[float] = []
    context = multiprocessing.get_context("spawn")
    for _ in range(2):
        with context.Pool(1) as workers:
            called += workers.apply(direct_times, (cache, request, args.runs))
        through_pool += asyncio.run(pooled_times(cache, request, args.runs))
    d, p = statistics.median(called), statistics.median(through_pool)
    report(
        "pool_overhead",
        {
            "runs": 2 * args.runs,
            "steps": args.steps,
            "images": args.images,
            "direct_median_s": round(d, 4),
            "pool_median_s": round(p, 4),
            "ratio_median": round(p / d, 4),
            # The minimum is the least disturbed by other load on a shared machine.
            "direct_min_s": round(min(called), 4),
            "pool_min_s": round(min(through_pool), 4),
            "ratio_min": round(min(through_pool) / min(called), 4),
        },
    )


if __name__ == "__main__":
    main()
