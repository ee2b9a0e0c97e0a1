"""The README's main job: the shipped tiny checkpoint as a simulator.

Renders a few MuJoCo robot-arm episodes the model never saw (once; cached) as an RLDS
dataset, takes a prompt frame from them through the RLDS reader, rolls out each of the 8
latent actions from it, and writes a PNG grid and a GIF of what the world model imagines.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genie_robotics.data.rlds_reader import ClipSpec, RLDSClipDataset
from genie_robotics.models.world_model import WorldModel
from genie_robotics.viz import grid, save_gif, save_png

SHIPPED_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "tiny"
PROMPT_SEED = 1000  # the shipped model was trained on seed-0 episodes: prompts come from elsewhere


@dataclass
class DemoOptions:
    checkpoint: Path = SHIPPED_CHECKPOINT
    out: Path = Path("outputs/demo")
    data_root: Path = Path("outputs/data")  # rendered prompt episodes are cached here
    rollout_steps: int = 8
    maskgit_steps: int = 25
    # The paper samples at temperature 2 with a fully trained model; the CPU-trained tiny model
    # keeps the arm in view longer at 1.
    temperature: float = 1.0
    seed: int = 0
    progress: bool = True


def prompt_dataset(opts: DemoOptions, height: int, width: int) -> Path:
    """Held-out MuJoCo episodes to draw prompts from: rendered on first use, reused afterwards."""
    from genie_robotics.data.mujoco_render import render_dataset

    data_dir = opts.data_root / f"prompts-manipulator-ball-{height}x{width}-seed{PROMPT_SEED}"
    if (data_dir / "dataset_info.json").is_file():
        print(f"[demo] reusing rendered MuJoCo prompt episodes at {data_dir}")
        return data_dir
    render_dataset(data_dir, 4, 8, height, width, PROMPT_SEED, "manipulator-ball", progress=opts.progress)
    print(f"[demo] rendered 4 MuJoCo episodes to {data_dir} (RLDS) for prompt frames")
    return data_dir


def run_demo(opts: DemoOptions) -> dict:
    t0 = time.time()
    world = WorldModel.from_checkpoint(opts.checkpoint, maskgit_steps=opts.maskgit_steps,
                                       temperature=opts.temperature, seed=opts.seed)
    cfg = world.cfg
    print(f"[demo] loaded {opts.checkpoint} ({cfg.name} preset, {world.genie.parameter_counts()['total']:,} parameters, "
          f"{cfg.height}x{cfg.width} frames)")
    data_dir = prompt_dataset(opts, cfg.height, cfg.width)
    spec = ClipSpec(frames=1, height=cfg.height, width=cfg.width, shuffle_buffer=0, repeat=False, part="all")
    prompt = next(iter(RLDSClipDataset([data_dir], spec)))["frames"][0].numpy()

    actions = np.repeat(np.arange(cfg.num_actions)[:, None], opts.rollout_steps, axis=1)
    start = time.time()
    frames_ATHWC = world.rollout(np.repeat(prompt[None], cfg.num_actions, axis=0), actions)
    rollout_s = time.time() - start
    opts.out.mkdir(parents=True, exist_ok=True)
    grid_png = save_png(grid(frames_ATHWC), opts.out / "rollouts.png", scale=2)
    tiles_T = [grid(frames_ATHWC[:, t].reshape(2, 4, *frames_ATHWC.shape[2:])) for t in range(frames_ATHWC.shape[1])]
    gif = save_gif(np.stack(tiles_T), opts.out / "rollouts.gif", fps=cfg.fps // 2, scale=2)
    save_png(prompt, opts.out / "prompt.png", scale=4)

    generated = cfg.num_actions * opts.rollout_steps
    summary = {
        "checkpoint": str(opts.checkpoint),
        "parameters": world.genie.parameter_counts()["total"],
        "prompt_dataset": str(data_dir),
        "rollout_frames": generated,
        "rollout_frames_per_s": round(generated / rollout_s, 2),
        "maskgit_steps": opts.maskgit_steps,
        "temperature": opts.temperature,
        "grid_png": str(grid_png),
        "gif": str(gif),
        "seconds": round(time.time() - t0, 1),
    }
    (opts.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"[demo] rolled out {cfg.num_actions} latent actions x {opts.rollout_steps} steps from one held-out frame "
          f"({opts.maskgit_steps} MaskGIT steps, temperature {opts.temperature}, batch of {cfg.num_actions}): "
          f"{summary['rollout_frames_per_s']} frames/s")
    print(f"[demo] wrote {grid_png} (rows = actions 0-7, columns = time), {gif}, {opts.out / 'prompt.png'} and "
          f"{opts.out / 'summary.json'} in {summary['seconds']} s")
    return summary
