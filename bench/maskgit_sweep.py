"""Quality and speed of MaskGIT sampling settings on held-out episodes: step counts, temperatures
and unmasking orders, the numbers the checkpoint's sampling defaults are chosen by.

For every (steps, temperature, unmasking order), `genie-robotics eval`'s rollout metrics over
`--horizon` steps: rollouts driven by the recorded commands through the checkpoint's command map
(when it has one and the data records `world_vector`), by the LAM's codes and by random codes,
each beside the still frame; and the frames/second of the ONNX Runtime backend at a full context
(bench/rollout_profile.py). A setting's margin is its weakest one over t = 1..horizon: commands −
still frame, commands − random codes, and the moving-region gain over the still frame (the LAM's
codes stand in for the commands without a map). The recommended setting has the largest margin;
one within `--tolerance` dB of it with fewer steps (faster) is preferred. One step keeps every
sample at once, so its unmasking order does not matter and it is measured once.
Prints one JSON object (and writes it with --json).
Usage: python bench/maskgit_sweep.py --data HELD_OUT_RLDS [--steps 1 2 4] [--unmasking confidence random]
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


def _weakest(driven: list, baseline: list) -> float:
    return round(float(min(d - b for d, b in zip(driven, baseline) if d is not None and b is not None)), 3)


def settings(steps: list[int], temperatures: list[float], orders: list[str]) -> list[tuple[int, float, str]]:
    """(steps, temperature, order) to measure; one step once (its order changes nothing)."""
    return [(s, t, o) for t in temperatures for s in steps for o in (orders[:1] if s == 1 else orders)]


def quality_rows(checkpoint: str, data: str, episodes: int, horizon: int,
                 grid: list[tuple[int, float, str]]) -> list[dict]:
    """One row per setting, on one loaded model and one read of the clips (only the rollout
    metrics: eval's tokenizer quality and temperature-2 ΔtPSNR do not depend on them)."""
    import torch

    from genie_robotics.analysis.evaluation import command_codes, held_out_clips, rollout_quality
    from genie_robotics.commands import COMMAND_MAP_FILE, load_command_map
    from genie_robotics.models.checkpoint import load_checkpoint

    base = EvalOptions(model=Path(checkpoint), data=[data], episodes=episodes, horizon=horizon, progress=False)
    genie = load_checkpoint(checkpoint).eval()
    command_map = None
    if (Path(checkpoint) / COMMAND_MAP_FILE).is_file():
        command_map = load_command_map(checkpoint, codebook_AD=genie.lam.quantizer.codebook)
    held = held_out_clips(genie.cfg, base, with_commands=command_map is not None)
    codes_BT = command_codes(command_map, held.commands_BTF)
    stored = genie.cfg
    rows = []
    for steps, temperature, order in grid:
        genie.cfg = dataclasses.replace(stored, dynamics=dataclasses.replace(stored.dynamics, unmasking=order))
        opts = dataclasses.replace(base, maskgit_steps=steps, temperature=temperature)
        with torch.no_grad():
            q, _, _ = rollout_quality(genie, held.frames_BTHWC, opts, temperature, codes_BT)
        driven, driven_moving = (q.commands_psnr, q.commands_moving_psnr) if codes_BT is not None else \
            (q.rollout_psnr, q.moving_psnr)
        margins = {"driven_minus_still_min": _weakest(driven, q.baseline_copy_psnr),
                   "driven_minus_random_min": _weakest(driven, q.random_psnr),
                   "driven_moving_gain_min": _weakest(driven_moving, q.baseline_copy_moving_psnr)}
        rows.append({"maskgit_steps": steps, "temperature": temperature, "unmasking": order,
                     "driven_by": "commands" if codes_BT is not None else "LAM codes",
                     "driven_psnr": round(float(np.mean(driven)), 3), **margins,
                     "margin": min(margins.values()),
                     "delta_psnr_t4": round(q.delta_psnr_t4, 3),
                     "delta_psnr_t16": None if q.delta_psnr_t16 is None else round(q.delta_psnr_t16, 3),
                     "delta_psnr_t32": None if q.delta_psnr_t32 is None else round(q.delta_psnr_t32, 3),
                     "driven_psnr_by_t": [round(v, 2) for v in driven]})
        print(f"{steps} steps, temperature {temperature:g}, {order}: margin {rows[-1]['margin']:.2f} dB", flush=True)
    genie.cfg = stored
    return rows


def recommend(rows: list[dict], tolerance: float) -> dict:
    """The row with the largest margin, or one within `tolerance` dB of it with fewer steps."""
    best = max(r["margin"] for r in rows)
    close = [r for r in rows if r["margin"] >= best - tolerance]
    pick = min(close, key=lambda r: (r["maskgit_steps"], -r["margin"]))
    return {k: pick[k] for k in ("maskgit_steps", "temperature", "unmasking", "margin")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(SHIPPED_CHECKPOINT))
    parser.add_argument("--data", required=True, help="held-out RLDS dataset")
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--horizon", type=int, default=32, help="generated frames per rollout")
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.5])
    parser.add_argument("--unmasking", nargs="+", default=["confidence", "random"], choices=["confidence", "random"])
    parser.add_argument("--tolerance", type=float, default=0.05, help="dB of margin traded for fewer steps")
    parser.add_argument("--no-speed", action="store_true", help="quality only (speed wants a quiet machine)")
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args()
    keep_freed_memory()  # as the node and the CLI run rollouts (bench/allocator.py)

    grid = settings(args.steps, args.temperatures, args.unmasking)
    rows = quality_rows(args.checkpoint, args.data, args.episodes, args.horizon, grid)
    if not args.no_speed:
        from genie_robotics.sim.world_model import load_world_model

        backend = load_world_model(args.checkpoint, "onnx").backend
        speed = {s: profile_steps(backend, s, frames=6)["frames_per_s"] for s in args.steps}
        for row in rows:
            row["onnx_frames_per_s"] = speed[row["maskgit_steps"]]
    out = {"bench": "maskgit_sweep", "checkpoint": args.checkpoint, "data": args.data, "episodes": args.episodes,
           "horizon": args.horizon, "tolerance_db": args.tolerance, "rows": rows,
           "recommended": recommend(rows, args.tolerance)}
    text = json.dumps(out, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
