"""Resident memory and warm-up time against the number of worlds, beside what the worlds need.

Each row is a fresh process: the in-process `WorldModel` (backend torch or onnx, the shipped tiny
checkpoint, ONNX exported with a batch dimension) warms up, resets N worlds from one prompt (as
the node does), takes one first step (timed apart: a warm-up that left the full batch something
to prepare shows as a slow first step) and `--steps` more; its peak resident set (VmHWM) is read
from /proc. `ready_s` is load + warm-up + reset: how long until the node can publish. A CPU
backend runs a big batch a few worlds per model call (`world_chunk`); where it does, the same
process then resets and steps the batch in one call, for the ratio `one_call_over_chunked_step`.
`fresh_memory_gb_per_s` is how fast the machine hands a process new memory (a reset's floor). `need_*` come from
genie_robotics.sim.memory (what the node checks before allocating): the worlds' caches alone,
and the whole estimate. Prints one JSON object (and writes it with --json).

    python bench/node_memory.py --worlds 1 4 16 64 256 --backends onnx torch --json bench/results/node_memory.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GB = 2**30


def _peak_rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(model: str, backend: str, worlds: int, steps: int) -> dict:
    """One measurement, in this (fresh) process."""
    import numpy as np

    from genie_robotics.sim.world_model import load_world_model

    start = time.perf_counter()
    world = load_world_model(model, backend, batched=worlds > 1)
    loaded = time.perf_counter() - start
    prompt = np.full((worlds, world.cfg.height, world.cfg.width, 3), 128, np.uint8)  # one prompt, as the node's
    warm_up_s = world.warm_up(prompt)
    start = time.perf_counter()
    world.reset(prompt)
    reset_s = time.perf_counter() - start

    def step(t: int) -> float:
        start = time.perf_counter()
        world.step(np.full(worlds, t % world.num_actions, np.int64))
        return time.perf_counter() - start

    first_step_s = step(0)  # slowed if the warm-up left something for the full batch to prepare
    step_s = sum(step(t) for t in range(1, steps + 1)) / max(steps, 1)
    row = {"backend": backend, "worlds": worlds, "world_chunk": world.backend.world_chunk, "load_s": round(loaded, 2),
           "warm_up_s": round(warm_up_s, 2), "reset_s": round(reset_s, 2),
           "ready_s": round(loaded + warm_up_s + reset_s, 2), "first_step_s": round(first_step_s, 3),
           "step_s": round(step_s, 3), "first_over_steady_step": round(first_step_s / step_s, 2),
           "peak_rss_bytes": _peak_rss_bytes()}
    if world.backend.world_chunk is not None and worlds > world.backend.world_chunk:
        # The same worlds in one model call per step (no chunks), in this process, after the peak is read.
        world.state, world.backend.world_chunk = None, None
        start = time.perf_counter()
        world.reset(prompt)
        row["one_call_reset_s"] = round(time.perf_counter() - start, 2)
        step(0)
        row["one_call_step_s"] = round(sum(step(t) for t in range(1, steps + 1)) / max(steps, 1), 3)
        row["one_call_over_chunked_step"] = round(row["one_call_step_s"] / step_s, 2)
    # How fast this machine hands out fresh memory: a reset writes every world's caches once.
    import torch

    start = time.perf_counter()
    torch.empty(GB // 4).fill_(0.0)
    row["fresh_memory_gb_per_s"] = round(1 / (time.perf_counter() - start), 2)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worlds", type=int, nargs="+", default=[1, 4, 16, 64, 256])
    p.add_argument("--backends", nargs="+", default=["onnx", "torch"], choices=["onnx", "torch"])
    p.add_argument("--steps", type=int, default=2, help="batched steps timed after the first")
    p.add_argument("--json", type=Path, help="also write the result here")
    p.add_argument("--child", nargs=4, metavar=("MODEL", "BACKEND", "WORLDS", "STEPS"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        model, backend, worlds, steps = args.child
        print(json.dumps(child(model, backend, int(worlds), int(steps))))
        return

    from genie_robotics.core.assets import SHIPPED_CHECKPOINT
    from genie_robotics.core.config import GenieConfig
    from genie_robotics.export.onnx_export import export_onnx
    from genie_robotics.sim.memory import memory_need

    cfg = GenieConfig.load(Path(SHIPPED_CHECKPOINT) / "config.yaml")
    weights_bytes = (Path(SHIPPED_CHECKPOINT) / "model.safetensors").stat().st_size
    rows = []
    with tempfile.TemporaryDirectory(prefix="genie_mem_") as tmp:
        export = export_onnx(SHIPPED_CHECKPOINT, Path(tmp) / "export", dynamic_batch=True)
        for backend in args.backends:
            for worlds in args.worlds:
                model = str(export if backend == "onnx" else SHIPPED_CHECKPOINT)
                done = subprocess.run([sys.executable, __file__, "--child", model, backend, str(worlds), str(args.steps)],
                                      capture_output=True, text=True)
                if done.returncode != 0:
                    rows.append({"backend": backend, "worlds": worlds, "error": done.stderr.strip().splitlines()[-1:]})
                    continue
                row = json.loads(done.stdout.strip().splitlines()[-1])
                need = memory_need(cfg, worlds, row["world_chunk"])
                caches = worlds * need.cache_bytes_per_world
                row.update(need_caches_bytes=caches, need_estimate_bytes=need.total,
                           rss_over_estimate=round(row["peak_rss_bytes"] / need.total, 2),
                           rss_over_model_and_caches=round(row["peak_rss_bytes"] / (weights_bytes + caches), 2))
                rows.append(row)
                print(f"{backend:5s} {worlds:4d} worlds: peak {row['peak_rss_bytes'] / GB:.2f} GB, estimate "
                      f"{need.total / GB:.2f} GB, caches {worlds * need.cache_bytes_per_world / GB:.2f} GB, "
                      f"warm-up {row['warm_up_s']} s, reset {row['reset_s']} s, first step / steady "
                      f"{row['first_over_steady_step']}", file=sys.stderr)
    result = {"model": "tiny (shipped)", "steps": args.steps, "cores": len(os.sched_getaffinity(0)), "rows": rows}
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
