"""The rendered robot video: the teleop policy's actions are what the camera sees."""
import json

import numpy as np
import pytest

from genie_robotics.core.errors import GenieError
from genie_robotics.data.mujoco_render import (
    HEADINGS,
    STOP,
    TELEOP_STEP,
    heading_vector,
    load_scene,
    render_dataset,
)
from genie_robotics.data.render_settings import POLICIES, RenderSettings
from genie_robotics.data.rlds_reader import ClipSpec, RLDSClipDataset, open_rlds


def _episodes(path, frames):
    spec = ClipSpec(frames=frames, height=64, width=64, stride=frames, shuffle_buffer=0, repeat=False, part="all",
                    with_actions=True)
    return list(RLDSClipDataset([path], spec))


def test_teleop_moves_the_gripper_along_the_stored_heading_and_pauses(tmp_path):
    path = render_dataset(tmp_path / "teleop", RenderSettings(episodes=6, steps=16, seed=5), progress=False)
    src = open_rlds(path)
    episodes = _episodes(path, 16)
    moving, moved, aligned, stops = 0, 0, 0, 0
    for clip in episodes:
        heading = clip["actions"][:, src.action_columns("heading")].numpy().ravel().astype(int)
        world_vector = clip["actions"][:, src.action_columns("world_vector")].numpy()
        frames = clip["frames"].numpy().astype(int)
        assert np.all(world_vector[:, 1] == 0)  # a planar arm: no motion towards the camera
        for t in range(15):  # the last step's action is never applied
            step_xz = world_vector[t, [0, 2]]
            if heading[t] == STOP:  # a pause: no command, and the camera sees nothing move
                stops += 1
                assert np.all(step_xz == 0) and np.abs(frames[t + 1] - frames[t]).max() <= 2
                continue
            moving += 1
            moved += np.linalg.norm(step_xz) > 0.8 * TELEOP_STEP
            aligned += np.dot(step_xz, heading_vector(heading[t])) > 0.9 * np.linalg.norm(step_xz)
        changed = (np.abs(frames[1:] - frames[:-1]).max(-1) > 25).mean(axis=(1, 2))
        assert np.median(changed) > 0.01, "the arm hardly moves in the picture"
        assert set(heading) <= set(range(HEADINGS + 1))
    assert moved >= 0.9 * moving and aligned >= 0.9 * moving, (moved, aligned, moving)
    assert 0 < stops < 0.4 * (moving + stops), stops  # pauses now and then, not all the time


def test_render_arguments_are_kept_beside_the_dataset(tmp_path):
    path = render_dataset(tmp_path / "d", RenderSettings(episodes=1, steps=3, size="32x48", seed=7, scene="manipulator-peg",
                                                     policy="torque"), progress=False)
    args = RenderSettings.load(path / "data.json")
    assert args == RenderSettings("manipulator-peg", "32x48", 3, "torque", 7, 1) and args.height_width == (32, 48)
    assert open_rlds(path).action_keys == [("gripper_closedness_action",), ("joint_torque",)]
    (tmp_path / "bad.json").write_text(json.dumps({"scene": "x"}))
    with pytest.raises(GenieError, match="not a data.json"):
        RenderSettings.load(tmp_path / "bad.json")


def test_unknown_policy_is_refused(tmp_path):
    with pytest.raises(GenieError, match="unknown policy 'joystick'"):
        render_dataset(tmp_path / "d", RenderSettings(episodes=1, steps=3, policy="joystick"), progress=False)


@pytest.mark.parametrize("policy", POLICIES)
def test_recorded_camera_fov_is_the_rendering_cameras(policy):
    """camera_info's intrinsics (ros_nodes/camera.py) come from RenderSettings.camera_fovy_deg: it must match
    the field of view load_scene really renders with."""
    env = load_scene("manipulator-ball", 0, policy)
    model = env.physics.model
    rendered = float(model.cam_fovy[model.name2id("fixed", "camera")])
    assert RenderSettings("manipulator-ball", "64x64", 8, policy, 0, 1).camera_fovy_deg == pytest.approx(rendered)


def test_target_scale_draws_the_target_larger_and_old_data_json_files_still_load(tmp_path):
    def target_radius(scale):
        env = load_scene("manipulator-ball", 0, "teleop", target_scale=scale)
        model = env.physics.model
        return model.geom_size[model.name2id("target_ball", "geom"), 0]

    assert target_radius(2.0) == pytest.approx(2 * target_radius(1.0))
    with pytest.raises(GenieError, match="no target ball"):
        load_scene("manipulator-peg", 0, "teleop", target_scale=2.0)
    settings = RenderSettings(episodes=1, steps=3, target_scale=2.0)
    settings.save(tmp_path / "data.json")
    assert RenderSettings.load(tmp_path / "data.json") == settings
    older = {k: v for k, v in json.loads((tmp_path / "data.json").read_text()).items() if k != "target_scale"}
    (tmp_path / "old.json").write_text(json.dumps(older))
    assert RenderSettings.load(tmp_path / "old.json").target_scale == 1.0
    (tmp_path / "bad.json").write_text(json.dumps(older | {"target_scale": -1}))
    with pytest.raises(GenieError, match="target_scale must be a number > 0"):
        RenderSettings.load(tmp_path / "bad.json")
