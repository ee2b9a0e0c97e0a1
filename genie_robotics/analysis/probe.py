"""A report on what the 8 latent actions of a trained Genie mean, written as JSON, plots and Markdown.

The LAM learns its codes without labels, so "action 3" means whatever training made it mean.
This probe answers three questions about a checkpoint and an RLDS dataset:

* **Usage**: the LAM infers the latent action of every transition t -> t+1 of the first
  `episodes` episodes (windows of at most the model's context, overlapping by one frame so each
  transition is seen exactly once). A collapsed codebook uses one or two codes.
* **Consistency**: from `start_frames` prompt frames (spread over episodes and times), the world
  model rolls out each action `rollout_steps` times (one batch of start_frames x 8 rollouts), and
  optical flow between consecutive generated frames scores how much each action moves the scene
  and how alike its direction is across start frames (`flow_metrics`).
* **Relation to true actions** (datasets with an `action` feature): NMI between codes and
  k-means clusters of the true actions and a held-out linear probe from the continuous latents
  (`true_actions`).

`probe` writes the report directory: plots (`probe_plots`), README.md (`probe_report`) and, last,
probe.json, which is `ProbeResult.to_json()`.

Limitations: the flow of a *generated* video reflects the action and the model's sampling noise
(texture flicker, tokens that change without motion, an arm that blurs away), and Farneback flow
on 64 px frames is coarse, so small motions sit near the noise floor; compare magnitudes with
each other and with the real data, not with an absolute scale. Consistency says nothing about
*which* real motion an action makes, and the camera can move too (flow is then global).
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from genie_robotics.analysis.flow_metrics import MOVING_THRESHOLD_PX, ActionMotion, measure_motion
from genie_robotics.analysis.latent_labels import label_dataset
from genie_robotics.analysis.probe_report import FILES, PROBE_JSON, write_readme
from genie_robotics.analysis.true_actions import TrueActionClusters, relate_to_true_actions, select_action_target
from genie_robotics.core import options as flags
from genie_robotics.core.errors import GenieError
from genie_robotics.core.results import Result


@dataclass
class ProbeOptions:
    """`genie-robotics probe`'s options (each field is its flag; see arguments.option)."""

    model: str | Path = flags.path_option(help="checkpoint directory", positional=True)
    data: str | Path = flags.path_option(help="RLDS dataset directory (true actions, if it has them, are compared)")
    out: str | Path = flags.path_option(help="report directory (probe.json, README.md, PNG plots, GIF grid)")
    episodes: int = flags.option(32, parse=flags.positive_int, help="episodes read (at most) for code usage and true actions")
    start_frames: int = flags.option(8, parse=flags.positive_int, help="start frames of the consistency rollouts (rows of the grid)")
    rollout_steps: int = flags.option(4, parse=flags.positive_int, help="generated frames per consistency rollout")
    maskgit_steps: int | None = flags.maskgit_steps_option()
    temperature: float | None = flags.temperature_option()
    clusters: int = flags.option(8, parse=flags.positive_int, help="k-means clusters of the true actions")
    seed: int = flags.seed_option()
    device: str = flags.device_option()
    overwrite: bool = flags.option(False, help="replace an existing report at --out")
    progress: bool = flags.progress_option()


@dataclass(frozen=True, kw_only=True)
class ProbeResult(Result):
    """What `probe` measured; `to_json()` is the report's probe.json. Per-action lists are over the K
    latent actions; a value that could not be measured (NaN) is None."""

    model: str
    data: str
    out: str
    settings: dict[str, Any]  # the options, sampling as resolved from the checkpoint
    num_actions: int
    episodes: int
    transitions: int
    action_dim: int
    action_keys: list[str]
    action_target: str | None  # "world_vector", "action" (every action field) or None without actions
    code_usage: list[float]
    codes_used: int
    start_frames_used: int
    start_frame_sources: list[dict[str, Any]]  # {"episode", "time"} of each start frame
    consistency: list[float]
    consistency_weighted: list[float]
    consistency_chance: float  # ~ the score of random directions, 1/sqrt(start frames)
    flow_magnitude: list[float]
    flow_mean: list[list[float]]
    moving_magnitude: list[float | None]
    moving_fraction: list[float]
    moving_threshold_px: float
    flow_per_rollout: list[list[dict[str, float | None]]]  # flow_metrics.flow_summary, [action][start frame]
    nmi: float | None
    nmi_heading: float | None
    linear_probe_accuracy: float | None
    linear_probe_chance: float | None
    linear_probe_r2: float | None
    true_actions: TrueActionClusters
    files: list[str]
    seconds: float


