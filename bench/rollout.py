"""Frames/second of the world model's step: KV cache vs recomputation, and ONNX Runtime vs PyTorch.

Everything runs in this one process on the same weights (random, seeded: speed does not depend
on training); each timed step starts from the same saved rollout state, so only the context
length and the MaskGIT step count differ. Prints one JSON object.
  cache:  WorldModel cached vs recomputed (batch 1), per MaskGIT step count and context length.
  --onnx: the same weights exported to ONNX; the ONNX Runtime backend (batch 1, IO binding) vs the cached
          PyTorch WorldModel at each context, with the provider ONNX Runtime really runs on.
  --num-envs 1 4 16: several worlds in one batched step on the ONNX Runtime backend (exported with a
          batch dimension, as the node does for num_envs > 1): frames/s per world and in total.
  --profile: where a frame's time goes (bench/rollout_profile.py), PyTorch and ONNX Runtime side
          by side, on the shipped checkpoint (or --checkpoint), plus the node's conversion + publish.
  --compile: also PyTorch through torch.compile (CUDA graphs on a GPU): a column of the cache
          table, a row of --profile (its compile, ~1 min on 2 cores, runs before the timing).
Usage: python bench/rollout.py [--preset tiny] [--contexts 1 4 8 16] [--maskgit-steps 25] [--onnx] [--profile] [--compile]
"""
from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time

import numpy as np
import torch
from rollout_profile import node_publish_ms, profile_steps  # bench/, this script's folder

from genie_robotics.core.allocator import keep_freed_memory
from genie_robotics.core.config import preset
from genie_robotics.models.genie import Genie
from genie_robotics.sim.world_model import WorldModel, load_world_model


def frames_per_second(world: WorldModel, context: int, repeats: int) -> float:
    world.reset(np.full((world.cfg.height, world.cfg.width, 3), 128, np.uint8))
    for t in range(context - 1):
        world.step(t % world.num_actions)
    saved = copy.deepcopy(world.state)  # a step appends to the caches in place
    world.step(0)  # warm-up at this context
    best = float("inf")
    for _ in range(repeats):
        world.state = copy.deepcopy(saved)
        if world.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        world.step(1)  # returns a uint8 frame on the host: the step is complete
        best = min(best, time.perf_counter() - start)
    return 1.0 / best


