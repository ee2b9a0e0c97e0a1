"""Score an episode from its frames alone: locate the gripper and the target, compare their distance.

The learned simulator has no state to read success from, so both worlds are scored the same
way, from pixels: a pixel network regresses the gripper's and the target's pixel positions,
trained on rendered frames labelled with MuJoCo's positions (projected through the camera). Half
of its training frames are also passed through the world model's tokenizer (encoded and decoded,
as the simulator draws them), so it reads the simulator's blurrier frames too; its error is
measured on held-out rendered frames, in pixels.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from genie_robotics.data.mujoco_render import TELEOP_STEP
from genie_robotics.policies.pixel_net import PixelNet, fit_pixel_net
from genie_robotics.policies.reach_task import SUCCESS_RADIUS, ReachTask

DETECTOR_SEED = 300_000  # episode seeds of the detector's frames (policies are evaluated from 200_000)


@dataclass
class SuccessDetector:
    net: PixelNet
    radius_px: float  # the success radius in pixels

    def locate(self, frames_BHWC: np.ndarray) -> np.ndarray:
        """Pixel (column, row) of the gripper and the target [B, 2, 2]."""
        return self.net.predict(frames_BHWC).reshape(-1, 2, 2)

    def distance_px(self, frames_BHWC: np.ndarray, starts_BHWC: np.ndarray | None = None) -> np.ndarray:
        """Gripper-to-target distance [B] in pixels; with `starts_BHWC` (each episode's start frame)
        the target is located there: it never moves, and a start frame is a real camera frame in
        both worlds, so a simulator that blurs the target away is scored on where its gripper went."""
        points = self.locate(frames_BHWC)
        target_B2 = points[:, 1] if starts_BHWC is None else self.locate(starts_BHWC)[:, 1]
        return np.linalg.norm(points[:, 0] - target_B2, axis=1)

    def success(self, frames_BHWC: np.ndarray, starts_BHWC: np.ndarray | None = None) -> np.ndarray:
        """bool [B]: the gripper within the success radius of the target (see `distance_px`)."""
        return self.distance_px(frames_BHWC, starts_BHWC) < self.radius_px

    def save(self, path: Path) -> None:
        self.net.save(path, {"radius_px": self.radius_px})

    @classmethod
    def load(cls, path: Path) -> SuccessDetector:
        net, header = PixelNet.load(path)
        return cls(net, float(header["radius_px"]))


def detector_frames(task: ReachTask, count: int, seed: int, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """`count` rendered frames [N, H, W, 3] and their keypoints [N, 4]: random starts, each moved a few
    random teleop steps; a third with the gripper placed near the target (the frames success reads)."""
    rng = np.random.default_rng(seed)
    frames, points = [], []
    for i in tqdm(range(count), desc="render detector frames", unit="frame", disable=not progress, mininterval=2.0):
        task.reset(seed + i)
        if rng.random() < 1 / 3:
            near = task.target() + rng.uniform(-2, 2, size=2) * TELEOP_STEP
            task.step(np.array([near[0] - task.gripper()[0], 0.0, near[1] - task.gripper()[1]]))
        frames.append(task.render())
        points.append(task.keypoints().reshape(-1))
    return np.asarray(frames, np.uint8), np.asarray(points, np.float32)


def train_detector(task: ReachTask, world=None, frames: int = 3000, heldout: int = 300, steps: int = 3000,
                   seed: int = 0, progress: bool = True) -> tuple[SuccessDetector, float]:
    """A detector and its mean keypoint error in pixels on `heldout` rendered frames it never saw.
    `world` (a WorldModel): half the training frames are also seen through its tokenizer."""
    train_NHWC, train_N4 = detector_frames(task, frames, DETECTOR_SEED, progress)
    test_NHWC, test_N4 = detector_frames(task, heldout, DETECTOR_SEED + frames, progress)
    if world is not None:
        half = np.arange(0, frames, 2)
        train_NHWC = np.concatenate((train_NHWC, _through_tokenizer(world, train_NHWC[half])))
        train_N4 = np.concatenate((train_N4, train_N4[half]))
    net = fit_pixel_net(train_NHWC, train_N4, 4, steps, seed, classes=False, lr=3e-3, desc="train success detector",
                        progress=progress)
    detector = SuccessDetector(net, SUCCESS_RADIUS / task.metres_per_pixel)
    error = np.linalg.norm(detector.locate(test_NHWC) - test_N4.reshape(-1, 2, 2), axis=2)
    return detector, float(error.mean())


def _through_tokenizer(world, frames_NHWC: np.ndarray, batch: int = 64) -> np.ndarray:
    """The frames as the world model draws them (encoded and decoded)."""
    return np.concatenate([world.reset(frames_NHWC[i:i + batch]) for i in range(0, len(frames_NHWC), batch)])
