"""GPU throughput of architecture-faithful random-weight pipelines (SD 1.5, SDXL, SD-Turbo-style).

The architectures live in bench/architectures/*.json (the published configs' shapes; no weights are
downloaded: weights are random, which does not change the arithmetic). For each batch size it
reports images/s of the whole pipeline, UNet iterations/s, and the UNet's achieved FLOP/s as a
fraction of this device's measured matmul peak in the same dtype.

    python -m bench.gpu_pipelines --arch sd15 sdxl sd_turbo --dtype bf16 --batches 1 2 4 8 16
    python -m bench.gpu_pipelines --small          # CPU, tiny sizes: keeps the script correct
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from bench._common import report

ARCHITECTURES = Path(__file__).with_name("architectures")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def matmul_peak_tflops(device: str, dtype: torch.dtype) -> float:
    """Return the measured dense matmul throughput of this device in TFLOP/s."""
    n = 8192 if device.startswith("cuda") else 1024
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    synchronize(device)
    repeats = 50 if device.startswith("cuda") else 5
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * n**3 * repeats / (time.perf_counter() - started) / 1e12


def build_pipeline(arch: dict[str, Any], device: str, dtype: torch.dtype) -> Any:
    """Return the pipeline of an architecture with random weights, built directly on `device`."""
    import diffusers
    import transformers
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTokenizer

    from gpu_worker.tiny import tiny_vocab

    folder = Path(tempfile.mkdtemp(prefix="salon-tokenizer-"))
    (folder / "vocab.json").write_text(json.dumps(tiny_vocab()))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer.from_pretrained(folder, model_max_length=77)
    torch.manual_seed(0)
    with torch.device(device):
        unet = UNet2DConditionModel.from_config(arch["unet"]).to(dtype)
        vae = AutoencoderKL.from_config(arch["vae"]).to(dtype)
        encoders = [
            getattr(transformers, spec["class"])(transformers.CLIPTextConfig(**spec["config"])).to(dtype)
            for spec in arch["text_encoders"]
        ]
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="trailing", steps_offset=1
    )
    parts: dict[str, Any] = {"unet": unet, "vae": vae, "scheduler": scheduler, "tokenizer": tokenizer}
    parts["text_encoder"] = encoders[0]
    if len(encoders) > 1:
        parts.update(text_encoder_2=encoders[1], tokenizer_2=tokenizer)
    else:
        parts.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipeline = getattr(diffusers, arch["pipeline"])(**parts)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def unet_inputs(pipeline: Any, arch: dict[str, Any], batch: int, resolution: int, device: str, dtype: torch.dtype):
    """Return the UNet's inputs for one denoising step of `batch` images (doubled by guidance)."""
    rows = batch * (2 if arch.get("guidance", 7.0) > 1.0 else 1)
    side = resolution // pipeline.vae_scale_factor
    cross = pipeline.unet.config.cross_attention_dim
    kwargs: dict[str, Any] = {
        "sample": torch.randn(rows, 4, side, side, device=device, dtype=dtype),
        "timestep": torch.tensor(500, device=device),
        "encoder_hidden_states": torch.randn(rows, 77, cross, device=device, dtype=dtype),
    }
    if pipeline.unet.config.addition_embed_type == "text_time":
        kwargs["added_cond_kwargs"] = {
            "text_embeds": torch.randn(rows, 1280, device=device, dtype=dtype),
            "time_ids": torch.tensor(
                [[resolution, resolution, 0, 0, resolution, resolution]] * rows, device=device, dtype=dtype
            ),
        }
    return kwargs


def measure(arch_name: str, batches: list[int], dtype_name: str, device: str, small: bool) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    arch = json.loads((ARCHITECTURES / f"{arch_name}.json").read_text())
    dtype = DTYPES[dtype_name]
    resolution = 64 if small else arch["resolution"]
    steps = min(2, arch["steps"]) if small else arch["steps"]
    guidance = arch.get("guidance", 7.0)
    peak = matmul_peak_tflops(device, dtype)
    pipeline = build_pipeline(arch, device, dtype)
    for batch in batches:
        call = {
            "prompt": ["a lighthouse on a cliff at dusk"] * batch,
            "num_inference_steps": steps,
            "guidance_scale": guidance,
            "height": resolution,
            "width": resolution,
            "output_type": "pil",
        }
        with torch.inference_mode():
            pipeline(**call)  # warm-up: kernels, allocator
            synchronize(device)
            started = time.perf_counter()
            pipeline(**call)
            synchronize(device)
            seconds = time.perf_counter() - started
            inputs = unet_inputs(pipeline, arch, batch, resolution, device, dtype)
            with FlopCounterMode(display=False) as counter:
                pipeline.unet(**inputs)
            flops = counter.get_total_flops()
            repeats = 10 if device.startswith("cuda") else 2
            synchronize(device)
            unet_started = time.perf_counter()
            for _ in range(repeats):
                pipeline.unet(**inputs)
            synchronize(device)
            per_forward = (time.perf_counter() - unet_started) / repeats
        achieved = flops / per_forward / 1e12
        report(
            "gpu_pipelines",
            {
                "arch": arch_name,
                "dtype": dtype_name,
                "device": device,
                "resolution": resolution,
                "steps": steps,
                "batch": batch,
                "images_per_s": round(batch / seconds, 3),
                "unet_it_per_s": round(1 / per_forward, 2),
                "unet_tflops": round(achieved, 4),
                "matmul_peak_tflops": round(peak, 4),
                "fraction_of_peak": round(achieved / peak, 3),
            },
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", nargs="+", default=["sd15", "sdxl", "sd_turbo"])
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 2, 4, 8, 16])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--small", action="store_true", help="64 px, at most 2 steps, batches 1 and 2, fp32 on CPU")
    args = parser.parse_args()
    if args.small:
        args.batches, args.dtype = [1, 2], "fp32" if args.device == "cpu" else args.dtype
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
    for arch in args.arch:
        measure(arch, args.batches, args.dtype, args.device, args.small)


if __name__ == "__main__":
    main()
