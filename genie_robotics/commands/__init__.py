"""Robot commands in: the command map from end-effector commands (`world_vector`) to latent actions.

`from genie_robotics.commands import load_command_map` is the stable way in; the map itself is
`commands/command_map.py`.
"""
from genie_robotics.commands.command_map import (
    COMMAND_KEY,
    COMMAND_MAP_FILE,
    GRIPPER_KEY,
    CommandMap,
    codebook_digest,
    fit_command_map,
    load_command_map,
)

__all__ = ["COMMAND_KEY", "COMMAND_MAP_FILE", "GRIPPER_KEY", "CommandMap", "codebook_digest", "fit_command_map",
           "load_command_map"]
