"""gpu_check.sh's raw outputs -> bench/results/gpu_check.json (the issue's keys), one file a
table is generated from. Usage: python bench/gpu_results.py RAW_DIR [--out bench/results/gpu_check.json]
RAW_DIR holds gpu.txt, rollout_small_cuda.json and train_small_cuda.json from one device call.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

COMMAND = "bash bench/gpu_check.sh OUT (bench/rollout.py --preset small --device cuda --maskgit-steps 1 8 25 " \
          "--contexts 16 --compile; bench/train.py --preset small --device cuda --batch 8 --frames 16 --steps 10)"


def convert(raw: Path, date: str, torch_version: str, note: str = "") -> dict:
    rollout = json.loads((raw / "rollout_small_cuda.json").read_text())
    train = json.loads((raw / "train_small_cuda.json").read_text())
    eager, compiled, errors = {}, {}, {}
    for row in rollout["results"]:
        steps = str(row["maskgit_steps"])
        eager[steps] = row["cached_fps"]
        compiled[steps] = row.get("cached_compiled_fps")
        if "compiled_error" in row:
            errors[steps] = row["compiled_error"]
    phases = train["phases"]
    return {
        "gpu": rollout.get("gpu") or (raw / "gpu.txt").read_text().split(",")[0],
        "torch": torch_version, "date": date, "preset": "small", "batch": 1, "context": 16,
        "frames_per_s": {"eager": eager, "compiled": compiled}, "compiled_errors": errors,
        "mfu": {name: phase.get("mfu") for name, phase in phases.items()},
        "tokens_per_s": {name: phase["eager"]["tokens_per_s"] for name, phase in phases.items()},
        "train_batch": train["batch"], "train_frames": train["frames"], "train_precision": "bf16 autocast, eager",
        "command": COMMAND, "note": note,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("raw", type=Path)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "gpu_check.json")
    p.add_argument("--date", required=True)
    p.add_argument("--torch", required=True, help="the device's torch version")
    p.add_argument("--note", default="")
    args = p.parse_args()
    args.out.write_text(json.dumps(convert(args.raw, args.date, args.torch, args.note), indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
