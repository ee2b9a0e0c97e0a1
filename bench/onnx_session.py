"""ONNX Runtime session settings, one change at a time, on the same export: frames/second of
the world model's step at a full context, beside eager PyTorch on the same weights in the same
run. Prints one JSON object. Usage: python bench/onnx_session.py [--maskgit-steps 25] [--frames 6]
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
from rollout_profile import profile_steps  # bench/, this script's folder

from genie_robotics.allocator import keep_freed_memory
from genie_robotics.assets import SHIPPED_CHECKPOINT
from genie_robotics.checkpoint import load_checkpoint
from genie_robotics.export.onnx_backend import OnnxBackend
from genie_robotics.export.onnx_export import export_onnx
from genie_robotics.models.rollout_backend import TorchBackend

# Each indented row changes one setting of the product's settings (the second row).
STEPS = [
    ("ort defaults (threads: ORT's choice, spinning on, all optimisations)", None),
    ("threads = cores, spinning during runs only", {"optimization": "all", "threads": 0, "spinning": True}),
    ("  no spinning", {"optimization": "all", "threads": 0, "spinning": False}),
    ("  optimisation extended instead of all", {"optimization": "extended", "threads": 0, "spinning": True}),
    ("  optimisation basic instead of all", {"optimization": "basic", "threads": 0, "spinning": True}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(SHIPPED_CHECKPOINT))
    parser.add_argument("--maskgit-steps", type=int, default=25)
    parser.add_argument("--frames", type=int, default=6)
    args = parser.parse_args()
    keep_freed_memory()  # as the node and the CLI run rollouts (bench/allocator.py)
    rows = []
    torch_row = profile_steps(TorchBackend(load_checkpoint(args.checkpoint)), args.maskgit_steps, args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        export_dir = export_onnx(args.checkpoint, tmp)
        for label, settings in STEPS:
            backend = OnnxBackend(export_dir, ["CPUExecutionProvider"], settings) if settings else _ort_defaults(export_dir)
            row = profile_steps(backend, args.maskgit_steps, args.frames)
            rows.append({"settings": label, "frames_per_s": row["frames_per_s"],
                         "vs_torch": round(row["frames_per_s"] / torch_row["frames_per_s"], 2),
                         "maskgit_iteration_ms_each": row["maskgit_iteration_ms_each"],
                         "sampling_and_host_ms": row["sampling_and_host_ms"]})
    print(json.dumps({"bench": "onnx_session", "maskgit_steps": args.maskgit_steps, "threads": torch.get_num_threads(),
                      "torch": torch_row, "onnx": rows}, indent=2))


def _ort_defaults(export_dir):
    """An OnnxBackend whose sessions use ONNX Runtime's own default SessionOptions."""
    import onnxruntime as ort

    backend = OnnxBackend(export_dir, ["CPUExecutionProvider"])
    backend.sessions = {name: ort.InferenceSession(str(Path(export_dir) / info["file"]), providers=["CPUExecutionProvider"])
                        for name, info in backend.meta["graphs"].items()}
    return backend


if __name__ == "__main__":
    main()
