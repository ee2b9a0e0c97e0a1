import json
import os
import random
import subprocess
import sys

import pytest
from PIL import Image


def _demo(tmp_path, *extra):
    out = tmp_path / "demo"
    env = {**os.environ, "ROS_DOMAIN_ID": str(random.randint(101, 200)), "ROS_LOG_DIR": str(tmp_path / "roslog")}
    run = subprocess.run(
        [sys.executable, "-m", "genie_robotics.cli", "demo", "--out", str(out), "--data-root", str(tmp_path / "data"),
         "--rollout-steps", "2", "--maskgit-steps", "2", "--no-progress", *extra],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rollout_frames"] == 8 * 2 and summary["checkpoint"].endswith("checkpoints/tiny")
    grid = Image.open(out / "rollouts.png")
    assert grid.size == (2 * (3 * 66 + 2), 2 * (8 * 66 + 2))  # 8 rows (actions) x 3 frames, 2 px gaps, x2
    assert Image.open(out / "rollouts.gif").n_frames == 3
    assert "rendered 4 MuJoCo episodes" in run.stdout
    assert (tmp_path / "data" / "prompts-manipulator-ball-teleop-64x64-seed1000" / "dataset_info.json").is_file()
    assert "action rows differ: mean pairwise PSNR between rows at step 2" in run.stdout
    assert 0 <= summary["row_identical_pairs"] <= 28
    assert (summary["row_pairwise_psnr_db"] is None) == (summary["row_identical_pairs"] > 0)  # None: inf
    return summary, run


@pytest.mark.ros
@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_demo_drives_the_ros_node_through_every_action(tmp_path, backend):
    """The README's main job: ONNX export -> genie_sim node process -> rclpy client in the demo
    process (with --backend torch, the node on the checkpoint, nothing exported)."""
    summary, run = _demo(tmp_path, "--backend", backend)
    assert summary["mode"] == "ros" and summary["backend"] == backend
    assert (tmp_path / "demo" / "onnx" / "genie_onnx.json").is_file() == (backend == "onnx")
    # 16 generated frames and 8 reset frames at least (plus the node's start-up frame if it came after discovery)
    assert summary["frames_received"] >= 16 + 8 and summary["encoding"] == "rgb8"
    assert summary["frame_id"] == "genie_camera" and summary["stamps_increasing"]
    assert summary["node_frames_per_s"] > 0 and summary["client_frames_per_s"] > 0
    assert "node FPS" in run.stdout and "genie_sim ready" in (tmp_path / "demo" / "node.log").read_text()


def test_demo_in_process_without_ros(tmp_path):
    summary, run = _demo(tmp_path, "--in-process")
    assert summary["mode"] == "in_process" and "in process" in run.stdout
    assert summary["row_pairwise_psnr_db"] > 0  # 8 actions, 8 different rows


def test_demo_row_difference_is_inf_for_identical_rows_only():
    import numpy as np

    from genie_robotics.cli.demo import row_difference

    frames_ATHWC = np.zeros((8, 3, 4, 4, 3), np.uint8)
    assert row_difference(frames_ATHWC) == (float("inf"), 28)
    frames_ATHWC[:, -1] = np.arange(8)[:, None, None, None] * 10  # rows end 10 levels apart per action
    psnr_db, identical = row_difference(frames_ATHWC)
    assert identical == 0 and 20 < psnr_db < 60
    frames_ATHWC[1, -1] = frames_ATHWC[0, -1]  # only the final frame counts
    assert row_difference(frames_ATHWC) == (float("inf"), 1)


def test_demo_with_a_missing_checkpoint_is_one_line(tmp_path):
    run = subprocess.run([sys.executable, "-m", "genie_robotics.cli", "demo", "--checkpoint", str(tmp_path / "none")],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "does not exist" in run.stderr and run.stderr.count("\n") == 1


def test_help_lists_the_commands():
    run = subprocess.run([sys.executable, "-m", "genie_robotics.cli", "--help"], capture_output=True, text=True)
    assert run.returncode == 0 and "info" in run.stdout and "demo" in run.stdout


@pytest.mark.slow
def test_generate_then_probe_from_the_command_line(tmp_path, mujoco_dir):
    """The CLI wiring of generate and probe (their behaviour is tested in test_generate / test_probe)."""
    from genie_robotics.core.assets import SHIPPED_CHECKPOINT
    from genie_robotics.data.rlds_reader import open_rlds

    cli = [sys.executable, "-m", "genie_robotics.cli"]
    gen = subprocess.run([*cli, "generate", str(SHIPPED_CHECKPOINT), "--prompts", str(mujoco_dir), "--out",
                          str(tmp_path / "gen"), "--episodes", "2", "--steps", "3", "--policy", "script", "--script",
                          "4,5", "--maskgit-steps", "1", "--action-map", str(mujoco_dir), "--json", "--no-progress"],
                         capture_output=True, text=True, timeout=600)
    assert gen.returncode == 0, gen.stderr
    summary = json.loads(gen.stdout)
    assert summary["episodes"] == 2 and summary["action_map"]["action_dim"] == 5
    src = open_rlds(tmp_path / "gen")
    assert src.episodes == 2 and src.action_dim == 5
    again = subprocess.run([*cli, "generate", str(SHIPPED_CHECKPOINT), "--prompts", str(mujoco_dir), "--out",
                            str(tmp_path / "gen")], capture_output=True, text=True)
    assert again.returncode == 2 and "--overwrite" in again.stderr and again.stderr.count("\n") == 1

    probe = subprocess.run([*cli, "probe", str(SHIPPED_CHECKPOINT), "--data", str(mujoco_dir), "--out",
                            str(tmp_path / "probe"), "--episodes", "2", "--start-frames", "1", "--rollout-steps", "1",
                            "--maskgit-steps", "1", "--no-progress"], capture_output=True, text=True, timeout=600)
    assert probe.returncode == 0, probe.stderr
    report = json.loads((tmp_path / "probe" / "probe.json").read_text())
    assert len(report["code_usage"]) == 8 and len(report["consistency"]) == 8 and report["nmi"] is not None
    assert "code usage" in probe.stdout and (tmp_path / "probe" / "README.md").is_file()


def test_sampling_flags_left_out_take_the_checkpoints_values():
    from genie_robotics.cli.main import build_parser
    from genie_robotics.core.assets import SHIPPED_CHECKPOINT
    from genie_robotics.models.checkpoint import load_checkpoint
    from genie_robotics.sim.world_model import WorldModel

    ck = str(SHIPPED_CHECKPOINT)
    genie = load_checkpoint(ck)
    for argv in (["demo"], ["play", ck], ["eval", ck, "--data", "d"], ["probe", ck, "--data", "d", "--out", "o"],
                 ["generate", ck, "--prompts", "p", "--out", "o"]):
        args = build_parser().parse_args(argv)
        assert (args.maskgit_steps, args.temperature) == (None, None), argv
        world = WorldModel(genie, maskgit_steps=args.maskgit_steps, temperature=args.temperature)
        assert (world.maskgit_steps, world.temperature) == (genie.cfg.dynamics.maskgit_steps, genie.cfg.dynamics.temperature)
    given = build_parser().parse_args(["eval", ck, "--data", "d", "--maskgit-steps", "3", "--temperature", "1.5"])
    assert (given.maskgit_steps, given.temperature) == (3, 1.5)


def test_every_options_field_is_a_flag_with_the_dataclass_default():
    """The flags are made from the *Options dataclasses: parsing only the required arguments gives
    exactly the dataclass built from them, and a given flag reaches its field."""
    from pathlib import Path

    from genie_robotics.analysis.evaluation import EvalOptions
    from genie_robotics.analysis.probe import ProbeOptions
    from genie_robotics.cli.arguments import options_from
    from genie_robotics.cli.demo import DemoOptions
    from genie_robotics.cli.generate import GenerateOptions
    from genie_robotics.cli.main import build_parser
    from genie_robotics.cli.play import PlayOptions
    from training.train import TrainOptions, parse_options

    parser = build_parser()
    cases = [(["demo"], DemoOptions()),
             (["play", "m"], PlayOptions(model=Path("m"))),
             (["eval", "m", "--data", "d"], EvalOptions(model=Path("m"), data=["d"])),
             (["probe", "m", "--data", "d", "--out", "o"], ProbeOptions(model=Path("m"), data=Path("d"), out=Path("o"))),
             (["generate", "m", "--prompts", "p", "--out", "o"],
              GenerateOptions(model=Path("m"), prompts=Path("p"), out=Path("o")))]
    for argv, expected in cases:
        assert options_from(type(expected), parser.parse_args(argv)) == expected, argv
    opts, _ = parse_options(["--stage", "lam", "--data", "a", "--data", "b:2", "--out", "r"])
    assert opts == TrainOptions(stage="lam", data=["a", "b:2"], out="r")
    given = options_from(GenerateOptions, parser.parse_args(
        ["generate", "m", "--prompts", "p", "--out", "o", "--no-progress", "--overwrite", "--script", "1,2",
         "--stick-probability", "0.25", "--device", "cuda"]))
    assert (given.progress, given.overwrite, given.script, given.stick_probability, given.device) == \
        (False, True, [1, 2], 0.25, "cuda")
