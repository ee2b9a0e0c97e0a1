"""What is in an RLDS dataset directory: episodes, steps, features, camera, a contact sheet."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from tqdm import tqdm

from genie_robotics.data.rlds_reader import RLDSSource, episode_lengths, open_rlds
from genie_robotics.data.tf_env import tfds


def _feature_keys(feature, prefix: str = "") -> list[str]:
    """Flattened 'a/b/c' names of every leaf feature under `feature`."""
    f = tfds().features
    if isinstance(feature, (f.FeaturesDict, f.Dataset)):
        inner = feature.feature if isinstance(feature, f.Dataset) else feature
        keys = []
        for k in sorted(inner.keys()):
            keys += _feature_keys(inner[k], f"{prefix}{k}/")
        return keys
    return [prefix.rstrip("/")]


def summarize(path: str | Path, image_key: str | None = None, limit: int | None = None, progress: bool = True) -> dict:
    """Counts and keys of a dataset; steps are counted over the first `limit` episodes (all by default)."""
    src = open_rlds(path, image_key=image_key)
    counted = src.episodes if limit is None else min(limit, src.episodes)
    lengths = itertools.islice(episode_lengths(src), counted)
    steps = [n for _, n in tqdm(lengths, total=counted, desc="count steps", disable=not progress)]
    features = src.builder.info.features
    return {
        "path": str(src.path),
        "name": src.builder.info.name,
        "split": src.split,
        "splits": {k: int(v.num_examples) for k, v in src.builder.info.splits.items()},
        "episodes": src.episodes,
        "steps": int(sum(steps)),
        "steps_counted_over_episodes": counted,
        "mean_episode_length": round(float(np.mean(steps)), 2) if steps else 0.0,
        "image_key": src.image_key,
        "image_shape": list(src.image_shape),
        "action_dim": src.action_dim,
        "step_features": _feature_keys(features["steps"]),
        "episode_features": [k for k in _feature_keys(features) if not k.startswith("steps")],
    }


def contact_sheet(src: RLDSSource, episodes: int = 4, frames_per_episode: int = 8) -> np.ndarray:
    """Rows = the first episodes, columns = frames evenly spaced through each episode."""
    from genie_robotics.core.images import grid

    rows = []
    for ep in tfds().as_numpy(src.builder.as_dataset(split=src.split).take(episodes)):
        images = np.stack([s["observation"][src.image_key] for s in ep["steps"]])
        idx = np.linspace(0, len(images) - 1, frames_per_episode).round().astype(int)
        rows.append(images[idx])
    return grid(np.stack(rows))


def format_summary(info: dict) -> str:
    lines = [
        f"{info['path']}  ({info['name']}, split {info['split']})",
        f"  episodes {info['episodes']}, steps {info['steps']} (mean {info['mean_episode_length']} per episode"
        + ("" if info["steps_counted_over_episodes"] == info["episodes"]
           else f", first {info['steps_counted_over_episodes']} episodes") + ")",
        f"  camera '{info['image_key']}' {tuple(info['image_shape'])}, action vector of {info['action_dim']} floats",
        "  step features: " + ", ".join(info["step_features"]),
    ]
    if info["episode_features"]:
        lines.append("  episode features: " + ", ".join(info["episode_features"]))
    return "\n".join(lines)
