"""The probe's report directory: its files, and the Markdown page tying the plots and numbers together."""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from genie_robotics.analysis.flow_metrics import MOVING_THRESHOLD_PX, direction_name
from genie_robotics.analysis.true_actions import HEADING_KEY, TARGET_KEY

if TYPE_CHECKING:
    from genie_robotics.analysis.probe import ProbeResult

PROBE_JSON = "probe.json"  # written last: marks a finished report
FILES = {
    "code_usage": "code_usage.png",
    "consistency": "consistency.png",
    "flow_directions": "flow_directions.png",
    "codes_vs_actions": "codes_vs_actions.png",
    "rollouts_gif": "rollouts.gif",
    "rollouts_last": "rollouts_last.png",
    "readme": "README.md",
}


def _fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.{digits}f}"


def write_readme(report: ProbeResult, path: Path) -> None:
    """The Markdown page tying the plots and numbers of `report` (probe.json's content) together."""
    from genie_robotics.core.atomic_files import atomic_write_text

    K, S = len(report.code_usage), report.start_frames_used
    true, settings = report.true_actions, report.settings
    lines = [
        "# Latent action probe", "",
        f"Model `{report.model}`, data `{report.data}`: {report.transitions} transitions of "
        f"{report.episodes} episodes; {S} start frames x {K} actions x {settings['rollout_steps']} "
        f"generated frames (MaskGIT {settings['maskgit_steps']} steps, temperature "
        f"{settings['temperature']}, seed {settings['seed']}).", "",
        "## How to read this", "",
        "Each latent action is a column of the rollout grid: the world model applied that action from every start "
        "frame (rows). A *useful* action moves the robot the same way whatever the start frame, so its consistency "
        f"(agreement of the mean optical-flow direction across the {S} start frames, 1 = identical directions, about "
        f"{report.consistency_chance:.2f} for random ones, 0 = opposite) is high and its flow magnitude is clearly "
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
    if true.contingency is not None:
        header += " top true-action cluster |"
    lines += [header, "|" + "---|" * (header.count("|") - 1)]
    for a in range(K):
        dx, dy = report.flow_mean[a]
        row = (f"| {a} | {report.code_usage[a]:.3f} | {_fmt(report.consistency[a], 2)} | "
               f"{_fmt(report.consistency_weighted[a], 2)} | {_fmt(report.flow_magnitude[a])} | "
               f"{_fmt(report.moving_magnitude[a])} | {_fmt(report.moving_fraction[a], 2)} | "
               f"({dx:+.3f}, {dy:+.3f}) | {direction_name(dx, dy)} |")
        if true.contingency is not None:
            counts = np.asarray(true.contingency[a])
            row += f" {int(counts.argmax())} ({counts.max()}/{counts.sum()}) |" if counts.sum() else " - |"
        lines.append(row)
    lines += ["", "Magnitudes are in model pixels per frame (mean over pixels and generated frames); the moving region "
              f"is the pixels moving more than {MOVING_THRESHOLD_PX} px/frame.", "", "## Relation to true actions", ""]
    if report.nmi is None:
        lines.append(f"Not measured: {true.reason}.")
    else:
        target = (f"`action/{TARGET_KEY}` (end-effector displacement)" if report.action_target == TARGET_KEY
                  else "all action fields, flattened")
        lines += [
            f"Target: {target}, clustered by k-means into {true.clusters_found} clusters "
            f"(asked for {settings['clusters']}).", "",
            "| measure | value |", "|---|---|",
            f"| NMI(codes, clusters) | {_fmt(report.nmi)} |",
            f"| linear probe accuracy (held-out episodes) | {_fmt(report.linear_probe_accuracy)} |",
            f"| linear probe chance (majority cluster) | {_fmt(report.linear_probe_chance)} |",
            f"| linear probe R^2 (target vectors) | {_fmt(report.linear_probe_r2)} |",
            *([f"| NMI(codes, `action/{HEADING_KEY}`) | {_fmt(report.nmi_heading)} |"]
              if report.nmi_heading is not None else []), "",
            f"![codes vs true actions]({FILES['codes_vs_actions']})",
        ]
        if true.reason:
            lines += ["", f"Linear probe not run: {true.reason}."]
    lines += ["", "## Start frames", ""]
    lines += [f"- row {i}: episode `{p['episode']}`, frame {p['time']}"
              for i, p in enumerate(report.start_frame_sources)]
    atomic_write_text(path, "\n".join(lines) + "\n")
