"""Render robot-arm episodes with MuJoCo and store them as RLDS in the RT-1 step layout.

Nothing can be downloaded here, so this is the project's offline source of robot video. The
scene is dm_control's planar `manipulator` (an arm with a gripper, a ball or peg, a target):
it renders fast with software GL (several times faster than the Jaco arm; `bench/data.py`),
and its 5 actuators (root, shoulder, elbow, wrist, grasp) give low-dimensional true actions
that the probe can compare latent actions with. Frames are 10 FPS, as in Genie.

Two policies drive the arm:
- `teleop` (default): like a teleoperator's end-effector commands (RT-1 records end-effector
  displacements, `world_vector`). The gripper moves a fixed distance per frame in the image
  plane along one of 8 headings, held 1-4 frames, placed kinematically by inverse kinematics
  on the 4 arm joints (no torque inertia), so each frame's motion is set by that frame's action
  alone. Now and then the operator stops for 1-4 frames (a zero command, heading `STOP`), as
  real robot data pauses all the time: a world model must learn that holding still is a motion.
  The camera is framed on the arm's workspace and the arm is drawn thicker, so a 64x64 frame
  shows it clearly. Stored: `action/world_vector` (the gripper's displacement, metres)
  and `action/heading` (0-7, counter-clockwise from image-right; 8 = stopped).
- `torque`: smooth random joint torques through the physics (a new random target every few
  frames, low-pass filtered); stored as `action/joint_torque`. Its motion follows momentum
  more than the current action.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from genie_robotics.core.errors import GenieError
from genie_robotics.data.render_settings import CAMERA_ZOOM, POLICIES, RENDER_SETTINGS_FILE, SCENES, RenderSettings

ARM_ACTUATORS = 4  # root, shoulder, elbow, wrist; the fifth actuator is the gripper
ARM_JOINTS = ("arm_root", "arm_shoulder", "arm_elbow", "arm_wrist")
ARM_THICKNESS = {"torque": 1.0, "teleop": 2.0}  # visual radius scale of the arm's capsules
FPS = 10
HEADINGS = 8
STOP = HEADINGS  # `action/heading` of a paused teleop step (zero displacement)
TELEOP_PAUSE = 0.15  # chance that a new teleop segment is a pause instead of a heading
TELEOP_STEP = 0.04  # metres the gripper moves per frame (~3.5 px at 64x64)
# The gripper stays in a box the camera sees (metres, relative to the arm's root) and at a
# distance from the root that keeps the arm bent, away from the singular stretched pose.
TELEOP_BOX = 0.24
TELEOP_REACH = (0.15, 0.38)
IK_POSTURE = np.array([0.0, 0.9, 0.9, 0.3])  # preferred joint angles (radians); root angle is free
IK_POSTURE_WEIGHT = np.array([0.0, 1.0, 1.0, 1.0])
POSTURE_GAIN = 0.3


def load_scene(name: str, seed: int, policy: str = "torque", target_scale: float = 1.0):
    """A dm_control environment for a scene, with rendering set up for speed and `policy`'s framing;
    the target ball drawn `target_scale` times its size (it has no collision: purely visual)."""
    if name not in SCENES:
        raise GenieError(f"unknown scene {name!r}; choose one of: {', '.join(SCENES)}")
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        from dm_control import suite
    except ImportError as exc:
        raise GenieError(f"rendering needs the 'data' extra (pip install 'genie-robotics[data]'): {exc}") from None
    scene = SCENES[name]
    env = suite.load(scene.domain, scene.task, task_kwargs={"random": seed})
    model = env.physics.model
    model.vis.quality.offsamples = 0  # no anti-aliasing, no shadows: 3x faster, still clear
    model.vis.quality.shadowsize = 0
    camera = model.name2id("fixed", "camera")
    model.cam_fovy[camera] *= CAMERA_ZOOM[policy]
    if target_scale != 1.0:
        if b"\x00target_ball\x00" not in model.names:
            raise GenieError(f"scene {name} has no target ball to draw {target_scale:g}x larger")
        model.geom_size[model.name2id("target_ball", "geom"), 0] *= target_scale
    if ARM_THICKNESS[policy] != 1.0:  # purely visual under the kinematic policy
        arm = model.name2id("upper_arm", "body")
        for geom in range(model.ngeom):
            body = model.geom_bodyid[geom]
            while body not in (0, arm):
                body = model.body_parentid[body]
            if body == arm:
                model.geom_size[geom, 0] *= ARM_THICKNESS[policy]
    return env


def episode_features(height: int, width: int, state_dim: int, policy: str = "torque"):
    """tfds features of one episode: RT-1's step layout with this scene's true actions."""
    from genie_robotics.data.tf_env import tfds

    f = tfds().features
    if policy == "teleop":
        action = {
            "world_vector": f.Tensor(shape=(3,), dtype=np.float32),
            "heading": f.Scalar(dtype=np.int64),
            "gripper_closedness_action": f.Tensor(shape=(1,), dtype=np.float32),
        }
    else:
        action = {
            "joint_torque": f.Tensor(shape=(ARM_ACTUATORS,), dtype=np.float32),
            "gripper_closedness_action": f.Tensor(shape=(1,), dtype=np.float32),
        }
    return f.FeaturesDict({
        "steps": f.Dataset({
            "observation": f.FeaturesDict({
                "image": f.Image(shape=(height, width, 3), dtype=np.uint8, encoding_format="jpeg"),
                "natural_language_instruction": f.Text(),
                "state": f.Tensor(shape=(state_dim,), dtype=np.float32),
            }),
            "action": f.FeaturesDict(action),
            "reward": f.Scalar(dtype=np.float32),
            "is_first": f.Scalar(dtype=np.bool_),
            "is_last": f.Scalar(dtype=np.bool_),
            "is_terminal": f.Scalar(dtype=np.bool_),
        }),
        "episode_metadata": f.FeaturesDict({
            "scene": f.Text(),
            "seed": f.Scalar(dtype=np.int64),
            "episode_id": f.Scalar(dtype=np.int64),
        }),
    })


def smooth_random_actions(rng: np.random.Generator, steps: int, dim: int, hold: int = 4, smoothing: float = 0.5) -> np.ndarray:
    """[steps, dim] in [-1, 1]: a new uniform target every `hold` frames, low-pass filtered."""
    actions = np.empty((steps, dim), dtype=np.float32)
    current = np.zeros(dim, dtype=np.float32)
    target = current
    for t in range(steps):
        if t % hold == 0:
            target = rng.uniform(-1, 1, size=dim).astype(np.float32)
        current = smoothing * current + (1 - smoothing) * target
        actions[t] = current
    return actions


def render_episode(env, scene: str, steps: int, height: int, width: int, rng: np.random.Generator, seed: int, episode_id: int) -> dict:
    """One RLDS episode dict under the torque policy: `steps` frames, each with the action applied after it."""
    time_step = env.reset()
    physics = env.physics
    frame_skip = max(1, round(1.0 / (FPS * env.control_timestep())))
    actions = smooth_random_actions(rng, steps, env.action_spec().shape[0])
    out = []
    for t in range(steps):
        image = physics.render(height, width, camera_id="fixed")
        state = np.asarray(physics.data.qpos, dtype=np.float32).copy()
        reward = 0.0
        if t < steps - 1:
            for _ in range(frame_skip):
                time_step = env.step(actions[t])
                reward += float(time_step.reward or 0.0)
        out.append({
            "observation": {"image": image, "natural_language_instruction": SCENES[scene].instruction, "state": state},
            "action": {"joint_torque": actions[t, :ARM_ACTUATORS], "gripper_closedness_action": actions[t, ARM_ACTUATORS:]},
            "reward": np.float32(reward / frame_skip),
            "is_first": t == 0,
            "is_last": t == steps - 1,
            "is_terminal": False,  # episodes are cut by length, not ended by the task
        })
    return {"steps": out, "episode_metadata": {"scene": scene, "seed": seed, "episode_id": episode_id}}


class GripperIK:
    """Places the gripper at an image-plane point by damped least squares on the 4 arm joints."""

    def __init__(self, physics) -> None:
        import mujoco

        self._mujoco = mujoco
        self.physics = physics
        model = physics.model
        self.site = model.name2id("grasp", "site")
        joints = [model.name2id(j, "joint") for j in ARM_JOINTS]
        self.dofs = [int(model.jnt_dofadr[j]) for j in joints]
        self.qpos = [int(model.jnt_qposadr[j]) for j in joints]
        self.low = np.array([model.jnt_range[j, 0] if model.jnt_limited[j] else -np.inf for j in joints])
        self.high = np.array([model.jnt_range[j, 1] if model.jnt_limited[j] else np.inf for j in joints])
        self.root = physics.named.data.xpos["upper_arm"][[0, 2]].copy()

    def gripper(self) -> np.ndarray:
        """The gripper's (x, z) in metres relative to the arm's root (x = image right, z = up)."""
        return self.physics.data.site_xpos[self.site][[0, 2]] - self.root

    def move_to(self, target_xz: np.ndarray, iterations: int = 12) -> None:
        physics = self.physics
        model, data = physics.model, physics.data
        jac = np.zeros((3, model.nv))
        for _ in range(iterations):
            error = target_xz - self.gripper()
            if np.abs(error).max() < 1e-4:
                break
            self._mujoco.mj_jacSite(model.ptr, data.ptr, jac, None, self.site)
            J = jac[[0, 2]][:, self.dofs]
            J_pinv = J.T @ np.linalg.inv(J @ J.T + 1e-3 * np.eye(2))
            # The arm has 4 joints for a 2-D point: the spare freedom pulls it towards one bent
            # posture (elbow to the same side), so it never folds onto itself.
            q = data.qpos[self.qpos]
            posture = POSTURE_GAIN * (IK_POSTURE - q) * (IK_POSTURE_WEIGHT)
            dq = J_pinv @ error + (np.eye(len(q)) - J_pinv @ J) @ posture
            data.qpos[self.qpos] = np.clip(q + dq, self.low, self.high)
            physics.forward()


def teleop_reachable(point_xz: np.ndarray) -> bool:
    """Inside the framed box and the bent-arm reach band."""
    reach = float(np.hypot(*point_xz))
    return bool(np.abs(point_xz).max() <= TELEOP_BOX and TELEOP_REACH[0] <= reach <= TELEOP_REACH[1])


def heading_vector(heading: int) -> np.ndarray:
    """Unit image-plane direction of a heading (zero for `STOP`)."""
    if heading == STOP:
        return np.zeros(2)
    angle = heading * 2 * np.pi / HEADINGS
    return np.array([np.cos(angle), np.sin(angle)])


def render_teleop_episode(env, scene: str, steps: int, height: int, width: int, rng: np.random.Generator, seed: int,
                          episode_id: int) -> dict:
    """One RLDS episode under the teleop policy: the gripper moves TELEOP_STEP along a heading
    held 1-4 frames, or stops for 1-4 frames (chance TELEOP_PAUSE per segment); a heading that
    would leave the workspace is replaced by a reachable one."""
    env.reset()
    physics = env.physics
    ik = GripperIK(physics)
    start = None
    while start is None or not teleop_reachable(start):
        start = rng.uniform(-TELEOP_BOX, TELEOP_BOX, size=2)
    ik.move_to(start, iterations=60)
    heading, hold = 0, 0
    out = []
    for t in range(steps):
        image = physics.render(height, width, camera_id="fixed")
        state = np.asarray(physics.data.qpos, dtype=np.float32).copy()
        here = ik.gripper().copy()
        if hold == 0:
            heading, hold = int(rng.integers(HEADINGS)), int(rng.integers(1, 5))
            if rng.random() < TELEOP_PAUSE:
                heading = STOP
        if heading != STOP and not teleop_reachable(here + TELEOP_STEP * heading_vector(heading)):
            allowed = [h for h in range(HEADINGS) if teleop_reachable(here + TELEOP_STEP * heading_vector(h))]
            heading = int(rng.choice(allowed)) if allowed else int(np.argmin([np.dot(heading_vector(h), here) for h in range(HEADINGS)]))
        hold -= 1
        if t < steps - 1 and heading != STOP:
            ik.move_to(here + TELEOP_STEP * heading_vector(heading))
        moved = ik.gripper() - here
        out.append({
            "observation": {"image": image, "natural_language_instruction": SCENES[scene].instruction, "state": state},
            "action": {
                "world_vector": np.array([moved[0], 0.0, moved[1]], dtype=np.float32),
                "heading": np.int64(heading),
                "gripper_closedness_action": np.zeros(1, dtype=np.float32),
            },
            "reward": np.float32(0.0),
            "is_first": t == 0,
            "is_last": t == steps - 1,
            "is_terminal": False,
        })
    return {"steps": out, "episode_metadata": {"scene": scene, "seed": seed, "episode_id": episode_id}}


def render_dataset(out: str | Path, settings: RenderSettings, overwrite: bool = False, progress: bool = True) -> Path:
    """Render the episodes `settings` describe as an RLDS dataset directory at `out`, with the
    settings beside them in data.json."""
    from genie_robotics.data.rlds_writer import check_output_dir, write_rlds

    episodes, steps, seed, scene, policy = settings.episodes, settings.steps, settings.seed, settings.scene, settings.policy
    height, width = settings.height_width
    if episodes < 1 or steps < 2:
        raise GenieError(f"need at least 1 episode of at least 2 steps, got {episodes} x {steps}")
    if height < 16 or width < 16:
        raise GenieError(f"image size {height}x{width} is too small (min 16x16)")
    if policy not in POLICIES:
        raise GenieError(f"unknown policy {policy!r}; choose one of: {', '.join(POLICIES)}")
    check_output_dir(Path(out), overwrite)
    env = load_scene(scene, seed, policy, settings.target_scale)
    episode = render_teleop_episode if policy == "teleop" else render_episode
    rng = np.random.default_rng(seed)
    state_dim = env.physics.data.qpos.shape[0]

    def generate():
        for e in tqdm(range(episodes), desc=f"render {scene}", unit="episode", disable=not progress):
            yield episode(env, scene, steps, height, width, rng, seed, e)

    out = write_rlds(
        out, "genie_mujoco_" + scene.replace("-", "_"), episode_features(height, width, state_dim, policy), generate(),
        description=f"{episodes} episodes x {steps} steps of dm_control {scene}, {policy} policy, at {FPS} FPS, "
                    f"{height}x{width}, seed {seed}",
        overwrite=overwrite,
    )
    settings.save(out / RENDER_SETTINGS_FILE)
    return out
