import json

import numpy as np
import pytest
import torch

from genie_robotics.analysis.action_statistics import per_code_means
from genie_robotics.cli.generate import (
    GenerateOptions,
    fit_action_map,
    generate,
    latent_action_policy,
)
from genie_robotics.core.checkpoint_files import save_checkpoint
from genie_robotics.core.errors import GenieError
from genie_robotics.data.rlds_reader import ClipSpec, RLDSClipDataset, open_rlds
from genie_robotics.data.rlds_writer import write_rlds
from genie_robotics.data.tf_env import tfds
from genie_robotics.models.checkpoint import load_checkpoint
from genie_robotics.sim.world_model import WorldModel


@pytest.fixture
def model_dir(tmp_path, tiny_genie):
    return save_checkpoint(tiny_genie, tmp_path / "model")


@pytest.fixture
def png_dir(tmp_path):
    import cv2

    d = tmp_path / "pngs"
    d.mkdir()
    rng = np.random.default_rng(0)
    cv2.imwrite(str(d / "a.png"), rng.integers(0, 256, (96, 128, 3), dtype=np.uint8))  # resized to 64x64
    cv2.imwrite(str(d / "b.png"), np.full((64, 64, 3), 200, np.uint8))
    (d / "notes.txt").write_text("not an image")
    return d


def _opts(model_dir, prompts, out, **kw):
    return GenerateOptions(model=model_dir, prompts=prompts, out=out, maskgit_steps=2, progress=False, **kw)


def _episodes(out):
    builder = tfds().builder_from_directory(str(out))
    episodes = tfds().as_numpy(builder.as_dataset(split="train"))
    return builder, [{**ep, "steps": list(ep["steps"])} for ep in episodes]


def _all_clips(path, **spec):
    spec = ClipSpec(shuffle_buffer=0, repeat=False, part="all", **spec)
    return list(RLDSClipDataset([path], spec, rank=0, world_size=1))


# --- policies ---------------------------------------------------------------------------------
def test_script_policy_cycles_from_the_start_of_every_episode():
    actions = latent_action_policy("script", np.random.default_rng(0), 3, 7, 8, script=[5, 0, 2])
    assert actions.dtype == np.int64 and actions.shape == (3, 7)
    assert (actions == [5, 0, 2, 5, 0, 2, 5]).all()


def test_sticky_policy_keeps_the_action_with_the_stick_probability():
    rng = np.random.default_rng(0)
    for p in (0.8, 0.3):
        actions = latent_action_policy("sticky", rng, 200, 100, 8, stick_probability=p)
        kept = (actions[:, 1:] == actions[:, :-1]).mean()
        assert abs(kept - p) < 0.01, (p, kept)
        assert set(np.unique(actions)) == set(range(8))
    never = latent_action_policy("sticky", rng, 20, 50, 8, stick_probability=0.0)
    assert (never[:, 1:] != never[:, :-1]).all()
    always = latent_action_policy("sticky", rng, 20, 50, 8, stick_probability=1.0)
    assert (always == always[:, :1]).all()


def test_uniform_policy_covers_all_actions_evenly():
    actions = latent_action_policy("uniform", np.random.default_rng(0), 100, 80, 8)
    counts = np.bincount(actions.ravel(), minlength=8)
    assert counts.size == 8 and (counts > 0).all()
    assert np.abs(counts / counts.sum() - 1 / 8).max() < 0.01
    assert (actions[:, 1:] == actions[:, :-1]).mean() < 0.2  # not sticky


def test_policies_are_reproducible_per_seed():
    a, b = (latent_action_policy("sticky", np.random.default_rng(4), 3, 10, 8) for _ in range(2))
    assert np.array_equal(a, b)


@pytest.mark.parametrize("name,script,p,match", [
    ("greedy", None, 0.8, "unknown policy"),
    ("script", None, 0.8, "non-empty list"),
    ("script", [1, 8], 0.8, r"script action 8 .*\[0, 8\)"),
    ("script", [1, -1], 0.8, "script action -1"),
    ("uniform", [1, 2], 0.8, "only used by the script policy"),
    ("sticky", None, 1.5, r"stick probability must be in \[0, 1\]"),
])
def test_bad_policy_settings_are_one_clear_error(name, script, p, match):
    with pytest.raises(GenieError, match=match):
        latent_action_policy(name, np.random.default_rng(0), 2, 3, 8, script=script, stick_probability=p)


