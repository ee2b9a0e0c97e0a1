"""Render robot-arm episodes with MuJoCo and store them as RLDS in the RT-1 step layout.

Nothing can be downloaded here, so this is the project's offline source of robot video. The
scene is dm_control's planar `manipulator` (an arm with a gripper, a ball or peg, a target):
it renders at ~100 frames/s at 256x320 with software GL on 2 cores (the Jaco arm manages ~25),
and its 5 actuators (root, shoulder, elbow, wrist, grasp) give low-dimensional true actions
that the probe can compare latent actions with. The arm follows a smooth random policy: a new
random torque target every few frames, low-pass filtered. Frames are 10 FPS, as in Genie.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from genie_robotics.errors import GenieError


@dataclass(frozen=True)
class Scene:
    domain: str
    task: str
    instruction: str


SCENES = {
    "manipulator-ball": Scene("manipulator", "bring_ball", "bring the ball to the target"),
    "manipulator-peg": Scene("manipulator", "insert_peg", "insert the peg into the slot"),
}
ARM_ACTUATORS = 4  # root, shoulder, elbow, wrist; the fifth actuator is the gripper
CAMERA_ZOOM = 0.75  # narrows the fixed camera's field of view: the arm fills more of a 64x64 frame
FPS = 10


def load_scene(name: str, seed: int):
    """A dm_control environment for a scene, with rendering set up for speed."""
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
    model.cam_fovy[camera] *= CAMERA_ZOOM
    return env


def episode_features(height: int, width: int, state_dim: int):
    """tfds features of one episode: RT-1's step layout with this scene's true actions."""
    from genie_robotics.data.tf_env import tfds

    f = tfds().features
    return f.FeaturesDict({
        "steps": f.Dataset({
            "observation": f.FeaturesDict({
                "image": f.Image(shape=(height, width, 3), dtype=np.uint8, encoding_format="jpeg"),
                "natural_language_instruction": f.Text(),
                "state": f.Tensor(shape=(state_dim,), dtype=np.float32),
            }),
            "action": f.FeaturesDict({
                "joint_torque": f.Tensor(shape=(ARM_ACTUATORS,), dtype=np.float32),
                "gripper_closedness_action": f.Tensor(shape=(1,), dtype=np.float32),
            }),
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
    """One RLDS episode dict: `steps` frames, each with the action applied after it."""
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


def render_dataset(
    out: str | Path,
    episodes: int,
    steps: int,
    height: int = 64,
    width: int = 64,
    seed: int = 0,
    scene: str = "manipulator-ball",
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Render `episodes` episodes and write them as an RLDS dataset directory at `out`."""
    from genie_robotics.data.rlds_writer import check_output_dir, write_rlds

    if episodes < 1 or steps < 2:
        raise GenieError(f"need at least 1 episode of at least 2 steps, got {episodes} x {steps}")
    if height < 16 or width < 16:
        raise GenieError(f"image size {height}x{width} is too small (min 16x16)")
    check_output_dir(Path(out), overwrite)
    env = load_scene(scene, seed)
    rng = np.random.default_rng(seed)
    state_dim = env.physics.data.qpos.shape[0]

    def generate():
        for e in tqdm(range(episodes), desc=f"render {scene}", unit="episode", disable=not progress):
            yield render_episode(env, scene, steps, height, width, rng, seed, e)

    return write_rlds(
        out, "genie_mujoco_" + scene.replace("-", "_"), episode_features(height, width, state_dim), generate(),
        description=f"{episodes} episodes x {steps} steps of dm_control {scene} at {FPS} FPS, {height}x{width}, seed {seed}",
        overwrite=overwrite,
    )
