"""A report on what the 8 latent actions of a trained Genie mean, written as JSON, plots and Markdown.

The LAM learns its codes without labels, so "action 3" means whatever training made it mean.
This probe answers three questions about a checkpoint and an RLDS dataset:

* **Usage**: the LAM infers the latent action of every transition t -> t+1 of the first
  `episodes` episodes (windows of at most the model's context, overlapping by one frame so each
  transition is seen exactly once). A collapsed codebook uses one or two codes.
* **Consistency**: from `start_frames` prompt frames (spread over episodes and times), the world
  model rolls out each action `rollout_steps` times (one batch of start_frames x 8 rollouts). Dense
  optical flow (Farneback, on grey frames upscaled to >= 128 px, reported in the model's pixels)
  between consecutive generated frames measures the motion each rollout shows: its mean flow
  vector (dx, dy; +x right, +y down), mean flow magnitude, and the same over the *moving region*
  (pixels moving more than `MOVING_THRESHOLD_PX` px/frame, a proxy for the robot). An action is
  consistent when it moves the scene the same way whatever the start frame: its score is the
  mean resultant length of the unit mean-flow directions across start frames, |mean_s v_s/|v_s||
  in [0, 1] (1: all start frames move the same way; about 1/sqrt(S) for S random directions;
  0 for opposite directions). Start frames whose mean flow is exactly zero have no direction
  and are left out; an action with no motion at all scores 0. `consistency_weighted` is the
  magnitude-weighted variant |sum_s v_s| / sum_s |v_s|, where near-still rollouts count little.
* **Relation to true actions** (datasets with an `action` feature): each transition's latent is
  paired with the true action applied after its earlier frame (RLDS: action t leads from frame t
  to t+1). The target is the end-effector displacement `action/world_vector` (RT-1's layout)
  when the dataset has it, since that is the motion a camera sees; otherwise every numeric
  action field, flattened. Target vectors are clustered by k-means; NMI between codes and
  clusters says how much the codes know about the actions, and a linear probe from the
  continuous (pre-quantisation) latents to the clusters / target vectors, trained and tested on
  different episodes, says how much the latent space knows before quantisation. A discrete
  `action/heading` label, where present, is compared with the codes by NMI as well.

Limitations: the flow of a *generated* video reflects the action and the model's sampling noise
(texture flicker, tokens that change without motion, an arm that blurs away), and Farneback flow
on 64 px frames is coarse, so small motions sit near the noise floor; compare magnitudes with
each other and with the real data, not with an absolute scale. Consistency says nothing about
*which* real motion an action makes, and the camera can move too (flow is then global). NMI has
a small positive bias with few transitions per cell; clusters of true actions are one arbitrary
discretisation. With few episodes the held-out linear probe is noisy.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from genie_robotics.analysis.latent_labels import Transitions, label_dataset
from genie_robotics.core import options as flags
from genie_robotics.core.errors import GenieError

TARGET_KEY = "world_vector"  # RT-1's end-effector displacement: the true-action target when present
HEADING_KEY = "heading"  # a discrete direction label: NMI against the codes when present
MOVING_THRESHOLD_PX = 0.5  # flow magnitude (model pixels per frame) above which a pixel counts as moving
FLOW_MIN_SIDE = 128  # frames are upscaled until their short side is at least this before Farneback
PROBE_JSON = "probe.json"
FILES = {
    "code_usage": "code_usage.png",
    "consistency": "consistency.png",
    "flow_directions": "flow_directions.png",
    "codes_vs_actions": "codes_vs_actions.png",
    "rollouts_gif": "rollouts.gif",
    "rollouts_last": "rollouts_last.png",
    "readme": "README.md",
}


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


# --- motion of generated frames ----------------------------------------------------------------
def optical_flow(frame_a: np.ndarray, frame_b: np.ndarray, min_side: int = FLOW_MIN_SIDE) -> np.ndarray:
    """Dense Farneback flow float32 [H', W', 2] (dx, dy) from uint8 RGB `frame_a` to `frame_b`.

    Small frames are upscaled by an integer factor until their short side is >= `min_side` (the
    default window of Farneback needs room); the flow is divided by that factor, so it is in
    pixels of the given frames, on the upscaled grid. Like any optical flow it only sees motion
    where there is texture: a flat region moving over a flat background reads as (nearly) still.
    """
    import cv2

    grey = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in (frame_a, frame_b)]
    scale = max(1, math.ceil(min_side / min(grey[0].shape)))
    if scale > 1:
        size = (grey[0].shape[1] * scale, grey[0].shape[0] * scale)
        grey = [cv2.resize(g, size, interpolation=cv2.INTER_CUBIC) for g in grey]
    # 5 pyramid levels reach motions of several (upscaled) window sizes; poly_n 7 / sigma 1.5 is
    # OpenCV's smoother setting, which keeps blocky generated frames from giving spiky flow.
    flow = cv2.calcOpticalFlowFarneback(grey[0], grey[1], None, pyr_scale=0.5, levels=5, winsize=21,
                                        iterations=5, poly_n=7, poly_sigma=1.5, flags=0)
    return flow / scale


def flow_summary(flows_PHW2: np.ndarray, threshold: float = MOVING_THRESHOLD_PX) -> dict[str, float]:
    """Motion statistics of the flow fields of one rollout (all pairs pooled).

    dx, dy, magnitude: means over every pixel; moving_*: the same over pixels whose magnitude
    exceeds `threshold` (NaN when there are none); moving_fraction: the share of such pixels.
    """
    flows = np.asarray(flows_PHW2, dtype=np.float64).reshape(-1, 2)
    magnitude = np.linalg.norm(flows, axis=1)
    moving = magnitude > threshold
    stats = {"dx": flows[:, 0].mean(), "dy": flows[:, 1].mean(), "magnitude": magnitude.mean(),
             "moving_fraction": moving.mean()}
    if moving.any():
        stats.update(moving_dx=flows[moving, 0].mean(), moving_dy=flows[moving, 1].mean(),
                     moving_magnitude=magnitude[moving].mean())
    else:
        stats.update(moving_dx=math.nan, moving_dy=math.nan, moving_magnitude=math.nan)
    return {k: float(v) for k, v in stats.items()}


def consistency_score(vectors_S2, weighted: bool = False) -> float:
    """Agreement in direction of motion vectors [S, 2] across start frames, in [0, 1].

    Unweighted: the mean resultant length |mean_s v_s / |v_s||, over vectors that are not zero
    (1: one direction; ~1/sqrt(S) for random directions; 0 for cancelling ones; 0 when every
    vector is zero). Weighted: |sum_s v_s| / sum_s |v_s|, so small (noisy) motions count little.
    """
    v = np.asarray(vectors_S2, dtype=np.float64).reshape(-1, 2)
    lengths = np.linalg.norm(v, axis=1)
    nonzero = lengths > 1e-12
    if not nonzero.any():
        return 0.0
    if weighted:
        score = np.linalg.norm(v.sum(0)) / lengths.sum()
    else:
        score = np.linalg.norm((v[nonzero] / lengths[nonzero, None]).mean(0))
    return float(np.clip(score, 0.0, 1.0))


def _direction_name(dx: float, dy: float) -> str:
    """'right', 'up-left', ... of an image-space vector (+y is down)."""
    if math.hypot(dx, dy) < 1e-9:
        return "none"
    names = ("right", "down-right", "down", "down-left", "left", "up-left", "up", "up-right")
    return names[round(math.degrees(math.atan2(dy, dx)) / 45) % 8]


# --- reading episodes and inferring latent actions ---------------------------------------------
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


# --- consistency -------------------------------------------------------------------------------
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


def measure_motion(video_SKTHWC: np.ndarray, progress: bool = True) -> list[list[dict[str, float]]]:
    """`flow_summary` of every rollout, indexed [action][start frame]."""
    S, K, T = video_SKTHWC.shape[:3]
    table = [[{} for _ in range(S)] for _ in range(K)]
    for s, a in tqdm(list(itertools.product(range(S), range(K))), desc="optical flow", unit="rollout",
                     disable=not progress):
        video = video_SKTHWC[s, a]
        table[a][s] = flow_summary(np.stack([optical_flow(video[t], video[t + 1]) for t in range(T - 1)]))
    return table


def _action_motion(motion: list[list[dict[str, float]]]) -> dict[str, list]:
    """Per-action aggregates over start frames of `measure_motion`'s table."""
    out = {k: [] for k in ("consistency", "consistency_weighted", "flow_magnitude", "flow_mean",
                           "moving_magnitude", "moving_fraction")}
    for rollouts in motion:
        vectors = np.array([[r["dx"], r["dy"]] for r in rollouts])
        out["consistency"].append(consistency_score(vectors))
        out["consistency_weighted"].append(consistency_score(vectors, weighted=True))
        out["flow_magnitude"].append(float(np.mean([r["magnitude"] for r in rollouts])))
        out["flow_mean"].append(vectors.mean(0).tolist())
        moving = [r["moving_magnitude"] for r in rollouts if not math.isnan(r["moving_magnitude"])]
        out["moving_magnitude"].append(float(np.mean(moving)) if moving else math.nan)
        out["moving_fraction"].append(float(np.mean([r["moving_fraction"] for r in rollouts])))
    return out


