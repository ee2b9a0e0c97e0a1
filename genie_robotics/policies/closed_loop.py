"""Run a pixel policy closed-loop from the same start frames in MuJoCo and in the learned simulator.

In MuJoCo each command moves the arm and the scene is rendered again; in the learned simulator
each command goes through the checkpoint's command map to a latent action and the world model
draws the next frame (all episodes as one batch of worlds). Both return every frame, so both are
scored the same way from pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from genie_robotics.policies.pixel_policy import Policy
from genie_robotics.policies.reach_task import EPISODE_STEPS, SUCCESS_RADIUS, ReachTask

EVAL_SEED = 200_000  # episode seeds of evaluation starts (expert data uses 100_000, the detector 300_000)


@dataclass
class Episodes:
    """Frames uint8 [E, T+1, H, W, 3] and commands [E, T, 3] of E closed-loop episodes."""

    frames_ETHWC: np.ndarray
    commands_ET3: np.ndarray
    true_success_E: np.ndarray | None = None  # MuJoCo only: from the state, not the frames


def start_frames(task: ReachTask, episodes: int, seed: int = EVAL_SEED) -> np.ndarray:
    return np.stack([task.reset(seed + e) for e in range(episodes)])


def run_in_mujoco(task: ReachTask, policy: Policy, episodes: int, steps: int = EPISODE_STEPS, seed: int = EVAL_SEED,
                  progress: bool = True) -> Episodes:
    frames, commands, success = [], [], []
    for e in tqdm(range(episodes), desc=f"{policy.name} in MuJoCo", unit="episode", disable=not progress,
                  mininterval=2.0):
        rng = np.random.default_rng(seed + e)
        episode, taken = [task.reset(seed + e)], []
        for _ in range(steps):
            taken.append(policy(episode[-1][None], rng)[0])
            episode.append(task.step(taken[-1]))
        frames.append(episode)
        commands.append(taken)
        success.append(task.distance() < SUCCESS_RADIUS)
    return Episodes(np.asarray(frames, np.uint8), np.asarray(commands), np.asarray(success))


def run_in_world_model(world, policy: Policy, starts_EHWC: np.ndarray, steps: int = EPISODE_STEPS,
                       seed: int = EVAL_SEED, progress: bool = True) -> Episodes:
    """`world`: a WorldModel with a command map, reset to the start frames as one batch."""
    rng = np.random.default_rng(seed)
    frames = [world.reset(starts_EHWC, seed=seed)]
    commands = []
    for _ in tqdm(range(steps), desc=f"{policy.name} in the learned simulator", unit="step", disable=not progress,
                  mininterval=2.0):
        commands.append(policy(frames[-1], rng))
        frames.append(world.step(command=commands[-1]))
    return Episodes(np.stack(frames, axis=1), np.stack(commands, axis=1))
