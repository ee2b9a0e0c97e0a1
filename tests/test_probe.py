"""The latent-action probe: end to end on rendered MuJoCo video, and its scoring pieces on planted data."""
import json
import math

import numpy as np
import pytest

from genie_robotics.analysis.flow_metrics import consistency_score, flow_summary, optical_flow
from genie_robotics.analysis.latent_labels import Transitions
from genie_robotics.analysis.latent_labels import windows as _windows
from genie_robotics.analysis.probe import ProbeOptions, ProbeResult, probe
from genie_robotics.analysis.true_actions import relate_to_true_actions
from genie_robotics.core.checkpoint_files import save_checkpoint
from genie_robotics.core.errors import GenieError

FAST = {"maskgit_steps": 2, "start_frames": 2, "rollout_steps": 2, "progress": False}
# probe.json's keys in order, as written before ProbeResult existed.
PROBE_JSON_KEYS = [
    "model", "data", "out", "settings", "num_actions", "episodes", "transitions", "action_dim", "action_keys",
    "action_target", "code_usage", "codes_used", "start_frames_used", "start_frame_sources", "consistency",
    "consistency_weighted", "consistency_chance", "flow_magnitude", "flow_mean", "moving_magnitude", "moving_fraction",
    "moving_threshold_px", "flow_per_rollout", "nmi", "nmi_heading", "linear_probe_accuracy", "linear_probe_chance",
    "linear_probe_r2", "true_actions", "files", "seconds",
]


def _check_lengths(report: ProbeResult, num_actions: int = 8) -> None:
    for key in ("code_usage", "consistency", "consistency_weighted", "flow_magnitude", "flow_mean"):
        assert len(getattr(report, key)) == num_actions, key
    assert sum(report.code_usage) == pytest.approx(1.0)
    assert all(0.0 <= c <= 1.0 for c in report.consistency + report.consistency_weighted)
    assert all(m >= 0 for m in report.flow_magnitude)


def test_probe_end_to_end_on_mujoco(tiny_genie, mujoco_dir, tmp_path):
    model = save_checkpoint(tiny_genie, tmp_path / "model")
    out = tmp_path / "report"
    report = probe(ProbeOptions(model, mujoco_dir, out, **FAST))

    on_disk = json.loads((out / "probe.json").read_text())
    assert on_disk == report.to_dict() and list(on_disk) == PROBE_JSON_KEYS
    assert list(on_disk["true_actions"]) == ["clusters_found", "contingency", "mean_true_action_per_code", "reason"]
    _check_lengths(report)
    # 4 episodes x 8 frames: every transition exactly once, although the model's context is 4 frames.
    assert report.episodes == 4 and report.transitions == 4 * 7
    assert report.start_frames_used == 2 and len({s["episode"] for s in report.start_frame_sources}) == 2
    assert report.action_dim == 5
    assert report.action_target == ("world_vector" if "world_vector" in report.action_keys else "action")
    for key in ("nmi", "linear_probe_accuracy", "linear_probe_chance", "linear_probe_r2"):
        assert isinstance(getattr(report, key), float) and math.isfinite(getattr(report, key)), key
    assert 0.0 <= report.nmi <= 1.0
    assert np.asarray(report.true_actions.contingency).sum() == report.transitions
    assert report.settings["maskgit_steps"] == 2 and report.model == str(model)
    for name in ("code_usage.png", "consistency.png", "flow_directions.png", "codes_vs_actions.png",
                 "rollouts_last.png", "rollouts.gif", "README.md"):
        assert (out / name).stat().st_size > 0, name
        assert name in report.files
    from PIL import Image

    with Image.open(out / "rollouts.gif") as gif:
        assert gif.n_frames == 3  # the prompt as the model sees it, then 2 generated frames
    readme = (out / "README.md").read_text()
    assert "How to read this" in readme and "NMI" in readme and "| 7 |" in readme

    # A second run into the same directory is refused before any model is loaded...
    with pytest.raises(GenieError, match="--overwrite"):
        probe(ProbeOptions(tmp_path / "no-such-model", mujoco_dir, out, **FAST))
    # ...and bad inputs give one clear error each.
    with pytest.raises(GenieError, match="does not exist"):
        probe(ProbeOptions(tmp_path / "no-such-model", mujoco_dir, tmp_path / "r2", **FAST))
    with pytest.raises(GenieError, match="does not exist"):
        probe(ProbeOptions(model, tmp_path / "no-such-data", tmp_path / "r3", **FAST))