# --- relation to true actions ------------------------------------------------------------------
def select_action_target(src, t: Transitions) -> tuple[str | None, Transitions, np.ndarray | None]:
    """(target name, transitions whose actions are the target's columns, heading int64 [N] or None).

    The target is `action/world_vector` when `src` (an RLDSSource) has it, else all action columns
    ("action"); None without actions.
    """
    if t.actions_NA is None:
        return None, t, None
    heading = src.action_columns(HEADING_KEY)
    heading_N = None if heading is None else np.rint(t.actions_NA[:, heading.start]).astype(np.int64)
    columns = src.action_columns(TARGET_KEY)
    if columns is None:
        return "action", t, heading_N
    return TARGET_KEY, dataclasses.replace(t, actions_NA=t.actions_NA[:, columns]), heading_N


def relate_to_true_actions(t: Transitions, clusters: int, num_codes: int, seed: int = 0,
                           heading_N: np.ndarray | None = None) -> dict:
    """NMI of codes vs k-means clusters of true actions (and vs `heading_N`), held-out linear
    probes, contingency table.

    Without true actions every score is None and `reason` says why.
    """
    from genie_robotics.analysis.action_statistics import kmeans, linear_probe, normalized_mutual_information, per_code_means

    out = {"nmi": None, "nmi_heading": None, "linear_probe_accuracy": None, "linear_probe_chance": None,
           "linear_probe_r2": None, "clusters_found": None, "contingency": None, "mean_true_action_per_code": None,
           "reason": None}
    if heading_N is not None:
        out["nmi_heading"] = normalized_mutual_information(t.codes_N, heading_N)
    if t.actions_NA is None:
        out["reason"] = "the dataset has no 'action' feature, so latent actions cannot be compared with true ones"
        return out
    labels_N = kmeans(t.actions_NA, clusters, seed=seed)
    found = int(labels_N.max()) + 1
    contingency = np.zeros((num_codes, found), dtype=np.int64)
    np.add.at(contingency, (t.codes_N, labels_N), 1)
    means, counts = per_code_means(t.codes_N, t.actions_NA, num_codes)
    out.update(nmi=normalized_mutual_information(t.codes_N, labels_N), clusters_found=found,
               contingency=contingency.tolist(),
               mean_true_action_per_code=[m.tolist() if n else None for m, n in zip(means, counts)])
    if len(np.unique(t.episodes_N)) < 2:
        out["reason"] = "the linear probe holds out whole episodes and needs at least 2 episodes"
        return out
    result = linear_probe(t.latents_ND, labels_N, t.actions_NA, groups_N=t.episodes_N, seed=seed)
    out.update(linear_probe_accuracy=result.accuracy, linear_probe_chance=result.chance, linear_probe_r2=result.r2)
    return out


