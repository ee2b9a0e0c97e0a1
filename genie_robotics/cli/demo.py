"""The README's main job: the shipped tiny checkpoint as a simulator in ROS 2.

Renders a few MuJoCo robot-arm episodes the model never saw (once; cached) as an RLDS dataset
and takes a prompt frame from them through the RLDS reader. Then, by default, the way a robot
stack would use it: exports the checkpoint to ONNX, starts the `genie_sim` node as its own
process (loopback-only discovery), and drives it from an rclpy client in this process through
every latent action, saving what was published as a PNG grid and a GIF and reporting the frames
received and the node's measured FPS. `--in-process` instead rolls out all 8 actions as one
PyTorch batch, without ROS. Either way it reports how different the 8 rows end up (mean pairwise
PSNR of their final frames): a model that ignores its latent action draws the same row 8 times.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genie_robotics.core import options as flags
from genie_robotics.core.assets import SHIPPED_CHECKPOINT
from genie_robotics.core.backends import BACKENDS
from genie_robotics.core.errors import GenieError
from genie_robotics.core.images import grid, save_gif, save_png
from genie_robotics.core.sampling import Sampling
from genie_robotics.models.video import to_unit
from genie_robotics.nn.metrics import pairwise_psnr
from genie_robotics.sim.prompts import load_prompt

log = logging.getLogger(__name__)  # the CLI shows INFO on stdout as "[demo] ..."


@dataclass
class DemoOptions:
    """`genie-robotics demo`'s options (each field is its flag; see arguments.option)."""

    checkpoint: Path = flags.path_option(SHIPPED_CHECKPOINT, help="checkpoint directory (default: the shipped tiny one)")
    out: Path = flags.path_option(Path("outputs/demo"), help="output directory")
    data_root: Path = flags.path_option(Path("outputs/data"), help="where rendered prompt episodes are cached")
    rollout_steps: int = flags.option(8, parse=flags.positive_int, help="frames generated per action")
    maskgit_steps: int | None = flags.maskgit_steps_option()
    temperature: float | None = flags.temperature_option()
    seed: int = flags.seed_option()
    progress: bool = flags.progress_option()
    in_process: bool = flags.option(False, help="roll out all actions as one PyTorch batch in this process, without ROS or ONNX")
    backend: str = flags.option("onnx", choices=[b for b in BACKENDS if b != "auto"],
                                help="what the node runs: the ONNX export on ONNX Runtime, or the checkpoint on PyTorch "
                                     "(torch-compiled: through torch.compile, which compiles first)")
    timeout: float = flags.option(180.0, parse=flags.positive_float, help="seconds to wait for the node to come up and for any one frame")


def write_rollouts(frames_ATHWC: np.ndarray, out: Path, fps: int) -> tuple[Path, Path]:
    """rollouts.png (rows = actions, columns = time) and rollouts.gif (a 2x4 grid over time)."""
    grid_png = save_png(grid(frames_ATHWC), out / "rollouts.png", scale=2)
    rows = 2 if frames_ATHWC.shape[0] % 2 == 0 else 1
    tiles_T = [grid(frames_ATHWC[:, t].reshape(rows, -1, *frames_ATHWC.shape[2:])) for t in range(frames_ATHWC.shape[1])]
    return grid_png, save_gif(np.stack(tiles_T), out / "rollouts.gif", fps=fps, scale=2)


def row_difference(frames_ATHWC: np.ndarray) -> tuple[float, int]:
    """(mean PSNR in dB over all pairs of rows' final frames, pairs that are identical).

    Lower means the actions lead to more different frames; identical rows give inf.
    """
    pair_P = pairwise_psnr(to_unit(torch.from_numpy(np.ascontiguousarray(frames_ATHWC[:, -1]))))
    return float(pair_P.mean()), int(torch.isinf(pair_P).sum())


