"""Rollout wall and kernel time with and without genie_robotics.core.allocator.keep_freed_memory.

Runs the same batched rollout of the shipped tiny checkpoint in two fresh processes (the
allocator can only be tuned, not untuned, within one), then prints one JSON object with both
timings and their ratio. Usage: python bench/allocator.py [--batch 8] [--steps 6] [--maskgit-steps 8]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

CHILD = """
import json, sys, time
import numpy as np
from genie_robotics.core.allocator import keep_freed_memory
tuned = keep_freed_memory()
from genie_robotics.core.assets import SHIPPED_CHECKPOINT
from genie_robotics.sim.world_model import WorldModel
batch, steps, maskgit = (int(v) for v in sys.argv[1:4])
world = WorldModel.from_checkpoint(SHIPPED_CHECKPOINT, maskgit_steps=maskgit, temperature=1.0)
prompts = np.random.default_rng(0).integers(0, 256, (batch, 64, 64, 3), dtype=np.uint8)
world.rollout(prompts, np.zeros((batch, 1), int))  # warm-up
start = time.perf_counter()
world.rollout(prompts, np.arange(batch * steps).reshape(batch, steps) % 8)
print(json.dumps({"tuned": tuned, "rollout_s": time.perf_counter() - start}))
"""


def run(args, tuned: bool) -> dict:
    env = {**os.environ, "GENIE_MALLOC_TUNING": "1" if tuned else "0"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, "-c", CHILD, str(args.batch), str(args.steps), str(args.maskgit_steps)],
                         capture_output=True, text=True, env=env, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(out.strip().splitlines()[-1])
    result["process_kernel_s"] = round(after.ru_stime - before.ru_stime, 2)
    result["process_user_s"] = round(after.ru_utime - before.ru_utime, 2)
    result["rollout_s"] = round(result["rollout_s"], 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--maskgit-steps", type=int, default=8)
    args = parser.parse_args()
    start = time.time()
    default, tuned = run(args, tuned=False), run(args, tuned=True)
    print(json.dumps({
        "bench": "allocator", "batch": args.batch, "steps": args.steps, "maskgit_steps": args.maskgit_steps,
        "default": default, "tuned": tuned,
        "rollout_speedup": round(default["rollout_s"] / tuned["rollout_s"], 2),
        "seconds": round(time.time() - start, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
