"""What latent actions know about the true robot actions of a dataset (the probe's third question).

Each transition's latent is paired with the true action applied after its earlier frame (RLDS:
action t leads from frame t to t+1). The target is the end-effector displacement
`action/world_vector` (RT-1's layout) when the dataset has it, since that is the motion a camera
sees; otherwise every numeric action field, flattened. Target vectors are clustered by k-means;
NMI between codes and clusters says how much the codes know about the actions, and a linear
probe from the continuous (pre-quantisation) latents to the clusters / target vectors, trained
and tested on different episodes, says how much the latent space knows before quantisation. A
discrete `action/heading` label, where present, is compared with the codes by NMI as well.

NMI has a small positive bias with few transitions per cell; clusters of true actions are one
arbitrary discretisation. With few episodes the held-out linear probe is noisy.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from genie_robotics.analysis.latent_labels import Transitions
from genie_robotics.core.results import Result

TARGET_KEY = "world_vector"  # RT-1's end-effector displacement: the true-action target when present
HEADING_KEY = "heading"  # a discrete direction label: NMI against the codes when present


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


@dataclass(frozen=True)
class TrueActionClusters(Result):
    """The codes against k-means clusters of the true actions (probe.json's `true_actions`)."""

    clusters_found: int | None = None
    contingency: list[list[int]] | None = None  # [code][cluster] transition counts
    mean_true_action_per_code: list[list[float] | None] | None = None  # None for a code never used
    reason: str | None = None  # why something was not measured


@dataclass(frozen=True)
class ActionRelation:
    """What `relate_to_true_actions` measures; a score it could not measure is None (`clusters.reason` says why)."""

    nmi: float | None = None  # NMI(codes, true-action clusters)
    nmi_heading: float | None = None  # NMI(codes, action/heading)
    linear_probe_accuracy: float | None = None  # held-out episodes
    linear_probe_chance: float | None = None  # majority cluster
    linear_probe_r2: float | None = None  # of the target vectors
    clusters: TrueActionClusters = TrueActionClusters()


def relate_to_true_actions(t: Transitions, clusters: int, num_codes: int, seed: int = 0,
                           heading_N: np.ndarray | None = None) -> ActionRelation:
    """NMI of codes vs k-means clusters of true actions (and vs `heading_N`), held-out linear
    probes, contingency table. Without true actions every score is None and the reason says why."""
    from genie_robotics.analysis.action_statistics import kmeans, linear_probe, normalized_mutual_information, per_code_means

    nmi_heading = None if heading_N is None else normalized_mutual_information(t.codes_N, heading_N)
    if t.actions_NA is None:
        return ActionRelation(nmi_heading=nmi_heading, clusters=TrueActionClusters(
            reason="the dataset has no 'action' feature, so latent actions cannot be compared with true ones"))
    labels_N = kmeans(t.actions_NA, clusters, seed=seed)
    found = int(labels_N.max()) + 1
    contingency = np.zeros((num_codes, found), dtype=np.int64)
    np.add.at(contingency, (t.codes_N, labels_N), 1)
    means, counts = per_code_means(t.codes_N, t.actions_NA, num_codes)
    table = TrueActionClusters(clusters_found=found, contingency=contingency.tolist(),
                               mean_true_action_per_code=[m.tolist() if n else None for m, n in zip(means, counts)])
    nmi = normalized_mutual_information(t.codes_N, labels_N)
    if len(np.unique(t.episodes_N)) < 2:
        return ActionRelation(nmi=nmi, nmi_heading=nmi_heading, clusters=dataclasses.replace(
            table, reason="the linear probe holds out whole episodes and needs at least 2 episodes"))
    result = linear_probe(t.latents_ND, labels_N, t.actions_NA, groups_N=t.episodes_N, seed=seed)
    return ActionRelation(nmi=nmi, nmi_heading=nmi_heading, linear_probe_accuracy=result.accuracy,
                          linear_probe_chance=result.chance, linear_probe_r2=result.r2, clusters=table)
