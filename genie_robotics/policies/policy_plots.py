"""Pictures of a policy evaluation: success in the learned simulator against MuJoCo, and the episodes."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from genie_robotics.analysis.probe_plots import new_figure
from genie_robotics.core.images import grid, save_png


def plot_ladder(result, path: Path) -> None:
    """One point per policy; the diagonal is a simulator that scores every policy as MuJoCo does."""
    fig, ax = new_figure(6.4, 5.2)
    ax = ax[0, 0]
    real = [p.mujoco_success for p in result.policies]
    learned = [p.simulator_success for p in result.policies]
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="same success in both")
    ax.scatter(real, learned, color="tab:blue", zorder=3)
    for p in result.policies:
        ax.annotate(p.name, (p.mujoco_success, p.simulator_success), fontsize=7, xytext=(4, -8),
                    textcoords="offset points")
    ax.set(xlim=(-0.03, 1.03), ylim=(-0.03, 1.03), xlabel="success in MuJoCo (detector)",
           ylabel="success in the learned simulator (detector)",
           title=f"{len(real)} policies, {result.episodes} episodes each: "
                 f"Spearman {result.spearman:.2f}, Pearson {result.pearson:.2f}")
    ax.title.set_fontsize(9)
    ax.legend(loc="upper left", fontsize=8)
    fig.savefig(path, dpi=110)


def plot_episodes(pictures: list[tuple[str, np.ndarray, np.ndarray]], path: Path, every: int = 3) -> None:
    """For each policy, its first episodes in MuJoCo (upper row) and the learned simulator (lower
    row), every `every`-th frame, last frame included; one block of rows per policy, in order."""
    rows = []
    for _, real_ETHWC, learned_ETHWC in pictures:
        picked = sorted(set(range(0, real_ETHWC.shape[1], every)) | {real_ETHWC.shape[1] - 1})
        for e in range(len(real_ETHWC)):
            rows += [real_ETHWC[e, picked], learned_ETHWC[e, picked]]
    save_png(grid(np.stack(rows)), path, scale=2)