# --- action map -------------------------------------------------------------------------------
def test_per_code_means_on_a_planted_case_is_the_one_hot_least_squares_fit():
    rng = np.random.default_rng(0)
    planted = rng.normal(size=(4, 3))
    codes = rng.choice([0, 1, 3], size=300)  # code 2 never occurs
    actions = planted[codes] + 0.01 * rng.normal(size=(300, 3))
    means, counts = per_code_means(codes, actions, 4)
    assert means.dtype == np.float32 and means.shape == (4, 3)
    assert counts.tolist() == [int((codes == k).sum()) for k in range(4)] and counts[2] == 0
    for k in (0, 1, 3):
        assert np.allclose(means[k], actions[codes == k].mean(axis=0), atol=1e-5)
        assert np.allclose(means[k], planted[k], atol=0.01)
    assert np.allclose(means[2], actions.mean(axis=0), atol=1e-5)  # unseen: the overall mean
    design = np.eye(4)[codes][:, [0, 1, 3]]
    lstsq = np.linalg.lstsq(design, actions, rcond=None)[0]
    assert np.allclose(means[[0, 1, 3]], lstsq, atol=1e-5)


def test_fit_action_map_pairs_each_latent_with_the_action_at_the_earlier_frame(tiny_genie, mujoco_dir):
    amap = fit_action_map(tiny_genie, mujoco_dir, max_episodes=3)
    assert amap.action_dim == 5 and amap.action_keys == [("gripper_closedness_action",), ("heading",), ("world_vector",)]
    # By hand: every transition of the first 3 episodes (8 steps -> 7 transitions each).
    clips = _all_clips(mujoco_dir, frames=8, height=64, width=64, with_actions=True)[:3]
    assert len(clips) == 3
    pairs = torch.stack([clip["frames"][t:t + 2] for clip in clips for t in range(7)])
    with torch.no_grad():
        codes = tiny_genie.lam.infer(pairs).quantized.indices[:, 0].numpy()
    real = np.stack([clip["actions"][t].numpy() for clip in clips for t in range(7)])
    assert amap.counts_K.sum() == 21 and amap.counts_K.tolist() == np.bincount(codes, minlength=8).tolist()
    for k in range(8):
        expected = real[codes == k].mean(axis=0) if (codes == k).any() else real.mean(axis=0)
        assert np.allclose(amap.means_KA[k], expected, atol=1e-5)
    assert np.array_equal(amap(np.array([[1, 2]])), amap.means_KA[[[1, 2]]])
    with pytest.raises(GenieError, match=r"\[0, 8\)"):
        amap([8])


# --- generation -------------------------------------------------------------------------------
def test_generate_from_rlds_prompts_round_trips(tiny_genie, model_dir, mujoco_dir, tmp_path):
    out = tmp_path / "gen"
    summary = generate(_opts(model_dir, mujoco_dir, out, episodes=3, steps=4, policy="uniform", seed=1, batch=2))
    assert summary.episodes == 3 and summary.generated_frames == 3 * 3 and summary.prompts == 3
    expected = latent_action_policy("uniform", np.random.default_rng(1), 3, 4, 8)
    assert summary.latent_action_counts == np.bincount(expected.ravel(), minlength=8).tolist()
    written = json.loads(summary.to_json())  # `generate --json`: the keys, in order, as before the type
    assert list(written) == ["out", "model", "episodes", "steps", "generated_frames", "frames_per_s", "policy", "seed",
                             "prompts", "prompt_source", "latent_action_counts", "action_map", "seconds"]
    assert written["action_map"] is None and written["latent_action_counts"] == summary.latent_action_counts

    builder, episodes = _episodes(out)
    assert builder.info.splits["train"].num_examples == 3 and len(episodes) == 3
    prompt_episodes = set()
    for i, ep in enumerate(episodes):
        steps = ep["steps"]
        assert len(steps) == 4
        assert [int(s["latent_action"]) for s in steps] == expected[i].tolist()
        assert [bool(s["is_first"]) for s in steps] == [True, False, False, False]
        assert [bool(s["is_last"]) for s in steps] == [False, False, False, True]
        assert not any(s["is_terminal"] for s in steps) and all(s["reward"] == 0 for s in steps)
        assert all(s["observation"]["image"].shape == (64, 64, 3) for s in steps)
        assert "action" not in steps[0]
        meta = ep["episode_metadata"]
        assert meta["prompt_source"].decode() == str(open_rlds(mujoco_dir).path)
        assert meta["policy"].decode() == "uniform" and meta["seed"] == 1 and meta["episode_id"] == i
        assert meta["model"].decode() == str(model_dir)
        prompt_episodes.add(meta["prompt_episode"].decode())
    assert len(prompt_episodes) == 3 and "" not in prompt_episodes  # first frames of 3 different episodes

    # The first steps are the first frames of the dataset's episodes as the model sees them.
    firsts = np.stack([c["frames"][0].numpy() for c in _all_clips(mujoco_dir, frames=1, height=64, width=64)[:2]])
    seen = WorldModel(tiny_genie).reset(firsts)  # the first batch of 2 prompts
    assert np.array_equal(np.stack([ep["steps"][0]["observation"]["image"] for ep in episodes[:2]]), seen)

    src = open_rlds(out)
    assert src.image_key == "image" and src.image_shape == (64, 64, 3) and src.episodes == 3 and src.action_dim == 0
    clips = _all_clips(out, frames=4, height=64, width=64)
    assert len(clips) == 3 and all(c["frames"].shape == (4, 64, 64, 3) for c in clips)
    assert len({c["episode"] for c in clips}) == 3


