"""`genie-robotics fit-command-map`: label episodes with the LAM, fit the command map, write it beside the weights."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from genie_robotics.analysis.command_labels import fit_from_labels, label_commands
from genie_robotics.commands.command_map import COMMAND_MAP_FILE, CommandMap
from genie_robotics.core import options as flags
from genie_robotics.core.errors import GenieError


@dataclass
class FitCommandMapOptions:
    """`genie-robotics fit-command-map`'s options (each field is its flag; see arguments.option)."""

    checkpoint: Path = flags.path_option(help="checkpoint directory whose LAM labels the episodes", positional=True)
    data: Path = flags.path_option(help="labelled RLDS dataset: episodes whose steps record action/world_vector")
    episodes: int = flags.option(20, parse=flags.positive_int, help="labelled episodes the map is fitted on")
    heldout_episodes: int = flags.option(20, parse=flags.nonnegative_int,
                                         help="further episodes of --data on which the map's agreement with the LAM "
                                              "is measured (0: none)")
    out: Path | None = flags.path_option(None, help=f"directory to write {COMMAND_MAP_FILE} to (default: the checkpoint)")
    device: str = flags.device_option()
    progress: bool = flags.progress_option()


def fit_command_map_command(opts: FitCommandMapOptions) -> tuple[CommandMap, Path]:
    """Label `episodes + heldout_episodes` episodes with the LAM, fit on the first ones, write the map."""
    from genie_robotics.models.checkpoint import load_checkpoint

    genie = load_checkpoint(opts.checkpoint, opts.device).eval()
    labelled = label_commands(genie, opts.data, opts.episodes + opts.heldout_episodes, progress=opts.progress)
    if labelled.episodes < opts.episodes:
        raise GenieError(f"{opts.data} has {labelled.episodes} labelled episodes, fewer than --episodes {opts.episodes}")
    heldout = labelled.after(opts.episodes) if labelled.episodes > opts.episodes else None
    command_map = fit_from_labels(genie, labelled, opts.episodes, heldout)
    return command_map, command_map.save(opts.out or opts.checkpoint)
