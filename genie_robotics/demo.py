"""The README's main job (for now): train the tiny preset briefly on in-process robot frames,
save a checkpoint, roll out each of the 8 latent actions from one prompt frame, and write a
PNG grid and a GIF of what the world model imagines."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genie_robotics.checkpoint import save_checkpoint
from genie_robotics.config import preset
from genie_robotics.data.synthetic import render_episodes, sample_clips
from genie_robotics.models.genie import Genie
from genie_robotics.models.world_model import WorldModel
from genie_robotics.trainer import train_stage
from genie_robotics.viz import grid, save_gif, save_png


@dataclass
class DemoOptions:
    out: Path = Path("outputs/demo")
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


def run_demo(opts: DemoOptions) -> dict:
    t0 = time.time()
    torch.manual_seed(opts.seed)
    cfg = preset("tiny")
    genie = Genie(cfg)
    print(f"[demo] tiny preset: {genie.parameter_counts()['total']:,} parameters, {cfg.height}x{cfg.width} frames")
    episodes, _ = render_episodes(opts.episodes + 1, 24, cfg.height, seed=opts.seed)
    train_eps, held_out = episodes[:-1], episodes[-1]
    rng = np.random.default_rng(opts.seed)
    batches = lambda: sample_clips(train_eps, opts.clip_frames, opts.batch, rng)  # noqa: E731
    print(f"[demo] rendered {opts.episodes} training episodes of 24 frames in-process")

    tok = train_stage(genie, "tokenizer", batches, opts.tokenizer_steps, seed=opts.seed, progress=opts.progress)
    dyn = train_stage(genie, "dynamics", batches, opts.dynamics_steps, seed=opts.seed, progress=opts.progress)
    ckpt = save_checkpoint(genie, opts.out / "checkpoint", {"made_by": "genie-robotics demo"})

    world = WorldModel(genie, maskgit_steps=opts.maskgit_steps, temperature=opts.temperature, seed=opts.seed)
    prompt = held_out[0]
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
