"""Labelled episodes for the command map: the frozen LAM's latent action at every step beside
the command recorded there, and a map fitted on them with its agreement on held-out episodes."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genie_robotics.commands.command_map import COMMAND_KEY, GRIPPER_KEY, CommandMap, codebook_digest, fit_command_map
from genie_robotics.core.errors import GenieError


@dataclass
class LabelledCommands:
    """Every transition of labelled episodes: its command, the LAM's latent action, its episode."""

    commands_NF: np.ndarray
    codes_N: np.ndarray
    episodes_N: np.ndarray
    dataset: str

    @property
    def episodes(self) -> int:
        return int(self.episodes_N.max()) + 1 if len(self.episodes_N) else 0

    def first(self, episodes: int) -> LabelledCommands:
        keep = self.episodes_N < episodes
        return LabelledCommands(self.commands_NF[keep], self.codes_N[keep], self.episodes_N[keep], self.dataset)

    def after(self, episodes: int) -> LabelledCommands:
        keep = self.episodes_N >= episodes
        return LabelledCommands(self.commands_NF[keep], self.codes_N[keep], self.episodes_N[keep] - episodes, self.dataset)


def label_commands(genie, labelled_dir: str | Path, max_episodes: int | None = None, progress: bool = True) -> LabelledCommands:
    """The frozen LAM's latent action for every transition of a labelled RLDS dataset, beside the
    command recorded at that step (`action/world_vector`, plus the gripper when recorded)."""
    from genie_robotics.analysis.latent_labels import label_dataset
    from genie_robotics.data.rlds_reader import open_rlds

    src = open_rlds(labelled_dir)
    vector = src.action_columns(COMMAND_KEY)
    if vector is None or vector.stop - vector.start != 3:
        raise GenieError(f"{labelled_dir} has no action/{COMMAND_KEY} (3 numbers per step): a command map is fitted "
                         f"on episodes labelled with the end-effector displacement")
    gripper = src.action_columns(GRIPPER_KEY)
    transitions, _ = label_dataset(genie, src, max_episodes, genie.cfg.frames, progress=progress)
    if transitions is None:
        raise GenieError(f"{labelled_dir} has no episodes of at least 2 steps to fit a command map on")
    columns = [transitions.actions_NA[:, vector]]
    if gripper is not None and gripper.stop - gripper.start == 1:
        columns.append(transitions.actions_NA[:, gripper])
    return LabelledCommands(np.concatenate(columns, axis=1).astype(np.float64), transitions.codes_N,
                            transitions.episodes_N, str(labelled_dir))


def agreement(command_map: CommandMap, labelled: LabelledCommands) -> float | None:
    """Share of transitions whose command the map sends to the latent action the LAM saw there."""
    if not len(labelled.codes_N):
        return None
    return float((command_map.latent_actions(labelled.commands_NF) == labelled.codes_N).mean())


def fit_from_labels(genie, labelled: LabelledCommands, episodes: int, heldout: LabelledCommands | None = None) -> CommandMap:
    """A map fitted on the first `episodes` labelled episodes; agreement on `heldout` recorded."""
    train = labelled.first(episodes)
    lam = genie.lam.quantizer
    fitted = fit_command_map(train.commands_NF, train.codes_N, lam.codebook.shape[0], genie.cfg.fps,
                             codebook_digest(lam.codebook))
    info = {"dataset": labelled.dataset, "episodes": train.episodes, "transitions": int(len(train.codes_N)),
            "train_agreement": agreement(fitted, train)}
    if heldout is not None:
        info.update(heldout_episodes=heldout.episodes, heldout_agreement=agreement(fitted, heldout))
    return dataclasses.replace(fitted, fitted_on=info)
