"""Checkpoint files: safetensors weights + a YAML config beside them, written atomically.

Nothing is ever unpickled. A checkpoint is a directory holding `config.yaml` and
`model.safetensors`; a kill during `save_checkpoint` leaves the previous files intact because
every file is written to a temporary name, fsynced, then renamed over the old one.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import torch

from genie_robotics.core.atomic_files import atomic_replace
from genie_robotics.core.config import GenieConfig
from genie_robotics.core.errors import GenieError

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.yaml"


class ConfiguredModel(Protocol):
    """A module that carries its config (a `Genie`); this layer does not import the model."""

    cfg: GenieConfig

    def state_dict(self) -> Mapping[str, torch.Tensor]: ...


def save_checkpoint(model: ConfiguredModel, directory: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write `model` (a Genie) to `directory`; returns the directory."""
    from safetensors.torch import save_file

    directory = Path(directory)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    meta = {"format": "pt", "genie_config": json.dumps(model.cfg.to_dict())}
    meta.update({k: str(v) for k, v in (metadata or {}).items()})
    atomic_replace(directory / WEIGHTS_FILE, lambda tmp: save_file(state, tmp, metadata=meta))
    model.cfg.save(directory / CONFIG_FILE)
    return directory


def _weights_path(path: Path) -> Path:
    if not path.exists():
        raise GenieError(f"checkpoint {path} does not exist")
    weights = path / WEIGHTS_FILE if path.is_dir() else path
    if not weights.is_file():
        raise GenieError(f"checkpoint {path} has no {WEIGHTS_FILE}")
    return weights


def read_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint's safetensors file, with one clear error if it is unreadable."""
    from safetensors.torch import load_file

    weights = _weights_path(Path(path))
    try:
        return load_file(str(weights))
    except Exception as exc:  # safetensors raises several error types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GenieError(f"checkpoint file {weights} is truncated or corrupt ({reason})") from None


def load_config(path: str | Path) -> GenieConfig:
    path = Path(path)
    config = (path if path.is_dir() else path.parent) / CONFIG_FILE
    _weights_path(path)
    if not config.is_file():
        raise GenieError(f"checkpoint {path} has no {CONFIG_FILE} beside its weights")
    return GenieConfig.load(config)
