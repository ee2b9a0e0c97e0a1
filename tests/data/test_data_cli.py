import json
import subprocess
import sys

import pytest
from PIL import Image


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "genie_robotics.cli", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_render_then_inspect(tmp_path):
    out = tmp_path / "mj"
    run = _cli("data", "render", "--out", str(out), "--episodes", "2", "--steps", "6", "--size", "40x48",
               "--seed", "1", "--scene", "manipulator-peg", "--policy", "torque", "--no-progress")
    assert run.returncode == 0, run.stderr
    # data.json holds the flags that made the dataset, under their own names.
    assert json.loads((out / "data.json").read_text()) == {"scene": "manipulator-peg", "size": "40x48", "steps": 6,
                                                           "policy": "torque", "seed": 1, "episodes": 2, "target_scale": 1.0}
    info = json.loads(_cli("data", "inspect", str(out), "--json", "--sheet", str(tmp_path / "sheet.png")).stdout)
    assert info["episodes"] == 2 and info["steps"] == 12
    assert info["image_key"] == "image" and info["image_shape"] == [40, 48, 3]
    assert "action/joint_torque" in info["step_features"] and "observation/natural_language_instruction" in info["step_features"]
    assert Image.open(tmp_path / "sheet.png").size[0] > 48


def test_render_refuses_to_overwrite_a_dataset(tmp_path, mujoco_dir):
    run = _cli("data", "render", "--out", str(mujoco_dir), "--episodes", "1", "--steps", "3")
    assert run.returncode == 2 and "pass --overwrite" in run.stderr and run.stderr.count("\n") == 1


def test_inspect_rt1_copy_text(rt1_dir):
    run = _cli("data", "inspect", str(rt1_dir))
    assert run.returncode == 0, run.stderr
    assert "episodes 6, steps 60" in run.stdout and "camera 'image' (256, 320, 3)" in run.stdout


def test_inspect_bad_inputs_one_line_each(tmp_path):
    (tmp_path / "empty").mkdir()
    for target, message in ((tmp_path / "missing", "does not exist"), (tmp_path / "empty", "not a TFDS/RLDS dataset")):
        run = _cli("data", "inspect", str(target))
        assert run.returncode == 2 and message in run.stderr and run.stderr.count("\n") == 1, run.stderr


def test_bad_size_argument():
    run = _cli("data", "render", "--out", "x", "--size", "64")
    assert run.returncode == 2 and "HEIGHTxWIDTH" in run.stderr
