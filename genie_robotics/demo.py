"""The README's main job (for now): render MuJoCo robot-arm episodes into an RLDS dataset
(once; cached), train the tiny preset briefly on clips read back through the RLDS reader, save
a checkpoint, roll out each of the 8 latent actions from a held-out frame, and write a PNG grid
and a GIF of what the world model imagines."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from genie_robotics.checkpoint import save_checkpoint
from genie_robotics.config import preset
from genie_robotics.data.rlds_reader import ClipSpec, RLDSClipDataset
from genie_robotics.models.genie import Genie
from genie_robotics.models.world_model import WorldModel
from genie_robotics.trainer import train_stage
from genie_robotics.viz import grid, save_gif, save_png


@dataclass
class DemoOptions:
    out: Path = Path("outputs/demo")
    data_root: Path = Path("outputs/data")  # rendered episodes are cached here
    tokenizer_steps: int = 100
    dynamics_steps: int = 100
    clip_frames: int = 8
    batch: int = 4
    episodes: int = 64
    rollout_steps: int = 6
    maskgit_steps: int = 8
    # The paper samples at temperature 2 with a fully trained model; a model trained for a
    # couple of minutes samples far cleaner at 1.
    temperature: float = 1.0
    seed: int = 0
    progress: bool = True


def rendered_dataset(opts: DemoOptions, height: int, width: int) -> Path:
    """The demo's MuJoCo episodes: rendered on first use, reused afterwards."""
    from genie_robotics.data.mujoco_render import render_dataset

    data_dir = opts.data_root / f"manipulator-ball-{height}x{width}-e{opts.episodes}-s24-seed{opts.seed}"
    if (data_dir / "dataset_info.json").is_file():
        print(f"[demo] reusing rendered MuJoCo episodes at {data_dir}")
        return data_dir
    render_dataset(data_dir, opts.episodes, 24, height, width, opts.seed, "manipulator-ball", progress=opts.progress)
    print(f"[demo] rendered {opts.episodes} MuJoCo episodes of 24 frames to {data_dir} (RLDS)")
    return data_dir


def run_demo(opts: DemoOptions) -> dict:
    t0 = time.time()
    torch.manual_seed(opts.seed)
    cfg = preset("tiny")
    genie = Genie(cfg)
    print(f"[demo] tiny preset: {genie.parameter_counts()['total']:,} parameters, {cfg.height}x{cfg.width} frames")
    data_dir = rendered_dataset(opts, cfg.height, cfg.width)
    spec = ClipSpec(frames=opts.clip_frames, height=cfg.height, width=cfg.width, seed=opts.seed)
    clips = iter(DataLoader(RLDSClipDataset([data_dir], spec), batch_size=opts.batch))
    batches = lambda: next(clips)["frames"]  # noqa: E731
    held_out = next(iter(RLDSClipDataset([data_dir], replace(spec, part="validation", shuffle_buffer=0, repeat=False))))

    tok = train_stage(genie, "tokenizer", batches, opts.tokenizer_steps, seed=opts.seed, progress=opts.progress)
    dyn = train_stage(genie, "dynamics", batches, opts.dynamics_steps, seed=opts.seed, progress=opts.progress)
    ckpt = save_checkpoint(genie, opts.out / "checkpoint", {"made_by": "genie-robotics demo"})

    world = WorldModel(genie, maskgit_steps=opts.maskgit_steps, temperature=opts.temperature, seed=opts.seed)
    prompt = held_out["frames"][0].numpy()
    actions = np.repeat(np.arange(cfg.num_actions)[:, None], opts.rollout_steps, axis=1)
    frames_ATHWC = world.rollout(np.repeat(prompt[None], cfg.num_actions, axis=0), actions)
    grid_png = save_png(grid(frames_ATHWC), opts.out / "rollouts.png", scale=2)
    tiles_T = [grid(frames_ATHWC[:, t].reshape(2, 4, *frames_ATHWC.shape[2:])) for t in range(frames_ATHWC.shape[1])]
    gif = save_gif(np.stack(tiles_T), opts.out / "rollouts.gif", fps=cfg.fps // 2, scale=2)

    summary = {
        "parameters": genie.parameter_counts()["total"],
        "tokenizer_psnr_first": round(tok[0]["psnr"], 2),
        "tokenizer_psnr_last": round(tok[-1]["psnr"], 2),
        "dynamics_ce_first": round(dyn[0]["dynamics_ce"], 3),
        "dynamics_ce_last": round(dyn[-1]["dynamics_ce"], 3),
        "lam_code_usage": [round(float(u), 3) for u in genie.lam.quantizer.usage_fractions()],
        "rollout_frames": int(frames_ATHWC.shape[0] * (frames_ATHWC.shape[1] - 1)),
        "checkpoint": str(ckpt),
        "grid_png": str(grid_png),
        "gif": str(gif),
        "seconds": round(time.time() - t0, 1),
    }
    (opts.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"[demo] tokenizer PSNR {summary['tokenizer_psnr_first']} -> {summary['tokenizer_psnr_last']} dB; "
          f"dynamics CE {summary['dynamics_ce_first']} -> {summary['dynamics_ce_last']}")
    print(f"[demo] LAM code usage: {summary['lam_code_usage']}")
    print(f"[demo] rolled out {cfg.num_actions} latent actions x {opts.rollout_steps} steps from one held-out frame "
          f"({opts.maskgit_steps} MaskGIT steps, temperature {opts.temperature})")
    print(f"[demo] wrote {ckpt}, {grid_png} (rows = actions 0-7), {gif} and {opts.out / 'summary.json'} "
          f"in {summary['seconds']} s")
    return summary
