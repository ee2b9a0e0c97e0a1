"""genie_robotics: the Genie world model for robot video.

The public API, stable through internal moves (loaded on first use, so `import genie_robotics`
stays light):

    from genie_robotics import WorldModel, load_world_model, load_checkpoint, load_command_map
"""
from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "WorldModel": "genie_robotics.sim.world_model",
    "load_world_model": "genie_robotics.sim.world_model",
    "load_checkpoint": "genie_robotics.models.checkpoint",
    "load_command_map": "genie_robotics.commands.command_map",
}
__all__ = list(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'genie_robotics' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
