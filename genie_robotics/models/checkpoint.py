"""Loading a checkpoint directory into a `Genie`, with one error naming what does not match.

The files themselves (names, atomic writes, reading tensors) are `core/checkpoint_files.py`.
"""
from __future__ import annotations

from pathlib import Path

import torch

from genie_robotics.core.checkpoint_files import load_config, read_state
from genie_robotics.core.errors import GenieError
from genie_robotics.models.genie import Genie


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> Genie:
    """Build the Genie model described by a checkpoint's config and load its weights."""
    cfg = load_config(path)
    state = read_state(path)
    model = Genie(cfg)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} with wrong shape (e.g. {k}: {tuple(state[k].shape)} vs {tuple(expected[k].shape)})")
        raise GenieError(f"checkpoint {path} does not match its config: " + "; ".join(parts))
    model.load_state_dict(state)
    return model.to(device).eval()
