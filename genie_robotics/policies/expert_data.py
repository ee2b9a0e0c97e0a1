"""Expert demonstrations of the reach task, and behaviour cloning from their frames.

The expert commands the teleop headings toward the target from MuJoCo's state; its episodes are
rendered at the world model's frame size, so they are the "action-free video" a latent policy
learns from (its commands hidden) and the labelled transitions behaviour cloning learns from.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from genie_robotics.policies.pixel_net import PixelNet, fit_pixel_net
from genie_robotics.policies.pixel_policy import TablePolicy, bc_policy
from genie_robotics.policies.reach_task import EPISODE_STEPS, NUM_COMMANDS, ReachTask, command_classes

EXPERT_SEED = 100_000  # episode seeds of expert demonstrations


@dataclass
class Demonstrations:
    """Frames uint8 [E, T+1, H, W, 3] and the expert's commands [E, T, 3]."""

    frames_ETHWC: np.ndarray
    commands_ET3: np.ndarray

    @property
    def episodes(self) -> int:
        return len(self.frames_ETHWC)

    @property
    def steps(self) -> int:
        return self.commands_ET3.shape[1]

    def observations(self, episodes: np.ndarray | None = None) -> np.ndarray:
        """The frame each command was taken on [N, H, W, 3] (episode-major)."""
        frames = self.frames_ETHWC if episodes is None else self.frames_ETHWC[episodes]
        return frames[:, :-1].reshape(-1, *frames.shape[2:])

    def command_classes(self, episodes: np.ndarray | None = None) -> np.ndarray:
        commands = self.commands_ET3 if episodes is None else self.commands_ET3[episodes]
        return command_classes(commands.reshape(-1, 3))

    def labelled_episodes(self, transitions: int, draw: int) -> np.ndarray:
        """Whole episodes, drawn at random (draw `draw`), holding `transitions` commands at most (at least one)."""
        count = min(self.episodes, max(1, transitions // self.steps))
        return np.sort(np.random.default_rng(10_000 + draw).choice(self.episodes, size=count, replace=False))


def collect_demonstrations(task: ReachTask, episodes: int, seed: int = EXPERT_SEED, steps: int = EPISODE_STEPS,
                           progress: bool = True) -> Demonstrations:
    frames, commands = [], []
    for e in tqdm(range(episodes), desc="render expert demonstrations", unit="episode", disable=not progress,
                  mininterval=2.0):
        episode, taken = [task.reset(seed + e)], []
        for _ in range(steps):
            taken.append(task.expert_command())
            episode.append(task.step(taken[-1]))
        frames.append(episode)
        commands.append(taken)
    return Demonstrations(np.asarray(frames, np.uint8), np.asarray(commands))


def train_steps(transitions: int, epochs: float = 25.0, batch: int = 64, least: int = 300, most: int = 3000) -> int:
    """Optimiser steps for a data set: about `epochs` passes, within [least, most]."""
    return int(np.clip(epochs * transitions / batch, least, most))


def behaviour_cloning(demos: Demonstrations, episodes: np.ndarray | None, seed: int, name: str,
                      init: PixelNet | None = None, progress: bool = True) -> TablePolicy:
    """A pixel policy over the 9 teleop commands, cloned from the given episodes' labelled transitions
    (all of them when `episodes` is None), from scratch or fine-tuning `init`."""
    frames_NHWC, labels_N = demos.observations(episodes), demos.command_classes(episodes)
    net = fit_pixel_net(frames_NHWC, labels_N, NUM_COMMANDS, train_steps(len(labels_N)), seed, init=init,
                        desc=f"train {name}", progress=progress)
    return bc_policy(net, name)
