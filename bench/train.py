"""Training throughput per phase: frames/second and tokens/second, eager vs torch.compile.

Times optimizer steps of `Genie.stage_loss` (what the DeepSpeed entry point runs) on fixed
random clips, so the numbers are the model's cost, not the data pipeline's (bench/data.py).
On a GPU it also reports model FLOPs utilisation from a FLOP count of one step.
Usage: python bench/train.py [--preset tiny] [--batch 4] [--frames 8] [--steps 5] [--compile]
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from genie_robotics.config import preset
from genie_robotics.models.genie import STAGES, Genie

PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}  # dense bf16 tensor-core peaks


def step_flops(genie: Genie, stage: str, clips: torch.Tensor) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        genie.stage_loss(stage, clips)["loss"].backward()
    genie.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def measure(genie: Genie, stage: str, clips: torch.Tensor, steps: int, compiled: bool) -> dict:
    params = genie.trainable_parameters(stage)
    opt = torch.optim.AdamW(params, lr=1e-4)
    loss_fn = torch.compile(genie.stage_loss) if compiled else genie.stage_loss
    dtype = torch.bfloat16 if clips.is_cuda else None

    def one_step() -> None:
        with torch.autocast(clips.device.type, dtype=dtype, enabled=dtype is not None):
            loss = loss_fn(stage, clips)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    start = time.perf_counter()
    one_step()  # warm-up (and compilation)
    warmup_s = time.perf_counter() - start
    if clips.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        one_step()
    if clips.is_cuda:
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    B, T = clips.shape[:2]
    return {
        "seconds_per_step": round(seconds, 4),
        "frames_per_s": round(B * T / seconds, 1),
        "tokens_per_s": round(B * T * genie.cfg.tokens_per_frame / seconds, 1),
        "first_step_s": round(warmup_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    genie = Genie(preset(args.preset)).to(args.device)
    cfg = genie.cfg
    clips = torch.randint(0, 256, (args.batch, args.frames, cfg.height, cfg.width, 3), dtype=torch.uint8, device=args.device)
    result = {"bench": "train", "preset": args.preset, "device": args.device, "threads": torch.get_num_threads(),
              "batch": args.batch, "frames": args.frames, "tokens_per_frame": cfg.tokens_per_frame, "phases": {}}
    gpu = torch.cuda.get_device_name() if args.device.startswith("cuda") else None
    for stage in STAGES:
        genie.train()
        if stage == "dynamics":
            genie.tokenizer.eval()
        row = {"eager": measure(genie, stage, clips, args.steps, compiled=False)}
        if args.compile:
            row["compiled"] = measure(genie, stage, clips, args.steps, compiled=True)
            row["compile_speedup"] = round(row["eager"]["seconds_per_step"] / row["compiled"]["seconds_per_step"], 2)
        if gpu:
            peak = next((v for k, v in PEAK_BF16_FLOPS.items() if k in gpu), None)
            flops = step_flops(genie, stage, clips)
            best = min(r["seconds_per_step"] for r in (row["eager"], row.get("compiled", row["eager"])))
            row["model_flops_per_step"] = flops
            row["mfu"] = round(flops / best / peak, 4) if peak else None
        result["phases"][stage] = row
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
