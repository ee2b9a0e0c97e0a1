"""A small dataset with the full RT-1 (fractal20220817_data 0.1.0) feature spec, for tests.

Frame (e, t) is a constant image whose red channel encodes the step (10 t + 5) and green the
episode (20 e + 10), so tests can read back where every frame of a clip came from.
"""
from pathlib import Path

import numpy as np

from genie_robotics.data.rlds_writer import write_rlds
from genie_robotics.data.tf_env import tfds


def rt1_features(height=256, width=320):
    f = tfds().features
    t = lambda shape, dtype=np.float32: f.Tensor(shape=shape, dtype=dtype)  # noqa: E731
    text_ids = {k: f.Scalar(dtype=np.int64) for k in
                ("collection_mode", "data_type", "env", "location", "objects_family", "task_family")}
    text_names = {f"{k}_name": f.Text() for k in text_ids}
    return f.FeaturesDict({
        "aspects": f.FeaturesDict({k: f.Scalar(dtype=np.bool_) for k in
                                   ("already_success", "feasible", "has_aspects", "success", "undesirable")}),
        "attributes": f.FeaturesDict({**text_ids, **text_names}),
        "steps": f.Dataset({
            "action": f.FeaturesDict({
                "base_displacement_vector": t((2,)),
                "base_displacement_vertical_rotation": t((1,)),
                "gripper_closedness_action": t((1,)),
                "rotation_delta": t((3,)),
                "terminate_episode": t((3,), np.int32),
                "world_vector": t((3,)),
            }),
            "is_first": f.Scalar(dtype=np.bool_),
            "is_last": f.Scalar(dtype=np.bool_),
            "is_terminal": f.Scalar(dtype=np.bool_),
            "reward": f.Scalar(dtype=np.float32),
            "observation": f.FeaturesDict({
                "image": f.Image(shape=(height, width, 3), dtype=np.uint8, encoding_format="jpeg"),
                "natural_language_instruction": f.Text(),
                "natural_language_embedding": t((512,)),
                "base_pose_tool_reached": t((7,)),
                "gripper_closed": t((1,)),
                "gripper_closedness_commanded": t((1,)),
                "height_to_bottom": t((1,)),
                "orientation_box": t((2, 3)),
                "orientation_start": t((4,)),
                "robot_orientation_positions_box": t((3, 3)),
                "rotation_delta_to_go": t((3,)),
                "src_rotation": t((4,)),
                "vector_to_go": t((3,)),
                "workspace_bounds": t((3, 3)),
            }),
        }),
    })


def _step(e, t, steps, height, width, features):
    obs_spec = features["steps"]["observation"]
    obs = {k: np.zeros(obs_spec[k].shape, np.float32) for k in obs_spec.keys()
           if k not in ("image", "natural_language_instruction")}
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 10 * t + 5, 20 * e + 10, 128
    obs.update(image=image, natural_language_instruction="pick rxbar chocolate from bottom drawer")
    return {
        "action": {
            "base_displacement_vector": np.zeros(2, np.float32),
            "base_displacement_vertical_rotation": np.zeros(1, np.float32),
            "gripper_closedness_action": np.array([t % 2], np.float32),
            "rotation_delta": np.zeros(3, np.float32),
            "terminate_episode": np.array([0, 1, 0], np.int32),
            "world_vector": np.array([t, e, 0.5], np.float32),
        },
        "is_first": t == 0, "is_last": t == steps - 1, "is_terminal": t == steps - 1,
        "reward": np.float32(t == steps - 1),
        "observation": obs,
    }


def write_rt1_like(out: Path, episodes=6, steps=10, height=256, width=320) -> Path:
    features = rt1_features(height, width)
    names = {f"{k}_name": "x" for k in ("collection_mode", "data_type", "env", "location", "objects_family", "task_family")}
    ids = {k[:-5]: 0 for k in names}

    def gen():
        for e in range(episodes):
            yield {
                "aspects": dict.fromkeys(("already_success", "feasible", "has_aspects", "success", "undesirable"), False),
                "attributes": {**ids, **names},
                "steps": [_step(e, t, steps, height, width, features) for t in range(steps)],
            }

    return write_rlds(out, "fractal20220817_data", features, gen())


def decode(frames_THWC):
    """(episode, steps) encoded in a clip's frames."""
    frames = np.asarray(frames_THWC, dtype=np.float32)
    steps = np.round((frames[..., 0].mean(axis=(1, 2)) - 5) / 10).astype(int)
    episodes = np.round((frames[..., 1].mean(axis=(1, 2)) - 10) / 20).astype(int)
    assert len(set(episodes.tolist())) == 1, f"clip spans episodes {episodes}"
    return int(episodes[0]), steps.tolist()
