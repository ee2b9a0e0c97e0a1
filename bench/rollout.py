"""Frames/second of WorldModel.step with and without the temporal KV cache, by context length.

Both modes run in this one process on the same weights; each timed step starts from the same
saved rollout state, so only the context length differs. Prints one JSON object.
Usage: python bench/rollout.py [--preset tiny] [--contexts 1 4 8 16] [--maskgit-steps 25]
"""
from __future__ import annotations

import argparse
import copy
import json
import time

import numpy as np
import torch

from genie_robotics.config import preset
from genie_robotics.models.genie import Genie
from genie_robotics.models.world_model import WorldModel


def frames_per_second(world: WorldModel, context: int, repeats: int) -> float:
    world.reset(np.full((world.cfg.height, world.cfg.width, 3), 128, np.uint8))
    for t in range(context - 1):
        world.step(t % world.num_actions)
    saved = copy.copy(world.state)
    world.step(0)  # warm-up at this context
    best = float("inf")
    for _ in range(repeats):
        world.state = copy.copy(saved)
        start = time.perf_counter()
        world.step(1)
        best = min(best, time.perf_counter() - start)
    return 1.0 / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--contexts", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--maskgit-steps", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    torch.manual_seed(0)
    genie = Genie(preset(args.preset))
    results = []
    for context in args.contexts:
        row = {"context": context}
        for label, use_cache in (("cached", True), ("recomputed", False)):
            world = WorldModel(genie, maskgit_steps=args.maskgit_steps, use_cache=use_cache, device=args.device)
            row[f"{label}_fps"] = round(frames_per_second(world, context, args.repeats), 3)
        row["cache_speedup"] = round(row["cached_fps"] / row["recomputed_fps"], 2)
        results.append(row)
    first, last = results[0], results[-1]
    print(json.dumps({
        "bench": "rollout",
        "preset": args.preset,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "maskgit_steps": args.maskgit_steps,
        "results": results,
        # ~1.0 means the cached step cost does not grow with context; recomputation slows down.
        "cached_fps_ratio_last_vs_first_context": round(last["cached_fps"] / first["cached_fps"], 2),
        "recomputed_fps_ratio_last_vs_first_context": round(last["recomputed_fps"] / first["recomputed_fps"], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
