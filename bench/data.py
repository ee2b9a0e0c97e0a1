"""Frames/second delivered to PyTorch by the RLDS reader, and peak RSS.

Renders a MuJoCo dataset at 256x320 (RT-1's camera size) into a temporary directory, then
times `RLDSClipDataset` batches through a DataLoader at 64x64 and 256x320 clip sizes. For
scale it also times what CPU training of the tiny preset consumes (frames/second per phase),
in the same run. Prints one JSON object.
Usage: python bench/data.py [--episodes 24] [--steps 40] [--clips 200]
"""
from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from genie_robotics.core.config import preset
from genie_robotics.data.mujoco_render import render_dataset
from genie_robotics.data.render_settings import RenderSettings
from genie_robotics.data.rlds_reader import ClipSpec, RLDSClipDataset
from genie_robotics.models.genie import STAGES, Genie
from genie_robotics.nn.optim import make_optimizer


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reader_fps(data: Path, size: tuple[int, int], clips: int, frames: int, batch: int) -> float:
    spec = ClipSpec(frames=frames, height=size[0], width=size[1], shuffle_buffer=64)
    loader = iter(DataLoader(RLDSClipDataset([data], spec), batch_size=batch))
    next(loader)  # pipeline start-up is not throughput
    start = time.perf_counter()
    n = 0
    while n < clips:
        n += next(loader)["frames"].shape[0]
    return n * frames / (time.perf_counter() - start)


def training_fps(data: Path, frames: int, batch: int, steps: int = 5) -> dict[str, float]:
    genie = Genie(preset("tiny"))
    spec = ClipSpec(frames=frames, height=64, width=64)
    loader = iter(DataLoader(RLDSClipDataset([data], spec), batch_size=batch))
    out = {}
    for stage in STAGES:
        opt = make_optimizer(genie.trainable_parameters(stage), 1e-4)
        clips = [next(loader)["frames"] for _ in range(steps + 1)]
        genie.stage_loss(stage, clips[0])["loss"].backward()  # warm-up
        start = time.perf_counter()
        for x in clips[1:]:
            opt.zero_grad()
            genie.stage_loss(stage, x)["loss"].backward()
            opt.step()
        out[stage] = round(steps * batch * frames / (time.perf_counter() - start), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=24)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "mj"
        start = time.perf_counter()
        render_dataset(data, RenderSettings(episodes=args.episodes, steps=args.steps, size="256x320", seed=0), progress=False)
        render_fps = args.episodes * args.steps / (time.perf_counter() - start)
        result = {
            "bench": "data",
            "threads": torch.get_num_threads(),
            "dataset": f"{args.episodes} MuJoCo episodes x {args.steps} steps at 256x320 (JPEG)",
            "render_and_write_frames_per_s": round(render_fps, 1),
            "reader_frames_per_s": {
                f"{h}x{w}": round(reader_fps(data, (h, w), args.clips, args.frames, args.batch), 1)
                for h, w in ((64, 64), (256, 320))
            },
            "tiny_training_consumes_frames_per_s": training_fps(data, args.frames, 4),
            "peak_rss_mb": round(peak_rss_mb(), 1),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
