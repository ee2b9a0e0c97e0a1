import json
import subprocess
import sys

from PIL import Image


def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    run = subprocess.run(
        [sys.executable, "-m", "genie_robotics.cli", "demo", "--out", str(out), "--data-root", str(tmp_path / "data"),
         "--episodes", "4", "--tokenizer-steps", "3",
         "--dynamics-steps", "3", "--maskgit-steps", "2", "--no-progress"],
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rollout_frames"] == 8 * 6
    assert (out / "checkpoint" / "model.safetensors").is_file()
    grid = Image.open(out / "rollouts.png")
    assert grid.size == (2 * (7 * 66 + 2), 2 * (8 * 66 + 2))  # 8 rows (actions) x 7 frames, 2 px gaps, x2
    gif = Image.open(out / "rollouts.gif")
    assert gif.n_frames == 7
    assert "rolled out 8 latent actions" in run.stdout
    assert "rendered 4 MuJoCo episodes" in run.stdout
    assert (tmp_path / "data" / "manipulator-ball-64x64-e4-s24-seed0" / "dataset_info.json").is_file()


def test_help_lists_the_commands():
    run = subprocess.run([sys.executable, "-m", "genie_robotics.cli", "--help"], capture_output=True, text=True)
    assert run.returncode == 0 and "info" in run.stdout and "demo" in run.stdout
