"""Policies that see camera frames and command the gripper's displacement (`world_vector`).

A policy maps frames uint8 [B, H, W, 3] to commands [B, 3], one per world, so the same object
drives MuJoCo (B = 1) and a batch of learned-simulator worlds. Learned policies classify a frame
into one of a fixed set of commands: the 9 teleop commands (behaviour cloning), or the latent
actions, each standing for the mean command of its labelled transitions (a latent policy).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genie_robotics.core.errors import GenieError
from genie_robotics.policies.pixel_net import PixelNet
from genie_robotics.policies.reach_task import COMMANDS_C3, NUM_COMMANDS, ReachTask, expert_choice
from genie_robotics.policies.success_detector import SuccessDetector


class Policy:
    """frames [B, H, W, 3] -> commands [B, 3]; `rng` draws whatever the policy randomises."""

    name = "policy"

    def __call__(self, frames_BHWC: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


@dataclass
class TablePolicy(Policy):
    """The network's most likely class, looked up in a table of commands [K, 3]."""

    net: PixelNet
    commands_K3: np.ndarray
    name: str = "pixel policy"

    def __call__(self, frames_BHWC: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.commands_K3[self.net.predict(frames_BHWC).argmax(-1)]

    def save(self, path: Path) -> None:
        self.net.save(path, {"name": self.name, "commands": np.asarray(self.commands_K3).tolist()})

    @classmethod
    def load(cls, path: Path) -> TablePolicy:
        net, header = PixelNet.load(path)
        commands = np.asarray(header.get("commands", []), dtype=np.float64)
        if commands.shape != (net.outputs, 3):
            raise GenieError(f"{Path(path).with_suffix('.json')}: 'commands' must be {net.outputs} world_vectors of 3 "
                             f"numbers, one per output; got shape {commands.shape}")
        return cls(net, commands, str(header.get("name", Path(path).stem)))


def bc_policy(net: PixelNet, name: str) -> TablePolicy:
    """A network over the 9 teleop commands."""
    return TablePolicy(net, COMMANDS_C3, name)


@dataclass
class RandomPolicy(Policy):
    """A uniformly random teleop command each step."""

    name: str = "random"

    def __call__(self, frames_BHWC: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return COMMANDS_C3[rng.integers(0, NUM_COMMANDS, size=len(frames_BHWC))]


@dataclass
class DetectorServo(Policy):
    """A scripted pixel policy: the expert's rule on what the detector sees. The gripper and target
    are located in the frame and taken to the arm's plane through the camera's calibration
    (`world_from_pixel_23`, ReachTask.world_from_pixel); the policy heads for the target along the
    reachable heading closest to it and stops when there; with chance `noise` a random teleop
    command instead (a ladder of worse experts)."""

    detector: SuccessDetector
    world_from_pixel_23: np.ndarray
    noise: float = 0.0
    name: str = "detector servo"

    def __call__(self, frames_BHWC: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        points_B22 = self.detector.locate(frames_BHWC)
        homogeneous_B23 = np.concatenate((points_B22, np.ones((len(points_B22), 2, 1))), axis=2)
        world_B22 = homogeneous_B23 @ self.world_from_pixel_23.T  # (x, z) metres of gripper, target
        gripper_B2, to_target_B2 = world_B22[:, 0], world_B22[:, 1] - world_B22[:, 0]
        choice_B = np.array([expert_choice(g, t) for g, t in zip(gripper_B2, to_target_B2)], dtype=np.int64)
        noisy_B = rng.random(len(choice_B)) < self.noise
        choice_B = np.where(noisy_B, rng.integers(0, NUM_COMMANDS, size=len(choice_B)), choice_B)
        return COMMANDS_C3[choice_B]


class ExpertPolicy(Policy):
    """The scripted expert: reads MuJoCo's state, not the frame, so it runs in MuJoCo only (the top of the scale)."""

    name = "expert"

    def __init__(self, task: ReachTask) -> None:
        self.task = task

    def __call__(self, frames_BHWC: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.task.expert_command()[None]