def cache_rows(genie: Genie, args, steps: int, compiled=None) -> list[dict]:
    """Cached vs recomputed frames/s per context (and cached through `compiled`, a TorchBackend)."""
    rows = []
    for context in args.contexts:
        row = {"maskgit_steps": steps, "context": context}
        for label, use_cache in (("cached", True), ("recomputed", False)):
            world = WorldModel(genie, maskgit_steps=steps, use_cache=use_cache, device=args.device)
            row[f"{label}_fps"] = round(frames_per_second(world, context, args.repeats), 3)
        row["cache_speedup"] = round(row["cached_fps"] / row["recomputed_fps"], 2)
        if compiled is not None:  # cached, through torch.compile
            try:
                world = WorldModel(compiled, maskgit_steps=steps)
                row["cached_compiled_fps"] = round(frames_per_second(world, context, args.repeats), 3)
                row["compile_speedup"] = round(row["cached_compiled_fps"] / row["cached_fps"], 2)
            except Exception as exc:  # on a lent GPU the eager rows must survive a failed compile
                row["compiled_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                compiled = None
        rows.append(row)
    return rows


def onnx_rows(genie: Genie, args, steps: int, export_dir) -> list[dict]:
    from genie_robotics.sim.onnx_backend import OnnxBackend

    rows = []
    onnx_world = WorldModel(OnnxBackend(export_dir, args.providers), maskgit_steps=steps)
    torch_world = WorldModel(genie, maskgit_steps=steps, device=args.device)
    for context in args.contexts:
        row = {"maskgit_steps": steps, "context": context, "onnx_provider": onnx_world.backend.provider,
               "onnx_device": str(onnx_world.device), "torch_device": args.device}
        row["onnx_fps"] = round(frames_per_second(onnx_world, context, args.repeats), 3)
        row["torch_fps"] = round(frames_per_second(torch_world, context, args.repeats), 3)
        row["onnx_vs_torch"] = round(row["onnx_fps"] / row["torch_fps"], 2)
        rows.append(row)
    return rows


def profile(args) -> dict:
    from genie_robotics.core.assets import SHIPPED_CHECKPOINT
    from genie_robotics.models.checkpoint import load_checkpoint
    from genie_robotics.sim.rollout_backend import TorchBackend

    checkpoint = args.checkpoint or SHIPPED_CHECKPOINT
    genie = load_checkpoint(checkpoint, args.device)
    torch_backend = TorchBackend(genie, args.device)
    backends = [torch_backend, load_world_model(checkpoint, "onnx", args.providers).backend]
    if args.compile:
        backends.insert(1, TorchBackend(genie, args.device, compile=True))
    rows = [profile_steps(backend, steps, args.frames) for steps in args.maskgit_steps for backend in backends]
    cfg = torch_backend.cfg
    return {"bench": "rollout_profile", "checkpoint": str(checkpoint), "threads": torch.get_num_threads(),
            "context_frames": cfg.frames, "rows": rows, "node_publish_ms": node_publish_ms(cfg.height, cfg.width)}


def num_envs(args) -> dict:
    from genie_robotics.core.assets import SHIPPED_CHECKPOINT

    checkpoint = args.checkpoint or SHIPPED_CHECKPOINT
    backend = load_world_model(checkpoint, "onnx", args.providers, batched=True).backend
    rows = []
    for steps in args.maskgit_steps:
        for worlds in args.num_envs:
            row = profile_steps(backend, steps, args.frames, worlds=worlds)
            rows.append({"maskgit_steps": steps, "num_envs": worlds, "frames_per_s_per_env": row["frames_per_s"],
                         "frames_per_s_total": round(row["frames_per_s"] * worlds, 2), "step_ms": row["step_ms"]})
    return {"bench": "rollout_num_envs", "checkpoint": str(checkpoint), "backend": backend.name,
            "threads": torch.get_num_threads(), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--contexts", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--maskgit-steps", type=int, nargs="+", default=[25])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--onnx", action="store_true", help="also compare the ONNX Runtime backend with PyTorch")
    parser.add_argument("--providers", nargs="+", help="ONNX Runtime providers (default: best available)")
    parser.add_argument("--no-cache-rows", action="store_true", help="skip the cached-vs-recomputed table")
    parser.add_argument("--profile", action="store_true", help="only the per-part profile of a generated frame")
    parser.add_argument("--checkpoint", help="--profile: checkpoint directory (default: the shipped one)")
    parser.add_argument("--frames", type=int, default=8, help="--profile: generated frames timed per row")
    parser.add_argument("--num-envs", type=int, nargs="+", help="only frames/s of this many worlds per batched step")
    parser.add_argument("--compile", action="store_true", help="also PyTorch through torch.compile")
    args = parser.parse_args()
    keep_freed_memory()  # as the node and the CLI run rollouts (bench/allocator.py)
    if args.num_envs:
        print(json.dumps(num_envs(args), indent=2))
        return
    if args.profile:
        print(json.dumps(profile(args), indent=2))
        return

    torch.manual_seed(0)
    genie = Genie(preset(args.preset)).eval()
    out = {"bench": "rollout", "preset": args.preset, "device": args.device, "threads": torch.get_num_threads(),
           "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None}
    if not args.no_cache_rows:
        from genie_robotics.sim.rollout_backend import TorchBackend

        compiled = TorchBackend(genie, args.device, compile=True) if args.compile else None
        rows = [r for steps in args.maskgit_steps for r in cache_rows(genie, args, steps, compiled)]
        out["results"] = rows
        first, last = rows[0], [r for r in rows if r["maskgit_steps"] == rows[0]["maskgit_steps"]][-1]
        # ~1.0 means the cached step cost does not grow with context; recomputation slows down.
        out["cached_fps_ratio_last_vs_first_context"] = round(last["cached_fps"] / first["cached_fps"], 2)
        out["recomputed_fps_ratio_last_vs_first_context"] = round(last["recomputed_fps"] / first["recomputed_fps"], 2)
    if args.onnx:
        from genie_robotics.core.checkpoint_files import save_checkpoint
        from genie_robotics.export.onnx_export import export_onnx

        with tempfile.TemporaryDirectory() as tmp:
            export_dir = export_onnx(save_checkpoint(genie.cpu(), f"{tmp}/ckpt"), f"{tmp}/onnx")
            out["onnx"] = [r for steps in args.maskgit_steps for r in onnx_rows(genie, args, steps, export_dir)]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