# --- plots -------------------------------------------------------------------------------------
def _figure(width: float, height: float, rows: int = 1, cols: int = 1):
    from matplotlib.figure import Figure  # no pyplot: no global backend state, renders with Agg

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False)


def plot_code_usage(usage_K: list[float], path: Path) -> None:
    fig, ax = _figure(6, 3.2)
    ax = ax[0, 0]
    K = len(usage_K)
    ax.bar(range(K), usage_K, color="tab:blue")
    ax.axhline(1 / K, color="grey", linestyle="--", label=f"uniform (1/{K})")
    ax.set(xlabel="latent action", ylabel="fraction of transitions", title="LAM code usage", xticks=range(K))
    ax.legend()
    fig.savefig(path, dpi=110)


def plot_consistency(motion: dict[str, list], chance: float, path: Path) -> None:
    fig, axes = _figure(10, 3.9, 1, 2)
    K = len(motion["consistency"])
    x = np.arange(K)
    left, right = axes[0]
    left.bar(x - 0.2, motion["consistency"], 0.4, label="directions (unweighted)")
    left.bar(x + 0.2, motion["consistency_weighted"], 0.4, label="magnitude-weighted")
    left.axhline(chance, color="grey", linestyle="--", label=f"random directions (~{chance:.2f})")
    left.set(xlabel="latent action", ylabel="consistency", ylim=(0, 1.05), xticks=x,
             title="Same motion from every start frame?")
    left.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    right.bar(x - 0.2, motion["flow_magnitude"], 0.4, label="whole frame")
    moving = np.nan_to_num(np.array(motion["moving_magnitude"], dtype=float))  # no moving pixels: 0
    right.bar(x + 0.2, moving, 0.4, label=f"moving region (> {MOVING_THRESHOLD_PX} px)")
    right.set(xlabel="latent action", ylabel="mean flow magnitude (px / frame)", xticks=x, title="How much motion")
    right.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    fig.savefig(path, dpi=110)