def _write_directional(path, episodes=3, steps=6):
    """RLDS episodes whose actions hold a joint command, an end-effector displacement
    `world_vector` = (t, e, 0) and a discrete `heading` = t mod 3; frames are random."""
    from genie_robotics.data.rlds_writer import write_rlds
    from genie_robotics.data.tf_env import tfds

    f = tfds().features
    features = f.FeaturesDict({"steps": f.Dataset({
        "observation": f.FeaturesDict({"image": f.Image(shape=(32, 32, 3), dtype=np.uint8, encoding_format="png")}),
        "action": f.FeaturesDict({"heading": f.Scalar(dtype=np.int32), "joint": f.Tensor(shape=(2,), dtype=np.float32),
                                  "world_vector": f.Tensor(shape=(3,), dtype=np.float32)}),
        "is_first": f.Scalar(dtype=np.bool_),
    })})
    rng = np.random.default_rng(0)
    return write_rlds(path, "directional", features, [{"steps": [{
        "observation": {"image": rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)},
        "action": {"heading": t % 3, "joint": np.array([100 + t, -100], np.float32),
                   "world_vector": np.array([t, e, 0], np.float32)},
        "is_first": t == 0} for t in range(steps)]} for e in range(episodes)])


def test_probe_targets_world_vector_and_heading(tiny_genie, tmp_path):
    data = _write_directional(tmp_path / "directional")
    out = tmp_path / "report"
    report = probe(ProbeOptions(save_checkpoint(tiny_genie, tmp_path / "model"), data, out,
                                **{**FAST, "start_frames": 1, "rollout_steps": 1, "maskgit_steps": 1}))
    assert report.action_keys == ["heading", "joint", "world_vector"] and report.action_dim == 6
    assert report.action_target == "world_vector"
    # Per-code means are of world_vector (t, e, 0) with t < 5, e < 3: not of the joint command (100 + t, -100).
    means = [m for m in report.true_actions.mean_true_action_per_code if m is not None]
    assert means and all(len(m) == 3 and 0 <= m[0] < 5 and 0 <= m[1] < 3 and m[2] == 0 for m in means)
    assert 0.0 <= report.nmi <= 1.0 and 0.0 <= report.nmi_heading <= 1.0
    readme = (out / "README.md").read_text()
    assert "`action/world_vector`" in readme and "`action/heading`" in readme


def test_relation_to_true_actions_on_planted_codes():
    rng = np.random.default_rng(0)
    codes_N = rng.integers(0, 4, 200)
    directions = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]], np.float32)
    t = Transitions(codes_N=codes_N, latents_ND=np.eye(4, dtype=np.float32)[codes_N] + rng.normal(0, 0.1, (200, 4)),
                    episodes_N=np.arange(200) // 20, times_N=np.arange(200) % 20,
                    actions_NA=directions[codes_N])
    # Codes that are the heading and pick the displacement: NMI 1 for both, a perfect held-out probe.
    true = relate_to_true_actions(t, clusters=4, num_codes=4, heading_N=codes_N)
    assert true.nmi == pytest.approx(1.0) and true.nmi_heading == pytest.approx(1.0)
    assert true.linear_probe_accuracy == 1.0 and true.linear_probe_r2 > 0.9
    # A heading the codes know nothing about.
    unrelated = relate_to_true_actions(t, clusters=4, num_codes=4, heading_N=rng.integers(0, 4, 200))
    assert unrelated.nmi_heading < 0.1
    assert relate_to_true_actions(t, clusters=4, num_codes=4).nmi_heading is None