def test_generate_from_image_files_assigns_prompts_round_robin(model_dir, png_dir, tmp_path):
    out = tmp_path / "gen"
    generate(_opts(model_dir, png_dir, out, episodes=3, steps=3, policy="script", script=[6, 1]))
    _, episodes = _episodes(out)
    sources = [ep["episode_metadata"]["prompt_source"].decode() for ep in episodes]
    assert sources == [str(png_dir / "a.png"), str(png_dir / "b.png"), str(png_dir / "a.png")]
    assert all(ep["episode_metadata"]["prompt_episode"].decode() == "" for ep in episodes)
    assert all([int(s["latent_action"]) for s in ep["steps"]] == [6, 1, 6] for ep in episodes)
    firsts = [ep["steps"][0]["observation"]["image"] for ep in episodes]
    assert np.array_equal(firsts[0], firsts[2]) and not np.array_equal(firsts[0], firsts[1])
    assert open_rlds(out).episodes == 3


def test_action_map_adds_the_mapped_real_action_to_every_step(tiny_genie, model_dir, mujoco_dir, tmp_path):
    out = tmp_path / "gen"
    summary = generate(_opts(model_dir, mujoco_dir, out, episodes=2, steps=3, policy="sticky", seed=2,
                             action_map=mujoco_dir))
    assert summary.action_map.action_dim == 5 and sum(summary.action_map.pairs_per_latent_action) == 4 * 7
    assert list(summary.to_dict()["action_map"]) == ["dataset", "action_keys", "action_dim", "pairs_per_latent_action"]
    amap = fit_action_map(load_checkpoint(model_dir), mujoco_dir)
    _, episodes = _episodes(out)
    for ep in episodes:
        for step in ep["steps"]:
            assert step["action"].dtype == np.float32 and step["action"].shape == (5,)
            assert np.allclose(step["action"], amap.means_KA[int(step["latent_action"])])
    src = open_rlds(out)
    assert src.action_dim == 5
    clips = _all_clips(out, frames=3, height=64, width=64, with_actions=True)
    assert len(clips) == 2 and all(c["actions"].shape == (3, 5) for c in clips)


def test_a_checkpoint_with_a_command_map_writes_each_latent_actions_mean_command(model_dir, mujoco_dir, tmp_path):
    from genie_robotics.analysis.command_labels import fit_from_labels, label_commands
    from genie_robotics.commands import load_command_map

    genie = load_checkpoint(model_dir)
    labelled = label_commands(genie, mujoco_dir, progress=False)
    fit_from_labels(genie, labelled, 4).save(model_dir)
    command_map = load_command_map(model_dir)
    out = tmp_path / "gen"
    summary = generate(_opts(model_dir, mujoco_dir, out, episodes=2, steps=3, seed=1))
    assert summary.action_map.action_keys == ["world_vector", "gripper_closedness_action"]
    assert "command map" in summary.action_map.dataset
    _, episodes = _episodes(out)
    for ep in episodes:
        for step in ep["steps"]:
            assert np.allclose(step["action"], command_map.code_commands_AF[int(step["latent_action"])], atol=1e-6)


