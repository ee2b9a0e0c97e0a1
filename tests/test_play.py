"""`genie-robotics play`: headless action scripts recorded to GIF/MP4; clear errors otherwise."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from genie_robotics.cli.play import PlayOptions, play
from genie_robotics.core.assets import SHIPPED_CHECKPOINT
from genie_robotics.core.errors import GenieError
from genie_robotics.core.images import save_png
from genie_robotics.sim.action_script import check_script, parse_script


@pytest.fixture
def prompt_png(tmp_path):
    rng = np.random.default_rng(0)
    return save_png(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8), tmp_path / "prompt.png")  # any size


def test_headless_script_records_every_shown_frame_to_gif(tmp_path, prompt_png):
    summary = play(PlayOptions(model=SHIPPED_CHECKPOINT, prompt=prompt_png, actions=parse_script("0,1,r,2"),
                               record=tmp_path / "play.gif", maskgit_steps=1, scale=3))
    assert summary["steps"] == 3 and summary["frames_per_s"] > 0
    gif = Image.open(tmp_path / "play.gif")
    assert gif.n_frames == 5 and gif.size == (64 * 3, 64 * 3)  # prompt + 3 steps + 1 reset


def test_onnx_backend_records_mp4(tmp_path, prompt_png):
    cv2 = pytest.importorskip("cv2")
    summary = play(PlayOptions(model=SHIPPED_CHECKPOINT, prompt=prompt_png, actions=[3, 3], backend="onnx",
                               record=tmp_path / "play.mp4", maskgit_steps=1, scale=2))
    assert summary["backend"] == "CPUExecutionProvider"
    video = cv2.VideoCapture(str(tmp_path / "play.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 3 and int(video.get(cv2.CAP_PROP_FRAME_WIDTH)) == 128


def test_bad_scripts_and_formats():
    assert parse_script(" 7, r ,0") == [7, "r", 0]
    for bad in ("x", "", "1,-1"):
        with pytest.raises(GenieError, match="action script"):
            parse_script(bad)
    with pytest.raises(GenieError, match="action script item 8 is not a latent action of this model"):
        check_script(parse_script("1,r,8"), num_actions=8)  # the count comes from the model
    with pytest.raises(GenieError, match="unsupported format"):
        play(PlayOptions(model=SHIPPED_CHECKPOINT, actions=[0], record=SHIPPED_CHECKPOINT / "x.webm"))


def test_window_without_gui_is_one_line(tmp_path):
    run = subprocess.run([sys.executable, "-m", "genie_robotics.cli", "play", str(SHIPPED_CHECKPOINT)],
                         capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert run.returncode == 2 and run.stderr.count("\n") == 1
    assert "--actions" in run.stderr and ("no GUI" in run.stderr or "no display" in run.stderr)
