import json

import numpy as np
import pytest
import torch

from genie_robotics.analysis.evaluation import (
    MOVING_THRESHOLD,
    EvalOptions,
    delta_psnr,
    evaluate,
    moving_region,
    rollout_vs_still_frame,
    tokenizer_psnr,
)
from genie_robotics.nn.metrics import masked_psnr, pairwise_psnr, psnr

# eval.json's keys in order, with a command map and an I3D (fvd, fvd_note); written before EvalResult existed.
EVAL_JSON_KEYS = [
    "model", "data", "part", "clips", "horizon", "maskgit_steps", "temperature", "unmasking", "seed",
    "command_map",
    "tokenizer_psnr", "tokenizer_ssim", "rollout_psnr", "baseline_copy_psnr", "moving_psnr", "baseline_copy_moving_psnr",
    "moving_fraction", "random_psnr", "random_moving_psnr", "commands_psnr", "commands_moving_psnr", "delta_psnr_t4",
    "delta_psnr_t16", "delta_psnr_t32", "psnr_inferred_t4", "psnr_random_t4", "moving_threshold",
    "zero_command_psnr_t8", "delta_psnr_t4_temp2", "fvd", "fvd_note", "seconds",
]


def test_psnr_of_known_error():
    a = torch.zeros(2, 4, 4, 3)
    b = a.clone()
    b[1] += 0.2  # error 0.1 in [0, 1] units -> 20 dB
    per = psnr(a, b, per_sample=True)
    assert per[0] > 90 and per[1].item() == pytest.approx(20.0, abs=1e-4)


def test_masked_psnr_pools_the_error_of_masked_pixels():
    pred, target = torch.zeros(2, 4, 4, 3), torch.zeros(2, 4, 4, 3)
    pred[0, 0, 0] = 0.4  # error 0.2 in [0, 1] units on one pixel of clip 0
    pred[1] = 1.0  # clip 1 is wrong everywhere, but outside the mask
    mask = torch.zeros(2, 4, 4, dtype=torch.bool)
    mask[0, 0, :2] = True  # two pixels of clip 0, none of clip 1: pooled MSE = 0.2^2 / 2
    assert masked_psnr(pred, target, mask) == pytest.approx(10 * np.log10(2 / 0.04), abs=1e-4)
    assert np.isnan(masked_psnr(pred, target, torch.zeros_like(mask)))


def test_pairwise_psnr_is_inf_for_identical_frames_only():
    frames = torch.zeros(3, 4, 4, 3)
    frames[2] += 0.2  # frame 2 differs from 0 and 1 by 0.1 in [0, 1] units: 20 dB
    twenty = pytest.approx(20.0, abs=1e-4)
    assert pairwise_psnr(frames).tolist() == [float("inf"), twenty, twenty]  # pairs (0, 1), (0, 2), (1, 2)


def _rendered_clips(mujoco_dir, frames=5):
    from genie_robotics.data.rlds_reader import ClipSpec, RLDSClipDataset

    spec = ClipSpec(frames=frames, height=48, width=64, stride=1 << 30, shuffle_buffer=0, repeat=False, part="all")
    return torch.stack([c["frames"] for c in RLDSClipDataset([mujoco_dir], spec)])


def test_moving_region_scores_on_rendered_episodes(mujoco_dir):
    clips = _rendered_clips(mujoco_dir)
    moving = moving_region(clips)
    assert not moving[:, 0].any() and moving.any()  # the arm moves, and frame 0 never differs from itself
    diff = (clips.int() - clips[:, :1].int()).abs().amax(-1)
    assert torch.equal(moving, diff > MOVING_THRESHOLD)

    perfect = rollout_vs_still_frame(clips, clips)
    for key in ("rollout_psnr", "baseline_copy_psnr", "moving_psnr", "baseline_copy_moving_psnr", "moving_fraction"):
        assert len(perfect[key]) == clips.shape[1] - 1, key
    assert all(0 < f < 0.5 for f in perfect["moving_fraction"])  # the arm is a small part of the frame
    # The ground truth beats the still frame, by far the most on the moving region.
    for t in range(4):
        assert perfect["moving_psnr"][t] > perfect["baseline_copy_moving_psnr"][t] + 20
        assert perfect["rollout_psnr"][t] > perfect["baseline_copy_psnr"][t]
    # The still frame scores a fair PSNR on whole frames, and far less where the robot moves.
    assert min(perfect["baseline_copy_psnr"]) > max(perfect["baseline_copy_moving_psnr"]) + 5

    # A "rollout" that holds the prompt is the still-frame baseline.
    held = rollout_vs_still_frame(clips, clips[:, :1].expand_as(clips))
    assert held["moving_psnr"] == held["baseline_copy_moving_psnr"] == perfect["baseline_copy_moving_psnr"]
    assert held["rollout_psnr"] == pytest.approx(held["baseline_copy_psnr"])

    # No clip moves at any t: the moving-region PSNR is undefined, reported as None.
    still = rollout_vs_still_frame(clips[:, :1].expand_as(clips), clips)
    assert still["moving_psnr"] == [None] * 4 and still["moving_fraction"] == [0.0] * 4


def test_delta_psnr_runs_and_is_the_difference(tiny_genie):
    clips = torch.as_tensor(np.random.default_rng(0).integers(0, 256, (2, 5, 64, 64, 3), dtype=np.uint8))
    scores = delta_psnr(tiny_genie, clips, t=4, maskgit_steps=2)
    assert scores["delta_psnr"] == pytest.approx(scores["psnr_inferred"] - scores["psnr_random"])
    assert np.isfinite(tokenizer_psnr(tiny_genie, [clips]))
    with pytest.raises(ValueError, match="too short"):
        delta_psnr(tiny_genie, clips[:, :3], t=4)