def plot_flow_directions(motion_table: list[list[dict[str, float]]], consistency: list[float], path: Path) -> None:
    """A compass per action: one arrow per start frame (mean dx, dy), the mean over them in black."""
    K = len(motion_table)
    cols = min(4, K)
    fig, axes = _figure(2.6 * cols, 2.7 * math.ceil(K / cols), math.ceil(K / cols), cols)
    vectors = np.array([[[r["dx"], r["dy"]] for r in rollouts] for rollouts in motion_table])  # [K, S, 2]
    reach = max(float(np.abs(vectors).max()), 1e-3) * 1.15
    for a, ax in enumerate(axes.ravel()):
        if a >= K:
            ax.set_axis_off()
            continue
        arrows = np.concatenate([vectors[a], vectors[a].mean(0, keepdims=True)])  # start frames, then the mean
        colours = ["tab:orange"] * len(vectors[a]) + ["black"]
        ax.quiver(np.zeros(len(arrows)), np.zeros(len(arrows)), arrows[:, 0], arrows[:, 1], color=colours,
                  angles="xy", scale_units="xy", scale=1, width=0.012)
        ax.set(xlim=(-reach, reach), ylim=(reach, -reach), aspect="equal", title=f"action {a}: R={consistency[a]:.2f}")
        ax.axhline(0, color="lightgrey", lw=0.5)
        ax.axvline(0, color="lightgrey", lw=0.5)
        ax.tick_params(labelsize=7)
    fig.suptitle("Mean optical flow per start frame (px/frame; image axes, +y down)")
    fig.savefig(path, dpi=110)