def _start_times(length: int, count: int) -> list[int]:
    """`count` frame times spread evenly through an episode (centres of equal slices)."""
    return sorted({min(length - 1, int((i + 0.5) * length / count)) for i in range(count)})


def read_transitions(genie, src, max_episodes: int, start_frames: int, progress: bool = True):
    """(Transitions, prompt frames uint8 [S, H, W, 3], their (episode id, time), episode ids).

    Labels whole episodes (see `latent_labels`); prompt frames are taken round-robin over the
    episodes at evenly spread times.
    """
    per_episode = math.ceil(start_frames / max(min(max_episodes, src.episodes), 1))
    candidates = []

    def keep_start_frames(name: str, frames_THWC: np.ndarray) -> None:
        candidates.append([(frames_THWC[t], name, t) for t in _start_times(len(frames_THWC), per_episode)])

    transitions, names = label_dataset(genie, src, max_episodes, genie.cfg.frames, progress, keep_start_frames)
    if transitions is None:
        raise GenieError(f"{src.path} has no episodes of at least 2 steps among the first {len(names)}; nothing to probe")
    # Round-robin: the k-th candidate of every episode before any (k+1)-th.
    ordered = [c for layer in itertools.zip_longest(*candidates) for c in layer if c is not None][:start_frames]
    prompts = np.stack([c[0] for c in ordered])
    return transitions, prompts, [{"episode": c[1], "time": int(c[2])} for c in ordered], names


@torch.no_grad()
def roll_out_actions(world, prompts_SHWC: np.ndarray, steps: int, progress: bool = True) -> np.ndarray:
    """Frames uint8 [S, K, steps+1, H, W, 3]: every prompt under every constant action, one batch."""
    S, K = len(prompts_SHWC), world.num_actions
    actions_B = np.tile(np.arange(K), S)  # rollout s*K + a: prompt s, action a
    frames = [world.reset(np.repeat(prompts_SHWC, K, axis=0))]
    for _ in tqdm(range(steps), desc="roll out actions", unit="step", disable=not progress):
        frames.append(world.step(actions_B))
    video = np.stack(frames, axis=1)
    return video.reshape(S, K, *video.shape[1:])