class _PooledFeatures(torch.nn.Module):
    """A stand-in feature network with I3D's interface: [B, 3, T, 224, 224] -> [B, F]."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(3, 6)

    def forward(self, videos):
        return self.proj(videos.mean(dim=(2, 3, 4)))


def test_eval_end_to_end_on_rendered_episodes(tiny_genie, mujoco_dir, tmp_path):
    import subprocess
    import sys

    from genie_robotics.core.checkpoint_files import save_checkpoint

    tiny_genie.cfg.dynamics.temperature = 1.0  # the checkpoint's default: ΔtPSNR is then also run at 2
    ckpt = save_checkpoint(tiny_genie, tmp_path / "ckpt")
    _scripted_command_map(tiny_genie).save(ckpt)  # rollouts driven by the data's recorded commands too
    torch.jit.script(_PooledFeatures()).save(str(tmp_path / "i3d.pt"))
    run = subprocess.run(
        [sys.executable, "-m", "genie_robotics.cli", "eval", str(ckpt), "--data", str(mujoco_dir), "--episodes", "3",
         "--horizon", "5", "--maskgit-steps", "2", "--unmasking", "random", "--batch", "2", "--i3d", str(tmp_path / "i3d.pt"),
         "--json", str(tmp_path / "eval.json"), "--no-progress"],
        capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    result = json.loads((tmp_path / "eval.json").read_text())
    assert list(result) == EVAL_JSON_KEYS  # the file's keys, in order, as before the result had a type
    assert result["clips"] == 3 and len(result["rollout_psnr"]) == 5
    assert result["maskgit_steps"] == 2 and result["unmasking"] == "random"  # the checkpoint's is confidence
    assert 0 < result["tokenizer_ssim"] <= 1 and np.isfinite(result["tokenizer_psnr"])
    assert result["delta_psnr_t4"] == pytest.approx(result["psnr_inferred_t4"] - result["psnr_random_t4"])
    assert result["rollout_psnr"][3] == pytest.approx(result["psnr_inferred_t4"])
    assert result["fvd"] >= 0 and "ΔtPSNR t=4" in run.stdout and "FVD" in run.stdout
    assert result["temperature"] == 1.0 and np.isfinite(result["delta_psnr_t4_temp2"])
    assert "ΔtPSNR t=4, temperature 2" in run.stdout
    for key in ("baseline_copy_psnr", "moving_psnr", "baseline_copy_moving_psnr", "moving_fraction", "random_psnr",
                "commands_psnr", "commands_moving_psnr"):
        assert len(result[key]) == 5, key
    assert result["random_psnr"][3] == pytest.approx(result["psnr_random_t4"])
    assert result["delta_psnr_t16"] is None and result["delta_psnr_t32"] is None  # beyond the horizon
    assert np.isfinite(result["zero_command_psnr_t8"]) and result["command_map"]["episodes"] == 3
    assert result["moving_threshold"] == MOVING_THRESHOLD
    table = run.stdout[run.stdout.index("mov px"):].splitlines()
    assert [line.split()[0] for line in table[1:6]] == ["1", "2", "3", "4", "5"]


def _scripted_command_map(genie):
    """A command map for `genie`'s LAM from made-up labels (codes by the sign of x and z)."""
    from genie_robotics.commands import codebook_digest, fit_command_map

    rng = np.random.default_rng(0)
    commands = rng.normal(0, 0.04, (200, 3))
    codes = (commands[:, 0] > 0) * 2 + (commands[:, 2] > 0)
    return fit_command_map(commands, codes, genie.cfg.num_actions, 10.0, codebook_digest(genie.lam.quantizer.codebook),
                           fitted_on={"episodes": 3})


def test_eval_at_temperature_2_reuses_its_delta_psnr(tiny_genie, mujoco_dir, tmp_path):
    from genie_robotics.core.checkpoint_files import save_checkpoint

    ckpt = save_checkpoint(tiny_genie, tmp_path / "ckpt")
    result = evaluate(EvalOptions(ckpt, [str(mujoco_dir)], episodes=2, horizon=4, maskgit_steps=1, temperature=2.0,
                                  batch=2, progress=False))
    assert result.delta_psnr_t4_temp2 == result.quality.delta_psnr_t4
    # The ground truth differs from the prompt somewhere at every t: every moving-region PSNR is defined.
    assert all(np.isfinite(v) for v in result.quality.moving_psnr + result.quality.baseline_copy_moving_psnr)
    # Without a command map or an I3D: those keys are null or absent, as in every eval.json before the type.
    written = result.to_dict()
    assert written["command_map"] is None and written["commands_psnr"] is None and "fvd" not in written
    assert json.loads(result.to_json()) == written


def test_eval_bad_input_is_one_line(mujoco_dir, tmp_path):
    import subprocess
    import sys

    for args, message in (([str(tmp_path), "--data", str(mujoco_dir)], "model.safetensors"),
                          ([str(tmp_path), "--data", str(mujoco_dir), "--horizon", "2"], "--horizon must be at least 4")):
        run = subprocess.run([sys.executable, "-m", "genie_robotics.cli", "eval", *args], capture_output=True, text=True)
        assert run.returncode == 2 and message in run.stderr and run.stderr.count("\n") == 1, run.stderr