def plot_contingency(contingency_KC: np.ndarray, path: Path) -> None:
    """Codes (rows) vs true-action clusters (columns): P(cluster | code), with counts."""
    counts = np.asarray(contingency_KC)
    share = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig, ax = _figure(1.2 + 0.6 * counts.shape[1], 4.2)
    ax = ax[0, 0]
    image = ax.imshow(share, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for (i, j), n in np.ndenumerate(counts):
        ax.text(j, i, str(n), ha="center", va="center", fontsize=7, color="white" if share[i, j] < 0.6 else "black")
    ax.set(xlabel="true-action cluster (k-means)", ylabel="latent action", xticks=range(counts.shape[1]),
           yticks=range(counts.shape[0]), title="Codes vs true actions")
    fig.colorbar(image, ax=ax, label="P(cluster | code)")
    fig.savefig(path, dpi=110)


def _labelled_grid(frames_RCHWC: np.ndarray) -> np.ndarray:
    """`viz.grid` of the frames with a header strip naming the columns' actions."""
    import cv2

    from genie_robotics.core.images import grid

    body = grid(frames_RCHWC)
    W = frames_RCHWC.shape[3]
    header = np.full((14, body.shape[1], 3), 255, dtype=np.uint8)
    for a in range(frames_RCHWC.shape[1]):
        cv2.putText(header, f"a{a}", (2 + a * (W + 2) + W // 2 - 8, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return np.concatenate([header, body])


# --- report ------------------------------------------------------------------------------------
def _clean(value):
    """JSON-safe: NaN / inf become None, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.{digits}f}"


def write_readme(report: dict, path: Path) -> None:
    """The Markdown page tying the plots and numbers of `report` (probe.json's content) together."""
    from genie_robotics.core.atomic_files import atomic_write_text

    K, S = len(report["code_usage"]), report["start_frames_used"]
    true = report["true_actions"]
    lines = [
        "# Latent action probe", "",
        f"Model `{report['model']}`, data `{report['data']}`: {report['transitions']} transitions of "
        f"{report['episodes']} episodes; {S} start frames x {K} actions x {report['settings']['rollout_steps']} "
        f"generated frames (MaskGIT {report['settings']['maskgit_steps']} steps, temperature "
        f"{report['settings']['temperature']}, seed {report['settings']['seed']}).", "",
        "## How to read this", "",
        "Each latent action is a column of the rollout grid: the world model applied that action from every start "
        "frame (rows). A *useful* action moves the robot the same way whatever the start frame, so its consistency "
        f"(agreement of the mean optical-flow direction across the {S} start frames, 1 = identical directions, about "
        f"{report['consistency_chance']:.2f} for random ones, 0 = opposite) is high and its flow magnitude is clearly "
        "above that of the other actions; an action with near-zero magnitude is a 'no-op' and its direction (and "
        "consistency) is noise. Code usage shows whether the LAM uses all codes on real video (a collapsed codebook "
        "uses one or two). When the dataset has true robot actions, NMI (0 = codes say nothing about the true-action "
        "clusters, 1 = a relabelling) and the held-out linear probe (accuracy vs. chance, R^2 > 0 means better than "
        "the mean) say whether latent actions carry what the robot was told to do. Flow of a generated video mixes "
        "the action's effect with the model's sampling noise, so compare actions with each other.", "",
        "## Code usage", "", f"![code usage]({FILES['code_usage']})", "",
        "## Consistency", "",
        f"![rollouts]({FILES['rollouts_gif']})", "",
        f"Last generated frame of every rollout: ![last frames]({FILES['rollouts_last']})", "",
        f"![consistency]({FILES['consistency']})", "", f"![flow directions]({FILES['flow_directions']})", "",
    ]
    header = ("| action | usage | consistency | weighted | flow magnitude | moving-region magnitude | moving share "
              "| mean (dx, dy) | direction |")
    if true["contingency"] is not None:
        header += " top true-action cluster |"
    lines += [header, "|" + "---|" * (header.count("|") - 1)]
    for a in range(K):
        dx, dy = report["flow_mean"][a]
        row = (f"| {a} | {report['code_usage'][a]:.3f} | {_fmt(report['consistency'][a], 2)} | "
               f"{_fmt(report['consistency_weighted'][a], 2)} | {_fmt(report['flow_magnitude'][a])} | "
               f"{_fmt(report['moving_magnitude'][a])} | {_fmt(report['moving_fraction'][a], 2)} | "
               f"({dx:+.3f}, {dy:+.3f}) | {_direction_name(dx, dy)} |")
        if true["contingency"] is not None:
            counts = np.asarray(true["contingency"][a])
            row += f" {int(counts.argmax())} ({counts.max()}/{counts.sum()}) |" if counts.sum() else " - |"
        lines.append(row)
    lines += ["", "Magnitudes are in model pixels per frame (mean over pixels and generated frames); the moving region "
              f"is the pixels moving more than {MOVING_THRESHOLD_PX} px/frame.", "", "## Relation to true actions", ""]
    if report["nmi"] is None:
        lines.append(f"Not measured: {true['reason']}.")
    else:
        target = (f"`action/{TARGET_KEY}` (end-effector displacement)" if report["action_target"] == TARGET_KEY
                  else "all action fields, flattened")
        lines += [
            f"Target: {target}, clustered by k-means into {true['clusters_found']} clusters "
            f"(asked for {report['settings']['clusters']}).", "",
            "| measure | value |", "|---|---|",
            f"| NMI(codes, clusters) | {_fmt(report['nmi'])} |",
            f"| linear probe accuracy (held-out episodes) | {_fmt(report['linear_probe_accuracy'])} |",
            f"| linear probe chance (majority cluster) | {_fmt(report['linear_probe_chance'])} |",
            f"| linear probe R^2 (target vectors) | {_fmt(report['linear_probe_r2'])} |",
            *([f"| NMI(codes, `action/{HEADING_KEY}`) | {_fmt(report['nmi_heading'])} |"]
              if report["nmi_heading"] is not None else []), "",
            f"![codes vs true actions]({FILES['codes_vs_actions']})",
        ]
        if true["reason"]:
            lines += ["", f"Linear probe not run: {true['reason']}."]
    lines += ["", "## Start frames", ""]
    lines += [f"- row {i}: episode `{p['episode']}`, frame {p['time']}"
              for i, p in enumerate(report["start_frame_sources"])]
    atomic_write_text(path, "\n".join(lines) + "\n")


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


def probe(opts: ProbeOptions) -> dict:
    """Probe the latent action space of a checkpoint on a dataset; writes the report to `opts.out`.

    Returns what is written to probe.json.
    """
    from genie_robotics.analysis.action_statistics import code_usage
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
    motion = _action_motion(motion_table)
    target, target_transitions, heading_N = select_action_target(src, transitions)
    true = relate_to_true_actions(target_transitions, opts.clusters, K, opts.seed, heading_N)

    out.mkdir(parents=True, exist_ok=True)
    S = len(prompts)
    tiles = video.transpose(2, 0, 1, 3, 4, 5)  # [T, S, K, H, W, 3]
    scale = 2 if max(video.shape[-3:-1]) < 64 else 1
    save_gif(np.stack([_labelled_grid(f) for f in tiles]), out / FILES["rollouts_gif"], fps=2, scale=scale)
    save_png(_labelled_grid(tiles[-1]), out / FILES["rollouts_last"], scale=scale)
    plot_code_usage(usage, out / FILES["code_usage"])
    chance = 1 / math.sqrt(S)
    plot_consistency(motion, chance, out / FILES["consistency"])
    plot_flow_directions(motion_table, motion["consistency"], out / FILES["flow_directions"])
    files = [FILES[k] for k in ("code_usage", "consistency", "flow_directions", "rollouts_gif", "rollouts_last")]
    if true["contingency"] is not None:
        plot_contingency(np.array(true["contingency"]), out / FILES["codes_vs_actions"])
        files.append(FILES["codes_vs_actions"])

    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(opts).items()
                if k not in ("model", "data", "out", "progress")}
    settings.update(maskgit_steps=world.maskgit_steps, temperature=world.temperature)  # as resolved
    report = _clean({
        "model": str(opts.model),
        "data": str(src.path),
        "out": str(out),
        "settings": settings,
        "num_actions": K,
        "episodes": len(episode_names),
        "transitions": int(len(transitions.codes_N)),
        "action_dim": src.action_dim,
        "action_keys": ["/".join(k) for k in src.action_keys],
        "action_target": target,
        "code_usage": usage,
        "codes_used": int(sum(u > 0 for u in usage)),
        "start_frames_used": S,
        "start_frame_sources": prompt_sources,
        "consistency": motion["consistency"],
        "consistency_weighted": motion["consistency_weighted"],
        "consistency_chance": chance,
        "flow_magnitude": motion["flow_magnitude"],
        "flow_mean": motion["flow_mean"],
        "moving_magnitude": motion["moving_magnitude"],
        "moving_fraction": motion["moving_fraction"],
        "moving_threshold_px": MOVING_THRESHOLD_PX,
        "flow_per_rollout": motion_table,
        "nmi": true["nmi"],
        "nmi_heading": true["nmi_heading"],
        "linear_probe_accuracy": true["linear_probe_accuracy"],
        "linear_probe_chance": true["linear_probe_chance"],
        "linear_probe_r2": true["linear_probe_r2"],
        "true_actions": {k: true[k] for k in ("clusters_found", "contingency", "mean_true_action_per_code", "reason")},
        "files": files + [FILES["readme"]],
        "seconds": round(time.time() - t0, 1),
    })
    write_readme(report, out / FILES["readme"])
    atomic_write_text(out / PROBE_JSON, json.dumps(report, indent=2) + "\n")  # last: marks a finished report
    return report