def _clean(value):
    """JSON-safe: NaN / inf become None, numpy scalars become Python numbers (also inside results)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: _clean(getattr(value, f.name)) for f in dataclasses.fields(value)})
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _check_options(opts: ProbeOptions) -> Path:
    """Cheap checks before any model or data is loaded; refuses to replace an earlier report."""
    for name in ("episodes", "start_frames", "rollout_steps", "maskgit_steps", "clusters"):
        if getattr(opts, name) is not None and getattr(opts, name) < 1:
            raise GenieError(f"{name} must be at least 1, got {getattr(opts, name)}")
    if opts.temperature is not None and opts.temperature < 0:
        raise GenieError(f"temperature must be >= 0, got {opts.temperature}")
    out = Path(opts.out)
    if out.exists() and not out.is_dir():
        raise GenieError(f"output {out} exists and is not a directory")
    if (out / PROBE_JSON).exists() and not opts.overwrite:
        raise GenieError(f"{out} already holds a probe report ({PROBE_JSON}); pass --overwrite to replace it")
    return out


def probe(opts: ProbeOptions) -> ProbeResult:
    """Probe the latent action space of a checkpoint on a dataset; writes the report to `opts.out`.

    Returns what is written to probe.json.
    """
    from genie_robotics.analysis.action_statistics import code_usage
    from genie_robotics.analysis.probe_plots import (
        labelled_grid,
        plot_code_usage,
        plot_consistency,
        plot_contingency,
        plot_flow_directions,
    )
    from genie_robotics.core.atomic_files import atomic_write_text
    from genie_robotics.core.images import save_gif, save_png
    from genie_robotics.data.rlds_reader import open_rlds
    from genie_robotics.sim.world_model import WorldModel

    t0 = time.time()
    out = _check_options(opts)
    world = WorldModel.from_checkpoint(opts.model, device=opts.device, maskgit_steps=opts.maskgit_steps,
                                       temperature=opts.temperature, seed=opts.seed)
    genie, K = world.genie, world.num_actions
    src = open_rlds(opts.data)

    transitions, prompts, prompt_sources, episode_names = read_transitions(
        genie, src, opts.episodes, opts.start_frames, opts.progress)
    usage = code_usage(transitions.codes_N, K)
    video = roll_out_actions(world, prompts, opts.rollout_steps, opts.progress)
    motion_table = measure_motion(video, opts.progress)
    motion = ActionMotion.of(motion_table)
    target, target_transitions, heading_N = select_action_target(src, transitions)
    true = relate_to_true_actions(target_transitions, opts.clusters, K, opts.seed, heading_N)

    out.mkdir(parents=True, exist_ok=True)
    S = len(prompts)
    tiles = video.transpose(2, 0, 1, 3, 4, 5)  # [T, S, K, H, W, 3]
    scale = 2 if max(video.shape[-3:-1]) < 64 else 1
    save_gif(np.stack([labelled_grid(f) for f in tiles]), out / FILES["rollouts_gif"], fps=2, scale=scale)
    save_png(labelled_grid(tiles[-1]), out / FILES["rollouts_last"], scale=scale)
    plot_code_usage(usage, out / FILES["code_usage"])
    chance = 1 / math.sqrt(S)
    plot_consistency(motion, chance, out / FILES["consistency"])
    plot_flow_directions(motion_table, motion.consistency, out / FILES["flow_directions"])
    files = [FILES[k] for k in ("code_usage", "consistency", "flow_directions", "rollouts_gif", "rollouts_last")]
    if true.clusters.contingency is not None:
        plot_contingency(np.array(true.clusters.contingency), out / FILES["codes_vs_actions"])
        files.append(FILES["codes_vs_actions"])

    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(opts).items()
                if k not in ("model", "data", "out", "progress")}
    settings.update(maskgit_steps=world.maskgit_steps, temperature=world.temperature)  # as resolved
    report = _clean(ProbeResult(
        model=str(opts.model),
        data=str(src.path),
        out=str(out),
        settings=settings,
        num_actions=K,
        episodes=len(episode_names),
        transitions=int(len(transitions.codes_N)),
        action_dim=src.action_dim,
        action_keys=["/".join(k) for k in src.action_keys],
        action_target=target,
        code_usage=usage,
        codes_used=int(sum(u > 0 for u in usage)),
        start_frames_used=S,
        start_frame_sources=prompt_sources,
        consistency=motion.consistency,
        consistency_weighted=motion.consistency_weighted,
        consistency_chance=chance,
        flow_magnitude=motion.flow_magnitude,
        flow_mean=motion.flow_mean,
        moving_magnitude=motion.moving_magnitude,
        moving_fraction=motion.moving_fraction,
        moving_threshold_px=MOVING_THRESHOLD_PX,
        flow_per_rollout=motion_table,
        nmi=true.nmi,
        nmi_heading=true.nmi_heading,
        linear_probe_accuracy=true.linear_probe_accuracy,
        linear_probe_chance=true.linear_probe_chance,
        linear_probe_r2=true.linear_probe_r2,
        true_actions=true.clusters,
        files=files + [FILES["readme"]],
        seconds=round(time.time() - t0, 1),
    ))
    write_readme(report, out / FILES["readme"])
    atomic_write_text(out / PROBE_JSON, report.to_json())  # last: marks a finished report
    return report
