"""The reach task in the teleop scene: bring the gripper within 5 cm of the target ball in 25 steps.

A policy here acts as a teleoperator (and RT-1) does: each step it commands the gripper's
displacement over one frame (`world_vector`, metres; x right, z up in the image plane), and the
arm follows by inverse kinematics, exactly as in the video the world model learned from. The
scene is framed and drawn like that video, so one 64x64 frame feeds a pixel policy in MuJoCo and
in the learned simulator alike. The teleop commands are 8 headings of one step (4 cm) and stop.
"""
from __future__ import annotations

import os

import numpy as np

from genie_robotics.data.mujoco_render import (
    HEADINGS,
    STOP,
    TELEOP_BOX,
    TELEOP_STEP,
    GripperIK,
    heading_vector,
    load_scene,
    teleop_reachable,
)

SCENE = "manipulator-ball"
SUCCESS_RADIUS = 0.05  # metres between the gripper and the target at the last step
EPISODE_STEPS = 25  # commands per episode (2.5 s at 10 FPS)
MIN_START_DISTANCE = 0.12  # the target starts at least 3 teleop steps from the gripper
TARGET_SCALE = 2.0  # the target ball's drawn radius over the scene's (purely visual: nothing touches it)
EXPERT_HOLD = 0.035  # the expert stops once this close (inside the success radius)
# The 9 teleop commands as world_vectors [9, 3]: heading h at index h, stop (zero) at index STOP.
COMMANDS_C3 = np.array([[*TELEOP_STEP * heading_vector(h)[:1], 0.0, TELEOP_STEP * heading_vector(h)[1]]
                        for h in range(HEADINGS)] + [[0.0, 0.0, 0.0]])
NUM_COMMANDS = len(COMMANDS_C3)


def command_classes(world_vectors_N3: np.ndarray) -> np.ndarray:
    """The teleop command [N] nearest each displacement: stop below half a step, else the heading."""
    v = np.asarray(world_vectors_N3, dtype=np.float64).reshape(-1, 3)
    heading = np.round(np.arctan2(v[:, 2], v[:, 0]) / (2 * np.pi / HEADINGS)).astype(np.int64) % HEADINGS
    return np.where(np.hypot(v[:, 0], v[:, 2]) < TELEOP_STEP / 2, STOP, heading)


def expert_choice(gripper_2: np.ndarray, to_target_2: np.ndarray) -> int:
    """Index into COMMANDS_C3: toward the target along the reachable heading closest to it; stop
    once within EXPERT_HOLD (positions as (x, z) metres from the arm's root)."""
    if np.linalg.norm(to_target_2) < EXPERT_HOLD:
        return STOP
    score = [np.dot(heading_vector(h), to_target_2) if teleop_reachable(gripper_2 + TELEOP_STEP * heading_vector(h))
             else -np.inf for h in range(HEADINGS)]
    return int(np.argmax(score))


class ReachTask:
    """dm_control manipulator-ball under teleop control, with the target placed in the workspace."""

    def __init__(self, size: int = 64) -> None:
        os.environ.setdefault("MUJOCO_GL", "egl")
        self.size = size
        self.env = load_scene(SCENE, 0, policy="teleop", target_scale=TARGET_SCALE)
        self.physics = self.env.physics
        self.env.reset()
        self.ik = GripperIK(self.physics)
        self._projection = self._camera_projection()

    def _camera_projection(self):
        """World (x, z) -> pixel (column, row) of the fixed camera at `size` x `size`."""
        data, model = self.physics.named.data, self.physics.model
        centre, rotation = data.cam_xpos["fixed"].copy(), data.cam_xmat["fixed"].reshape(3, 3).copy()
        focal = (self.size / 2) / np.tan(np.deg2rad(model.cam_fovy[model.name2id("fixed", "camera")]) / 2)

        def project(points_N3: np.ndarray) -> np.ndarray:
            cam_N3 = (points_N3 - centre) @ rotation  # camera axes: x right, y up, z backwards
            depth_N = -cam_N3[:, 2]
            return np.stack((self.size / 2 + focal * cam_N3[:, 0] / depth_N,
                             self.size / 2 - focal * cam_N3[:, 1] / depth_N), axis=1)
        return project

    @property
    def metres_per_pixel(self) -> float:
        col = self.pixels(np.array([[0.0, 0.0], [0.1, 0.0]]))[:, 0]
        return 0.1 / float(col[1] - col[0])

    def world_from_pixel(self) -> np.ndarray:
        """The camera's calibration as a pixel policy may know it: [2, 3] affine map from pixel
        (column, row, 1) to (x, z) metres from the arm's root on the arm's plane (exact here: the
        fixed camera looks straight at the plane, so every point of it is at one depth)."""
        corners_32 = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1]])
        pixels_33 = np.concatenate((self.pixels(corners_32), np.ones((3, 1))), axis=1)
        return np.linalg.solve(pixels_33, corners_32).T

    def reset(self, seed: int) -> np.ndarray:
        """Arm, ball and target placed from `seed`; the first frame."""
        rng = np.random.default_rng(seed)
        self.env.task.random.seed(seed)
        self.env.reset()
        start = target = None
        while start is None or not teleop_reachable(start):
            start = rng.uniform(-TELEOP_BOX, TELEOP_BOX, size=2)
        while target is None or not teleop_reachable(target) or np.linalg.norm(target - start) < MIN_START_DISTANCE:
            target = rng.uniform(-TELEOP_BOX, TELEOP_BOX, size=2)
        self.place_target(target)
        self.ik.move_to(start, iterations=60)
        return self.render()

    def place_target(self, target_xz: np.ndarray) -> None:
        pos = self.physics.named.model.body_pos["target_ball"]
        pos[0], pos[2] = self.ik.root + target_xz
        self.physics.forward()

    def step(self, command_3: np.ndarray) -> np.ndarray:
        """Move the gripper by a world_vector (a goal outside the workspace leaves it where it is)."""
        goal = self.gripper() + np.asarray(command_3, dtype=np.float64)[[0, 2]]
        if teleop_reachable(goal):
            self.ik.move_to(goal)
        return self.render()

    def render(self) -> np.ndarray:
        return np.ascontiguousarray(self.physics.render(self.size, self.size, camera_id="fixed"))

    def gripper(self) -> np.ndarray:
        """(x, z) of the gripper, metres from the arm's root."""
        return self.ik.gripper().copy()

    def target(self) -> np.ndarray:
        return self.physics.named.data.site_xpos["target_ball"][[0, 2]] - self.ik.root

    def distance(self) -> float:
        return float(np.linalg.norm(self.target() - self.gripper()))

    def pixels(self, points_rel_root_N2: np.ndarray) -> np.ndarray:
        """Pixel (column, row) [N, 2] of points given as (x, z) metres from the root."""
        xz = np.asarray(points_rel_root_N2, dtype=np.float64).reshape(-1, 2) + self.ik.root
        return self._projection(np.stack((xz[:, 0], np.zeros(len(xz)), xz[:, 1]), axis=1))

    def keypoints(self) -> np.ndarray:
        """Pixel positions [2, 2] of the gripper and the target: what the success detector reads."""
        return self.pixels(np.stack((self.gripper(), self.target())))

    def expert_command(self) -> np.ndarray:
        """The expert's command from MuJoCo's state (see `expert_choice`)."""
        return COMMANDS_C3[expert_choice(self.gripper(), self.target() - self.gripper())]
