import json
import subprocess
import sys

from PIL import Image


def test_demo_runs_end_to_end_on_the_shipped_checkpoint(tmp_path):
    out = tmp_path / "demo"
    run = subprocess.run(
        [sys.executable, "-m", "genie_robotics.cli", "demo", "--out", str(out), "--data-root", str(tmp_path / "data"),
         "--rollout-steps", "2", "--maskgit-steps", "2", "--no-progress"],
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rollout_frames"] == 8 * 2 and summary["checkpoint"].endswith("checkpoints/tiny")
    grid = Image.open(out / "rollouts.png")
    assert grid.size == (2 * (3 * 66 + 2), 2 * (8 * 66 + 2))  # 8 rows (actions) x 3 frames, 2 px gaps, x2
    assert Image.open(out / "rollouts.gif").n_frames == 3
    assert "rolled out 8 latent actions" in run.stdout and "rendered 4 MuJoCo episodes" in run.stdout
    assert (tmp_path / "data" / "prompts-manipulator-ball-64x64-seed1000" / "dataset_info.json").is_file()


def test_demo_with_a_missing_checkpoint_is_one_line(tmp_path):
    run = subprocess.run([sys.executable, "-m", "genie_robotics.cli", "demo", "--checkpoint", str(tmp_path / "none")],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "does not exist" in run.stderr and run.stderr.count("\n") == 1


def test_help_lists_the_commands():
    run = subprocess.run([sys.executable, "-m", "genie_robotics.cli", "--help"], capture_output=True, text=True)
    assert run.returncode == 0 and "info" in run.stdout and "demo" in run.stdout
