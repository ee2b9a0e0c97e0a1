"""The probe's pictures: code usage, consistency, flow directions, codes vs true actions, the rollout grid.

Matplotlib through `Figure` (no pyplot: no global backend state, renders with Agg).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from genie_robotics.analysis.flow_metrics import MOVING_THRESHOLD_PX, ActionMotion


def new_figure(width: float, height: float, rows: int = 1, cols: int = 1):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False)


def plot_code_usage(usage_K: list[float], path: Path) -> None:
    fig, ax = new_figure(6, 3.2)
    ax = ax[0, 0]
    K = len(usage_K)
    ax.bar(range(K), usage_K, color="tab:blue")
    ax.axhline(1 / K, color="grey", linestyle="--", label=f"uniform (1/{K})")
    ax.set(xlabel="latent action", ylabel="fraction of transitions", title="LAM code usage", xticks=range(K))
    ax.legend()
    fig.savefig(path, dpi=110)


def plot_consistency(motion: ActionMotion, chance: float, path: Path) -> None:
    fig, axes = new_figure(10, 3.9, 1, 2)
    K = len(motion.consistency)
    x = np.arange(K)
    left, right = axes[0]
    left.bar(x - 0.2, motion.consistency, 0.4, label="directions (unweighted)")
    left.bar(x + 0.2, motion.consistency_weighted, 0.4, label="magnitude-weighted")
    left.axhline(chance, color="grey", linestyle="--", label=f"random directions (~{chance:.2f})")
    left.set(xlabel="latent action", ylabel="consistency", ylim=(0, 1.05), xticks=x,
             title="Same motion from every start frame?")
    left.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    right.bar(x - 0.2, motion.flow_magnitude, 0.4, label="whole frame")
    moving = np.nan_to_num(np.array(motion.moving_magnitude, dtype=float))  # no moving pixels: 0
    right.bar(x + 0.2, moving, 0.4, label=f"moving region (> {MOVING_THRESHOLD_PX} px)")
    right.set(xlabel="latent action", ylabel="mean flow magnitude (px / frame)", xticks=x, title="How much motion")
    right.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    fig.savefig(path, dpi=110)


def plot_flow_directions(motion_table: list[list[dict[str, float]]], consistency: list[float], path: Path) -> None:
    """A compass per action: one arrow per start frame (mean dx, dy), the mean over them in black."""
    K = len(motion_table)
    cols = min(4, K)
    fig, axes = new_figure(2.6 * cols, 2.7 * math.ceil(K / cols), math.ceil(K / cols), cols)
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
    fig, ax = new_figure(1.2 + 0.6 * counts.shape[1], 4.2)
    ax = ax[0, 0]
    image = ax.imshow(share, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for (i, j), n in np.ndenumerate(counts):
        ax.text(j, i, str(n), ha="center", va="center", fontsize=7, color="white" if share[i, j] < 0.6 else "black")
    ax.set(xlabel="true-action cluster (k-means)", ylabel="latent action", xticks=range(counts.shape[1]),
           yticks=range(counts.shape[0]), title="Codes vs true actions")
    fig.colorbar(image, ax=ax, label="P(cluster | code)")
    fig.savefig(path, dpi=110)


def labelled_grid(frames_RCHWC: np.ndarray) -> np.ndarray:
    """`core.images.grid` of the frames with a header strip naming the columns' actions."""
    import cv2

    from genie_robotics.core.images import grid

    body = grid(frames_RCHWC)
    W = frames_RCHWC.shape[3]
    header = np.full((14, body.shape[1], 3), 255, dtype=np.uint8)
    for a in range(frames_RCHWC.shape[1]):
        cv2.putText(header, f"a{a}", (2 + a * (W + 2) + W // 2 - 8, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return np.concatenate([header, body])
