"""Does the learned simulator rank policies as the real scene does? A ladder of pixel policies.

Each policy runs closed-loop from the same start frames in MuJoCo and in the learned simulator,
and both runs are scored by the same success detector: the gripper where it sees it in the last
frame, the target where it sees it in the (shared, real) start frame. A simulator that is
useful for policy evaluation gives success rates that correlate with MuJoCo's across policies of
different quality (rank and linear correlation over the ladder).
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genie_robotics.core.atomic_files import atomic_write_text
from genie_robotics.core.errors import GenieError
from genie_robotics.core.results import Result
from genie_robotics.policies.closed_loop import run_in_mujoco, run_in_world_model, start_frames
from genie_robotics.policies.expert_data import behaviour_cloning, collect_demonstrations
from genie_robotics.policies.pixel_policy import DetectorServo, Policy, RandomPolicy, TablePolicy
from genie_robotics.policies.policy_plots import plot_episodes, plot_ladder
from genie_robotics.policies.reach_task import EPISODE_STEPS, ReachTask
from genie_robotics.policies.success_detector import SuccessDetector, train_detector

POLICY_EVAL_FILE = "policy_eval.json"
LADDER_BC = (50, 200, 1000, None)  # labelled transitions of the cloned rungs (None: all demonstrations)
LADDER_NOISE = (0.0, 0.5, 0.8)  # random-command chance of the detector-servo rungs


def checkpoint_sha256(checkpoint: Path) -> str:
    """SHA-256 of the checkpoint's weights file: what a stored result was measured on."""
    return hashlib.sha256((Path(checkpoint) / "model.safetensors").read_bytes()).hexdigest()


def average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values), dtype=np.float64)
    for v in np.unique(values):  # ties share their mean rank
        ranks[values == v] = ranks[values == v].mean()
    return ranks


def pearson(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def spearman(a, b) -> float:
    return pearson(average_ranks(np.asarray(a, np.float64)), average_ranks(np.asarray(b, np.float64)))


@dataclass
class PolicyScore(Result):
    name: str
    mujoco_success: float  # the detector on MuJoCo's last frames (target: start frames)
    simulator_success: float  # the detector on the simulator's last frames (target: start frames)
    mujoco_true_success: float  # MuJoCo's state: gripper within the radius (the detector's reference)


@dataclass
class PolicyEvalResult(Result):
    policies: list[PolicyScore]
    spearman: float
    pearson: float
    detector_error_px: float  # mean keypoint error on held-out rendered frames
    success_radius_px: float
    episodes: int
    steps: int
    checkpoint: str
    checkpoint_sha256: str
    seconds: float


@dataclass(frozen=True)
class Setting:
    """Sizes of an evaluation: `quick` is the test suite's."""

    episodes: int = 100
    demonstrations: int = 200
    detector_frames: int = 2000
    detector_steps: int = 2000

    @classmethod
    def quick(cls) -> Setting:
        return cls(episodes=12, demonstrations=40, detector_frames=400, detector_steps=400)


def ladder(task: ReachTask, detector: SuccessDetector, setting: Setting, seed: int, progress: bool) -> list[Policy]:
    """Policies of graded quality: random, the detector servo with LADDER_NOISE random commands, and
    behaviour cloning on 50, 200, 1,000 and all demonstrated transitions."""
    policies: list[Policy] = [RandomPolicy()]
    policies += [DetectorServo(detector, task.world_from_pixel(), noise, f"detector servo, {noise:.0%} random")
                 for noise in sorted(LADDER_NOISE, reverse=True)]
    demos = collect_demonstrations(task, setting.demonstrations, progress=progress)
    for count in LADDER_BC:
        episodes = None if count is None else demos.labelled_episodes(count, draw=0)
        used = demos.steps * (demos.episodes if episodes is None else len(episodes))
        policies.append(behaviour_cloning(demos, episodes, seed, f"BC on {used} transitions", progress=progress))
    return policies


def evaluate_policies(checkpoint: Path, policies: list[Policy] | None, out: Path, setting: Setting | None = None,
                      seed: int = 0, detector: SuccessDetector | None = None, progress: bool = True) -> PolicyEvalResult:
    """Score `policies` (None: the ladder) in MuJoCo and in the learned simulator of `checkpoint`;
    writes policy_eval.json, the scatter plot and a picture of both worlds' episodes to `out`."""
    from genie_robotics.sim.world_model import WorldModel

    started = time.time()
    setting = setting or Setting()
    world = WorldModel.from_checkpoint(checkpoint, seed=seed)
    if world.command_map is None:
        raise GenieError(f"{checkpoint} has no command_map.json: fit one with `genie-robotics fit-command-map`")
    task = ReachTask(world.cfg.height)
    error_px = float("nan")
    if detector is None:
        detector, error_px = train_detector(task, world, setting.detector_frames, steps=setting.detector_steps,
                                            seed=seed, progress=progress)
        detector.save(out / "detector")
    if policies is None:
        policies = ladder(task, detector, setting, seed, progress)
        for policy in policies:  # the cloned rungs, to run again (evaluate-policy --policy, policy_node)
            if isinstance(policy, TablePolicy):
                policy.save(out / "policies" / policy.name.replace(" ", "_"))
    starts = start_frames(task, setting.episodes)
    scores, pictures = [], []
    for policy in policies:
        real = run_in_mujoco(task, policy, setting.episodes, progress=progress)
        learned = run_in_world_model(world, policy, starts, progress=progress)
        scores.append(PolicyScore(policy.name, float(detector.success(real.frames_ETHWC[:, -1], starts).mean()),
                                  float(detector.success(learned.frames_ETHWC[:, -1], starts).mean()),
                                  float(real.true_success_E.mean())))
        pictures.append((policy.name, real.frames_ETHWC[:2], learned.frames_ETHWC[:2]))
    real_s, sim_s = [s.mujoco_success for s in scores], [s.simulator_success for s in scores]
    result = PolicyEvalResult(scores, spearman(real_s, sim_s), pearson(real_s, sim_s), error_px, detector.radius_px,
                              setting.episodes, EPISODE_STEPS, str(checkpoint), checkpoint_sha256(checkpoint),
                              round(time.time() - started, 1))
    out.mkdir(parents=True, exist_ok=True)
    plot_ladder(result, out / "policy_eval.png")
    plot_episodes(pictures, out / "policy_episodes.png")
    atomic_write_text(out / POLICY_EVAL_FILE, result.to_json())
    return result
