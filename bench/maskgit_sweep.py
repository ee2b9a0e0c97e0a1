"""Quality and speed of MaskGIT step counts (and temperatures) on held-out episodes: the numbers
the checkpoint's default step count is chosen by.

For every (steps, temperature): `genie-robotics eval`'s rollout PSNR, moving-region PSNR (both
averaged over the horizon) and ΔtPSNR at t = 4, and the frames/second of the ONNX Runtime
backend at a full context (bench/rollout_profile.py). The recommended default is the fewest
steps whose rollout and moving-region PSNR are within `--tolerance` dB of the most steps swept
at that temperature. Prints one JSON object (and writes it with --json).
Usage: python bench/maskgit_sweep.py --data HELD_OUT_RLDS [--steps 1 2 4 8 12 25] [--temperatures 0.5]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
from rollout_profile import profile_steps  # bench/, this script's folder

from genie_robotics.analysis.evaluation import EvalOptions
from genie_robotics.core.allocator import keep_freed_memory
from genie_robotics.core.assets import SHIPPED_CHECKPOINT


def quality_rows(checkpoint: str, data: str, episodes: int, steps: list[int], temperatures: list[float]) -> list[dict]:
    """One row per (steps, temperature), on one loaded model and one read of the clips (only the
    rollout metrics: eval's tokenizer quality and temperature-2 ΔtPSNR do not depend on them)."""
    import torch

    from genie_robotics.analysis.evaluation import held_out_clips, rollout_quality
    from genie_robotics.models.checkpoint import load_checkpoint

    base = EvalOptions(model=Path(checkpoint), data=[data], episodes=episodes, horizon=8, progress=False)
    genie = load_checkpoint(checkpoint).eval()
    clips = held_out_clips(genie.cfg, base).frames_BTHWC
    rows = []
    for temperature in temperatures:
        for s in steps:
            opts = dataclasses.replace(base, maskgit_steps=s, temperature=temperature)
            with torch.no_grad():
                quality, _, _ = rollout_quality(genie, clips, opts, temperature)
            moving = [v for v in quality.moving_psnr if v is not None]
            rows.append({"maskgit_steps": s, "temperature": temperature,
                         "rollout_psnr": round(float(np.mean(quality.rollout_psnr)), 3),
                         "moving_psnr": round(float(np.mean(moving)), 3),
                         "delta_psnr_t4": round(quality.delta_psnr_t4, 3),
                         "rollout_psnr_by_t": [round(v, 2) for v in quality.rollout_psnr]})
    return rows


def recommend(rows: list[dict], tolerance: float) -> dict[float, int]:
    """Per temperature: the fewest steps within `tolerance` dB of the most steps, on both PSNRs."""
    chosen = {}
    for temperature in sorted({r["temperature"] for r in rows}):
        same = sorted((r for r in rows if r["temperature"] == temperature), key=lambda r: r["maskgit_steps"])
        best = same[-1]
        chosen[temperature] = next(r["maskgit_steps"] for r in same
                                   if r["rollout_psnr"] >= best["rollout_psnr"] - tolerance
                                   and r["moving_psnr"] >= best["moving_psnr"] - tolerance)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(SHIPPED_CHECKPOINT))
    parser.add_argument("--data", required=True, help="held-out RLDS dataset")
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 2, 4, 8, 12, 25])
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.5])
    parser.add_argument("--tolerance", type=float, default=0.3, help="dB below the most steps' quality still accepted")
    parser.add_argument("--no-speed", action="store_true", help="quality only (speed wants a quiet machine)")
    parser.add_argument("--json", help="also write the result here")
    parser.add_argument("--quality-from", help="reuse the quality rows of an earlier --json (then only speed is measured)")
    args = parser.parse_args()
    keep_freed_memory()  # as the node and the CLI run rollouts (bench/allocator.py)

    if args.quality_from:
        rows = [{k: v for k, v in r.items() if k != "onnx_frames_per_s"}
                for r in json.loads(Path(args.quality_from).read_text())["rows"]]
        args.steps = sorted({r["maskgit_steps"] for r in rows})
    else:
        rows = quality_rows(args.checkpoint, args.data, args.episodes, args.steps, args.temperatures)
    if not args.no_speed:
        from genie_robotics.sim.world_model import load_world_model

        backend = load_world_model(args.checkpoint, "onnx").backend
        speed = {s: profile_steps(backend, s, frames=6)["frames_per_s"] for s in args.steps}
        for row in rows:
            row["onnx_frames_per_s"] = speed[row["maskgit_steps"]]
    out = {"bench": "maskgit_sweep", "checkpoint": args.checkpoint, "data": args.data, "episodes": args.episodes,
           "tolerance_db": args.tolerance, "rows": rows,
           "recommended_steps": {str(t): s for t, s in recommend(rows, args.tolerance).items()}}
    text = json.dumps(out, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
