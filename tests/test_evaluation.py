import numpy as np
import pytest
import torch

from genie_robotics.evaluation import delta_psnr, tokenizer_psnr
from genie_robotics.metrics import psnr


def test_psnr_of_known_error():
    a = torch.zeros(2, 4, 4, 3)
    b = a.clone()
    b[1] += 0.2  # error 0.1 in [0, 1] units -> 20 dB
    per = psnr(a, b, per_sample=True)
    assert per[0] > 90 and per[1].item() == pytest.approx(20.0, abs=1e-4)


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
    import json
    import subprocess
    import sys

    from genie_robotics.checkpoint import save_checkpoint

    ckpt = save_checkpoint(tiny_genie, tmp_path / "ckpt")
    torch.jit.script(_PooledFeatures()).save(str(tmp_path / "i3d.pt"))
    run = subprocess.run(
        [sys.executable, "-m", "genie_robotics.cli", "eval", str(ckpt), "--data", str(mujoco_dir), "--episodes", "3",
         "--horizon", "5", "--maskgit-steps", "2", "--batch", "2", "--i3d", str(tmp_path / "i3d.pt"),
         "--json", str(tmp_path / "eval.json"), "--no-progress"],
        capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["clips"] == 3 and len(result["rollout_psnr"]) == 5
    assert 0 < result["tokenizer_ssim"] <= 1 and np.isfinite(result["tokenizer_psnr"])
    assert result["delta_psnr_t4"] == pytest.approx(result["psnr_inferred_t4"] - result["psnr_random_t4"])
    assert result["rollout_psnr"][3] == pytest.approx(result["psnr_inferred_t4"])
    assert result["fvd"] >= 0 and "ΔtPSNR t=4" in run.stdout and "FVD" in run.stdout


def test_eval_bad_input_is_one_line(mujoco_dir, tmp_path):
    import subprocess
    import sys

    for args, message in (([str(tmp_path), "--data", str(mujoco_dir)], "model.safetensors"),
                          ([str(tmp_path), "--data", str(mujoco_dir), "--horizon", "2"], "--horizon must be at least 4")):
        run = subprocess.run([sys.executable, "-m", "genie_robotics.cli", "eval", *args], capture_output=True, text=True)
        assert run.returncode == 2 and message in run.stderr and run.stderr.count("\n") == 1, run.stderr
