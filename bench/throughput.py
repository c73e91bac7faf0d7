"""Throughput under load: 16 concurrent requesters, batched pool vs one job at a time (A1111's way).

python -m bench.throughput [--requesters 16] [--jobs-each 2] [--batch 8] [--steps 8]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench._common import report
from gpu_worker import GenerationRequest, ProcessPool


async def serve(cache: Path, batch_size: int, requesters: int, jobs_each: int, steps: int) -> float:
    """Return images per second when every requester submits its jobs at once."""
    pool = ProcessPool("tiny", ["cpu"], cache, batch_size=batch_size, preview_every=0)
    await pool.start()
    try:
        warm = GenerationRequest(kind="txt2img", prompt="warm", seeds=(0,), width=64, height=64, steps=steps)
        await (await pool.submit("warm", warm)).result()
        started = time.perf_counter()
        handles = []
        for job in range(jobs_each):
            for user in range(requesters):
                request = GenerationRequest(
                    kind="txt2img",
                    prompt=f"a picture by user {user}",
                    seeds=(user * 100 + job,),
                    width=64,
                    height=64,
                    steps=steps,
                    requester=f"user{user}",
                    session="channel:bench",
                )
                handles.append(await pool.submit(f"{user}-{job}", request))
        await asyncio.gather(*(handle.result() for handle in handles))
        return len(handles) / (time.perf_counter() - started)
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requesters", type=int, default=16)
    parser.add_argument("--jobs-each", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    cache = Path(tempfile.mkdtemp(prefix="salon-bench-"))
    one_at_a_time = asyncio.run(serve(cache, 1, args.requesters, args.jobs_each, args.steps))
    batched = asyncio.run(serve(cache, args.batch, args.requesters, args.jobs_each, args.steps))
    report(
        "throughput",
        {
            "requesters": args.requesters,
            "jobs": args.requesters * args.jobs_each,
            "steps": args.steps,
            "batch": args.batch,
            "one_at_a_time_images_per_s": round(one_at_a_time, 3),
            "batched_images_per_s": round(batched, 3),
            "ratio": round(batched / one_at_a_time, 3),
        },
    )


if __name__ == "__main__":
    main()
