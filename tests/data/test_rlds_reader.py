import numpy as np
import pytest

from genie_robotics.core.errors import GenieError
from genie_robotics.data.rlds_reader import ClipSpec, RLDSClipDataset, open_rlds
from tests.data.rt1 import decode, write_rt1_like


def _all_clips(path, **spec):
    spec = ClipSpec(**{"shuffle_buffer": 0, "repeat": False, "part": "all", **spec})
    return list(RLDSClipDataset([path], spec))


def test_rt1_copy_reads_through_the_user_code_path(rt1_dir):
    src = open_rlds(rt1_dir)
    assert src.image_key == "image" and src.image_shape == (256, 320, 3) and src.episodes == 6
    assert src.action_dim == 2 + 1 + 1 + 3 + 3 + 3  # every RT-1 action field, flattened
    assert src.action_columns("world_vector") == slice(10, 13)  # sorted keys: world_vector comes last
    assert src.action_columns("rotation_delta") == slice(4, 7) and src.action_columns("heading") is None
    clips = _all_clips(rt1_dir, frames=4, height=64, width=64, stride=3, with_actions=True)
    # 10 steps, windows of 4 every 3 steps: starts 0, 3, 6 -> 3 clips per episode.
    assert len(clips) == 6 * 3
    starts = {}
    for clip in clips:
        assert clip["frames"].shape == (4, 64, 64, 3) and str(clip["frames"].dtype) == "torch.uint8"
        episode, steps = decode(clip["frames"])  # asserts the clip stays inside one episode
        assert steps == list(range(steps[0], steps[0] + 4))
        starts.setdefault(episode, []).append(steps[0])
        world_vector = clip["actions"][:, src.action_columns("world_vector")].numpy()
        assert np.allclose(world_vector[:, 0], steps) and np.allclose(world_vector[:, 1], episode)
    assert {e: sorted(s) for e, s in starts.items()} == {e: [0, 3, 6] for e in range(6)}


def test_pointing_at_the_dataset_folder_finds_its_version_folder(rt1_dir):
    assert open_rlds(rt1_dir.parent).path == rt1_dir


def test_rendered_mujoco_dataset_reads_back(mujoco_dir):
    src = open_rlds(mujoco_dir)
    assert src.image_shape == (48, 64, 3) and src.action_dim == 5 and src.episodes == 4
    assert src.action_keys == [("gripper_closedness_action",), ("heading",), ("world_vector",)]
    clips = _all_clips(mujoco_dir, frames=4, height=32, width=32, stride=4, with_actions=True)
    assert len(clips) == 4 * 2
    for clip in clips:
        assert clip["frames"].shape == (4, 32, 32, 3) and clip["actions"].shape == (4, 5)
        assert clip["frames"].float().std() > 5  # a rendered scene, not a blank
        heading, world_vector = clip["actions"][:, src.action_columns("heading")], clip["actions"][:, src.action_columns("world_vector")]
        assert set(heading.flatten().tolist()) <= set(range(9)) and world_vector.norm(dim=1).max() <= 0.05  # 8: stopped


def test_train_and_validation_split_by_episode(rt1_dir):
    train = {c["episode"] for c in _all_clips(rt1_dir, frames=4, part="train", val_fraction=0.34)}
    val = {c["episode"] for c in _all_clips(rt1_dir, frames=4, part="validation", val_fraction=0.34)}
    assert len(train) == 4 and len(val) == 2 and not train & val


def test_two_ranks_read_disjoint_episodes(rt1_dir):
    spec = ClipSpec(frames=4, shuffle_buffer=0, repeat=False, part="all")
    seen = [{c["episode"] for c in RLDSClipDataset([rt1_dir], spec, rank=r, world_size=2)} for r in (0, 1)]
    assert seen[0] and seen[1] and not seen[0] & seen[1]
    assert len(seen[0] | seen[1]) == 6


def test_datasets_are_mixed_by_weight(rt1_dir, mujoco_dir):
    spec = ClipSpec(frames=4, height=32, width=32, shuffle_buffer=16, seed=1)
    stream = iter(RLDSClipDataset([f"{rt1_dir}:3", f"{mujoco_dir}:1"], spec))
    from_rt1 = [("fractal" in next(stream)["episode"]) for _ in range(200)]
    assert 0.62 <= np.mean(from_rt1) <= 0.88


def test_images_smaller_than_the_clip_are_resized(tmp_path):
    small = write_rt1_like(tmp_path / "small", episodes=2, steps=5, height=24, width=30)
    clips = _all_clips(small, frames=5, height=64, width=64)
    assert len(clips) == 2 and clips[0]["frames"].shape == (5, 64, 64, 3)
    decode(clips[0]["frames"])


def test_missing_directory(tmp_path):
    with pytest.raises(GenieError, match="does not exist"):
        open_rlds(tmp_path / "nope")


def test_directory_that_is_not_a_dataset(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(GenieError, match="not a TFDS/RLDS dataset directory"):
        open_rlds(tmp_path)


def test_no_image_key_lists_the_keys_that_exist(tmp_path):
    from genie_robotics.data.rlds_writer import write_rlds
    from genie_robotics.data.tf_env import tfds

    f = tfds().features
    features = f.FeaturesDict({"steps": f.Dataset({
        "observation": f.FeaturesDict({"depth": f.Tensor(shape=(4, 4), dtype=np.float32),
                                       "joint_pos": f.Tensor(shape=(7,), dtype=np.float32)}),
        "is_first": f.Scalar(dtype=np.bool_),
    })})
    episode = {"steps": [{"observation": {"depth": np.zeros((4, 4), np.float32), "joint_pos": np.zeros(7, np.float32)},
                          "is_first": True}]}
    path = write_rlds(tmp_path / "noimg", "no_images", features, [episode])
    with pytest.raises(GenieError, match="no camera image found.*depth, joint_pos"):
        open_rlds(path)
    with pytest.raises(GenieError, match="image key 'rgb' is not an image"):
        open_rlds(path, image_key="rgb")


def test_truncated_record_file_is_named(tmp_path):
    path = write_rt1_like(tmp_path / "trunc", episodes=3, steps=6, height=32, width=40)
    record = next(path.glob("*.tfrecord*"))
    record.write_bytes(record.read_bytes()[: record.stat().st_size * 2 // 3])
    with pytest.raises(GenieError) as err:
        _all_clips(path, frames=4)
    assert f"record file {record} is truncated or corrupt" == str(err.value)


def test_more_ranks_than_episodes_is_refused(rt1_dir):
    with pytest.raises(GenieError, match="cannot be shared by 8 ranks"):
        RLDSClipDataset([rt1_dir], ClipSpec(frames=4, part="validation"), rank=0, world_size=8)


def test_spawned_dataloader_workers_read_disjoint_episodes(rt1_dir):
    from torch.utils.data import DataLoader

    spec = ClipSpec(frames=4, height=32, width=32, shuffle_buffer=0, repeat=False, part="all")
    loader = DataLoader(RLDSClipDataset([rt1_dir], spec), batch_size=None, num_workers=2,
                        multiprocessing_context="spawn")
    episodes = [clip["episode"] for clip in loader]
    assert len(episodes) == 6 * 4  # every clip once: 6 episodes x windows starting at 0, 2, 4, 6
    assert len(set(episodes)) == 6