def run_demo(opts: DemoOptions) -> dict:
    from genie_robotics.core.checkpoint_files import load_config

    t0 = time.time()
    cfg = load_config(opts.checkpoint)
    # Unset sampling settings are the checkpoint's; resolved here so the report names them.
    sampling = Sampling.resolve(cfg, opts.maskgit_steps, opts.temperature)
    opts.maskgit_steps, opts.temperature = sampling.steps, sampling.temperature
    prompt_source = load_prompt(None, opts.checkpoint, cfg.height, cfg.width, opts.data_root, opts.progress)
    prompt, data_dir = prompt_source.image, prompt_source.source
    opts.out.mkdir(parents=True, exist_ok=True)
    save_png(prompt, opts.out / "prompt.png", scale=4)
    summary = _inprocess_rollouts(opts, prompt) if opts.in_process else _ros_rollouts(opts, prompt, cfg.num_actions)
    frames_ATHWC = summary.pop("frames")
    row_psnr, identical = row_difference(frames_ATHWC)
    pairs = len(frames_ATHWC) * (len(frames_ATHWC) - 1) // 2
    log.info(f"action rows differ: mean pairwise PSNR between rows at step {frames_ATHWC.shape[1] - 1} = "
          f"{row_psnr:.2f} dB (identical rows = inf; lower = more different; {identical} of {pairs} pairs identical)")
    summary.update(row_pairwise_psnr_db=round(row_psnr, 2) if np.isfinite(row_psnr) else None,  # JSON has no inf
                   row_identical_pairs=identical)
    grid_png, gif = write_rollouts(frames_ATHWC, opts.out, max(cfg.fps // 2, 1))
    summary.update({
        "checkpoint": str(opts.checkpoint), "prompt_dataset": str(data_dir), "maskgit_steps": opts.maskgit_steps,
        "temperature": opts.temperature, "grid_png": str(grid_png), "gif": str(gif),
        "seconds": round(time.time() - t0, 1),
    })
    (opts.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info(f"wrote {grid_png} (rows = actions 0-{cfg.num_actions - 1}, columns = time), {gif}, "
          f"{opts.out / 'prompt.png'} and {opts.out / 'summary.json'} in {summary['seconds']} s")
    return summary


def _inprocess_rollouts(opts: DemoOptions, prompt: np.ndarray) -> dict:
    """All actions as one batch of PyTorch rollouts."""
    from genie_robotics.sim.world_model import WorldModel

    world = WorldModel.from_checkpoint(opts.checkpoint, maskgit_steps=opts.maskgit_steps,
                                       temperature=opts.temperature, seed=opts.seed)
    A = world.num_actions
    log.info(f"loaded {opts.checkpoint} ({world.cfg.name} preset, {world.genie.parameter_counts()['total']:,} "
          f"parameters); rolling out {A} latent actions x {opts.rollout_steps} steps in one batch")
    actions = np.repeat(np.arange(A)[:, None], opts.rollout_steps, axis=1)
    start = time.time()
    frames_ATHWC = world.rollout(np.repeat(prompt[None], A, axis=0), actions)
    fps = A * opts.rollout_steps / (time.time() - start)
    log.info(f"{A * opts.rollout_steps} frames at {fps:.2f} frames/s (batch of {A}, PyTorch, in process)")
    return {"mode": "in_process", "frames": frames_ATHWC, "rollout_frames": A * opts.rollout_steps,
            "rollout_frames_per_s": round(fps, 2)}


def _ros_rollouts(opts: DemoOptions, prompt: np.ndarray, num_actions: int) -> dict:
    """The node and its client live in `ros_nodes/demo.py`, above the library; loaded only here."""
    try:
        from ros_nodes.demo import ros_rollouts
    except ImportError as exc:
        raise GenieError(f"the ROS demo needs the 'ros' extra (pip install 'genie-robotics[ros]') or --in-process: {exc}") from None
    return ros_rollouts(opts, prompt, num_actions)