def test_probe_without_true_actions_reports_null(tiny_genie, tmp_path):
    from genie_robotics.data.rlds_writer import write_rlds
    from genie_robotics.data.tf_env import tfds

    f = tfds().features
    features = f.FeaturesDict({"steps": f.Dataset({
        "observation": f.FeaturesDict({"image": f.Image(shape=(32, 32, 3), dtype=np.uint8, encoding_format="png")}),
        "is_first": f.Scalar(dtype=np.bool_),
    })})
    rng = np.random.default_rng(0)
    # Episodes of 3 and 6 frames: one shorter than the model's 4-frame context, one longer.
    episodes = [{"steps": [{"observation": {"image": rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)},
                            "is_first": t == 0} for t in range(n)]} for n in (3, 6)]
    data = write_rlds(tmp_path / "no_actions", "no_actions", features, episodes)
    out = tmp_path / "report"
    report = probe(ProbeOptions(save_checkpoint(tiny_genie, tmp_path / "model"), data, out,
                                **{**FAST, "start_frames": 1, "rollout_steps": 1, "maskgit_steps": 1}))
    _check_lengths(report)
    assert report.transitions == 2 + 5 and report.action_dim == 0
    for key in ("nmi", "nmi_heading", "linear_probe_accuracy", "linear_probe_chance", "linear_probe_r2",
                "action_target"):
        assert getattr(report, key) is None, key
    assert "no 'action' feature" in report.true_actions.reason
    assert "no 'action' feature" in (out / "README.md").read_text()
    assert not (out / "codes_vs_actions.png").exists()


# --------------------------------------------------------------------------- scoring on planted data

def test_consistency_score_on_planted_directions():
    same = [[1.0, 0.5], [2.0, 1.0], [0.1, 0.05]]
    assert consistency_score(same) == pytest.approx(1.0)
    assert consistency_score(same, weighted=True) == pytest.approx(1.0)
    opposite = [[1.0, 0.0], [-1.0, 0.0], [0.0, 3.0], [0.0, -3.0]]
    assert consistency_score(opposite) == pytest.approx(0.0, abs=1e-9)
    assert consistency_score(opposite, weighted=True) == pytest.approx(0.0, abs=1e-9)
    # Unweighted counts directions only; weighted lets the big motion dominate.
    assert consistency_score([[10.0, 0.0], [-0.1, 0.0]]) == pytest.approx(0.0, abs=1e-9)
    assert consistency_score([[10.0, 0.0], [-0.1, 0.0]], weighted=True) == pytest.approx(9.9 / 10.1)
    # Orthogonal directions: |(1, 1) / 2| = 1/sqrt(2); no motion at all scores 0; zero vectors are left out.
    assert consistency_score([[1.0, 0.0], [0.0, 1.0]]) == pytest.approx(1 / math.sqrt(2))
    assert consistency_score([[0.0, 0.0], [0.0, 0.0]]) == 0.0
    assert consistency_score([[0.0, 0.0], [0.0, 2.0]]) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    angles = rng.uniform(0, 2 * np.pi, 400)
    assert consistency_score(np.stack([np.cos(angles), np.sin(angles)], 1)) < 0.15


def _texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth random RGB texture (blurred noise), so optical flow has structure to follow."""
    import cv2

    noise = cv2.GaussianBlur(np.random.default_rng(seed).uniform(0, 255, (height, width, 3)).astype(np.float32),
                             (0, 0), 1.0)
    return np.clip((noise - noise.mean()) / noise.std() * 50 + 128, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("dx, dy", [(2, 0), (-3, 0), (0, 2)])
def test_optical_flow_recovers_a_known_shift(dx, dy):
    big = _texture(80, 96)
    a = big[16:64, 16:80]  # 48x64, upscaled before Farneback
    b = big[16 - dy:64 - dy, 16 - dx:80 - dx]  # the same scene moved (dx, dy) pixels (+y down)
    flow = optical_flow(a, b)
    assert flow.shape[-1] == 2 and min(flow.shape[:2]) >= 128
    stats = flow_summary(flow[16:-16, 16:-16][None], threshold=0.5)  # interior: no pixels entering or leaving
    assert stats["dx"] == pytest.approx(dx, abs=0.3)
    assert stats["dy"] == pytest.approx(dy, abs=0.3)
    assert stats["magnitude"] == pytest.approx(math.hypot(dx, dy), abs=0.4)
    assert stats["moving_fraction"] > 0.9 and stats["moving_dx"] == pytest.approx(dx, abs=0.3)
    still = flow_summary(optical_flow(a, a)[None])
    assert still["magnitude"] < 0.05 and still["moving_fraction"] == 0 and math.isnan(still["moving_dx"])


def test_windows_cover_each_transition_once():
    for length in (2, 3, 4, 5, 7, 16, 17):
        for context in (2, 4, 16):
            windows = _windows(length, context)
            transitions = [t for start, stop in windows for t in range(start, stop - 1)]
            assert transitions == list(range(length - 1)), (length, context)
            assert all(2 <= stop - start <= context for start, stop in windows)
    assert _windows(1, 4) == []
