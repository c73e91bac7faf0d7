"""Fairness: how long a light user waits while a heavy user floods the queue.

Compares Salon's fair queue with first-come-first-served (the light job queued behind the flood).

    python -m bench.fairness [--flood 50] [--batch 4] [--steps 8]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench._common import report
from gpu_worker import GenerationRequest, ProcessPool


def request(requester: str, seed: int, steps: int) -> GenerationRequest:
    return GenerationRequest(
        kind="txt2img",
        prompt=f"{requester} {seed}",
        seeds=tuple(range(seed, seed + 4)),
        width=64,
        height=64,
        steps=steps,
        requester=requester,
        session="channel:bench",
    )


async def light_wait(cache: Path, flood: int, batch: int, steps: int, fair: bool) -> float:
    """Return seconds from the light user's submit to its images, with `flood` heavy jobs ahead."""
    pool = ProcessPool("tiny", ["cpu"], cache, batch_size=batch, preview_every=0)
    await pool.start()
    try:
        await (await pool.submit("warm", request("warm", 0, steps))).result()
        heavy = [await pool.submit(f"h{n}", request("heavy", n * 4, steps)) for n in range(flood)]
        # First come, first served is what the light job gets when it joins the heavy user's line.
        started = time.perf_counter()
        light = await pool.submit("light", request("light" if fair else "heavy", 9000, steps))
        await light.result()
        waited = time.perf_counter() - started
        for handle in heavy:
            await handle.cancel()
        return waited
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flood", type=int, default=50)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    cache = Path(tempfile.mkdtemp(prefix="salon-bench-"))
    fair = asyncio.run(light_wait(cache, args.flood, args.batch, args.steps, fair=True))
    fifo = asyncio.run(light_wait(cache, args.flood, args.batch, args.steps, fair=False))
    report(
        "fairness",
        {
            "flood_jobs": args.flood,
            "batch": args.batch,
            "steps": args.steps,
            "light_wait_fair_s": round(fair, 3),
            "light_wait_fifo_s": round(fifo, 3),
            "speedup": round(fifo / fair, 1),
        },
    )


if __name__ == "__main__":
    main()