# --- bad input --------------------------------------------------------------------------------
def _one_line_error(opts, *fragments):
    with pytest.raises(GenieError) as err:
        generate(opts)
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_a_directory_that_is_not_a_checkpoint_is_one_clear_error(png_dir, tmp_path):
    bad = tmp_path / "not_a_model"
    bad.mkdir()
    (bad / "model.safetensors").write_bytes(b"garbage")
    out = tmp_path / "gen"
    _one_line_error(_opts(tmp_path / "missing", png_dir, out, episodes=1, steps=2), "does not exist")
    _one_line_error(_opts(bad, png_dir, out, episodes=1, steps=2), str(bad))
    assert not out.exists()


def test_an_action_map_dataset_without_actions_is_one_clear_error(model_dir, png_dir, tmp_path):
    f = tfds().features
    features = f.FeaturesDict({"steps": f.Dataset({
        "observation": f.FeaturesDict({"image": f.Image(shape=(32, 32, 3), dtype=np.uint8)}),
        "is_first": f.Scalar(dtype=np.bool_),
        "is_last": f.Scalar(dtype=np.bool_),
    })})
    episode = {"steps": [{"observation": {"image": np.zeros((32, 32, 3), np.uint8)}, "is_first": t == 0,
                          "is_last": t == 2} for t in range(3)]}
    unlabelled = write_rlds(tmp_path / "unlabelled", "unlabelled", features, [episode, episode])
    out = tmp_path / "gen"
    _one_line_error(_opts(model_dir, png_dir, out, episodes=1, steps=2, action_map=unlabelled),
                    f"{unlabelled} has no action features; --action-map needs a dataset with true actions")
    assert not out.exists()


def test_an_existing_output_is_refused_before_any_work_and_kept(model_dir, png_dir, tmp_path):
    out = tmp_path / "gen"
    generate(_opts(model_dir, png_dir, out, episodes=1, steps=2))
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    # Refused before the model is even loaded: a missing checkpoint is not reached.
    _one_line_error(_opts(tmp_path / "missing", png_dir, out, episodes=2, steps=3), str(out), "--overwrite")
    _one_line_error(_opts(model_dir, out, out, episodes=2, steps=3, overwrite=True), "--prompts")
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    generate(_opts(model_dir, png_dir, out, episodes=2, steps=3, overwrite=True))
    assert open_rlds(out).episodes == 2


def test_prompts_that_are_neither_images_nor_rlds_are_one_clear_error(model_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(_opts(model_dir, empty, tmp_path / "gen", episodes=1, steps=2), "no image files", "RLDS")
    assert not (tmp_path / "gen").exists()


def test_a_fixed_batch_fills_the_last_batch_up_and_yields_every_episode_once(tiny_genie):
    """What `generate --compile` does: one batch size for the compiled model, no episode twice."""
    from genie_robotics.cli.generate import _rollouts
    from genie_robotics.sim.prompts import Prompt

    class Recording(WorldModel):
        batches: list[int] = []

        def reset(self, prompt, seed=None):
            self.batches.append(len(prompt))
            return super().reset(prompt, seed)

    world = Recording(tiny_genie, maskgit_steps=1)
    prompts = [Prompt(np.full((64, 64, 3), 40 * k, np.uint8), f"p{k}") for k in range(3)]
    actions_ET = np.arange(15).reshape(5, 3) % 8

    class Bar:
        n = 0

        def update(self, k):
            self.n += k

    bar = Bar()
    episodes = list(_rollouts(world, prompts, actions_ET, 2, bar, fixed_batch=True))
    assert [i for i, _ in episodes] == [0, 1, 2, 3, 4] and Recording.batches == [2, 2, 2]
    assert all(frames.shape == (3, 64, 64, 3) for _, frames in episodes) and bar.n == 5 * 2
    Recording.batches.clear()
    assert [i for i, _ in _rollouts(world, prompts, actions_ET, 2, Bar())] == [0, 1, 2, 3, 4]
    assert Recording.batches == [2, 2, 1]
