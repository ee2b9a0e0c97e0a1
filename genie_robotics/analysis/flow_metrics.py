"""Motion in generated video, measured by dense optical flow: the probe's consistency scores.

Dense optical flow (Farneback, on grey frames upscaled to >= `FLOW_MIN_SIDE` px, reported in the
model's pixels) between consecutive generated frames measures the motion each rollout shows: its
mean flow vector (dx, dy; +x right, +y down), mean flow magnitude, and the same over the *moving
region* (pixels moving more than `MOVING_THRESHOLD_PX` px/frame, a proxy for the robot). An
action is consistent when it moves the scene the same way whatever the start frame: its score is
the mean resultant length of the unit mean-flow directions across start frames,
|mean_s v_s/|v_s|| in [0, 1] (1: all start frames move the same way; about 1/sqrt(S) for S random
directions; 0 for opposite directions). Start frames whose mean flow is exactly zero have no
direction and are left out; an action with no motion at all scores 0. The magnitude-weighted
variant |sum_s v_s| / sum_s |v_s| lets near-still rollouts count little.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

MOVING_THRESHOLD_PX = 0.5  # flow magnitude (model pixels per frame) above which a pixel counts as moving
FLOW_MIN_SIDE = 128  # frames are upscaled until their short side is at least this before Farneback


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


def direction_name(dx: float, dy: float) -> str:
    """'right', 'up-left', ... of an image-space vector (+y is down)."""
    if math.hypot(dx, dy) < 1e-9:
        return "none"
    names = ("right", "down-right", "down", "down-left", "left", "up-left", "up", "up-right")
    return names[round(math.degrees(math.atan2(dy, dx)) / 45) % 8]


def measure_motion(video_SKTHWC: np.ndarray, progress: bool = True) -> list[list[dict[str, float]]]:
    """`flow_summary` of every rollout of uint8 [S, K, T, H, W, 3], indexed [action][start frame]."""
    S, K, T = video_SKTHWC.shape[:3]
    table: list[list[dict[str, float]]] = [[{} for _ in range(S)] for _ in range(K)]
    for s, a in tqdm(list(itertools.product(range(S), range(K))), desc="optical flow", unit="rollout",
                     disable=not progress):
        video = video_SKTHWC[s, a]
        table[a][s] = flow_summary(np.stack([optical_flow(video[t], video[t + 1]) for t in range(T - 1)]))
    return table


@dataclass(frozen=True)
class ActionMotion:
    """Per action (lists over the K actions): aggregates over start frames of `measure_motion`'s table."""

    consistency: list[float]
    consistency_weighted: list[float]
    flow_magnitude: list[float]
    flow_mean: list[list[float]]  # mean (dx, dy)
    moving_magnitude: list[float]  # NaN for an action with no moving pixels from any start frame
    moving_fraction: list[float]

    @classmethod
    def of(cls, motion: list[list[dict[str, float]]]) -> ActionMotion:
        vectors = [np.array([[r["dx"], r["dy"]] for r in rollouts]) for rollouts in motion]
        moving = [[r["moving_magnitude"] for r in rollouts if not math.isnan(r["moving_magnitude"])] for rollouts in motion]
        return cls(consistency=[consistency_score(v) for v in vectors],
                   consistency_weighted=[consistency_score(v, weighted=True) for v in vectors],
                   flow_magnitude=[float(np.mean([r["magnitude"] for r in rollouts])) for rollouts in motion],
                   flow_mean=[v.mean(0).tolist() for v in vectors],
                   moving_magnitude=[float(np.mean(m)) if m else math.nan for m in moving],
                   moving_fraction=[float(np.mean([r["moving_fraction"] for r in rollouts])) for rollouts in motion])
