"""Policies in the loop: the reach task, pixel networks and policies, closed-loop runs in both worlds."""
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from genie_robotics.core.assets import SHIPPED_CHECKPOINT
from genie_robotics.core.errors import GenieError
from genie_robotics.data.mujoco_render import STOP, TELEOP_STEP
from genie_robotics.policies.closed_loop import run_in_mujoco, run_in_world_model, start_frames
from genie_robotics.policies.pixel_net import PixelNet
from genie_robotics.policies.pixel_policy import ExpertPolicy, RandomPolicy, TablePolicy
from genie_robotics.policies.policy_eval import checkpoint_sha256, pearson, spearman
from genie_robotics.policies.reach_task import (
    COMMANDS_C3,
    EPISODE_STEPS,
    MIN_START_DISTANCE,
    SUCCESS_RADIUS,
    ReachTask,
    command_classes,
    expert_choice,
)
from genie_robotics.sim.world_model import WorldModel

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def task():
    return ReachTask()


def test_the_camera_calibration_takes_pixels_back_to_the_arms_plane_and_the_servo_rule_is_the_experts(task):
    task.reset(200_003)
    world_from_pixel_23 = task.world_from_pixel()
    points_N2 = np.random.default_rng(0).uniform(-0.3, 0.3, (20, 2))
    pixels_N3 = np.concatenate((task.pixels(points_N2), np.ones((20, 1))), axis=1)
    assert np.allclose(pixels_N3 @ world_from_pixel_23.T, points_N2, atol=1e-6)
    # a servo that located the keypoints exactly would command what the state-reading expert does
    gripper, target = task.gripper(), task.target()
    assert np.array_equal(COMMANDS_C3[expert_choice(gripper, target - gripper)], task.expert_command())
    assert expert_choice(gripper, np.zeros(2)) == STOP


def test_command_classes_name_the_teleop_commands():
    assert command_classes(COMMANDS_C3).tolist() == list(range(9))
    assert command_classes(np.array([[0.3 * TELEOP_STEP, 0, 0.1 * TELEOP_STEP]]))[0] == STOP  # too short: stop
    assert command_classes(np.array([[0.9 * TELEOP_STEP, 0, 0.2 * TELEOP_STEP]]))[0] == 0  # mostly right: heading 0


def test_the_expert_reaches_every_target_and_random_commands_rarely_do(task):
    expert = run_in_mujoco(task, ExpertPolicy(task), 6, progress=False)
    random = run_in_mujoco(task, RandomPolicy(), 6, progress=False)
    assert expert.frames_ETHWC.shape == (6, EPISODE_STEPS + 1, 64, 64, 3)
    assert expert.true_success_E.all()
    assert random.true_success_E.mean() <= 0.5
    # Every command of a teleop policy moves the gripper by one step or holds it.
    assert set(command_classes(expert.commands_ET3.reshape(-1, 3))) <= set(range(9))


def test_reset_places_the_target_away_from_the_gripper_and_keypoints_land_on_the_target(task):
    for seed in range(5):
        frame = task.reset(seed)
        assert task.distance() >= MIN_START_DISTANCE
        col, row = np.round(task.keypoints()[1]).astype(int)
        patch = frame[max(row - 1, 0):row + 2, max(col - 1, 0):col + 2].reshape(-1, 3).astype(int)
        assert (patch[:, 0] - patch[:, 2]).max() > 40, (seed, patch)  # the reddish target ball, not the blue floor
    assert abs(task.metres_per_pixel * 64 - 0.614) < 0.02  # the teleop camera frames ~0.6 m


def test_pixel_policy_round_trips_through_safetensors_and_refuses_bad_files(tmp_path, task):
    torch.manual_seed(0)
    policy = TablePolicy(PixelNet(9), COMMANDS_C3, "untrained")
    policy.save(tmp_path / "p")
    again = TablePolicy.load(tmp_path / "p")
    frames = start_frames(task, 3)
    rng = np.random.default_rng(0)
    assert np.array_equal(policy(frames, rng), again(frames, rng)) and again.name == "untrained"
    header = json.loads((tmp_path / "p.json").read_text())
    (tmp_path / "p.json").write_text(json.dumps({**header, "commands": [[0, 0, 0]]}))
    with pytest.raises(GenieError, match="one per output"):
        TablePolicy.load(tmp_path / "p")
    with pytest.raises(GenieError, match="cannot read the pixel network"):
        TablePolicy.load(tmp_path / "missing")
    with pytest.raises(GenieError, match="reads frames of shape"):
        policy(np.zeros((1, 32, 32, 3), np.uint8), rng)


def test_rank_and_linear_correlation():
    assert spearman([0.1, 0.5, 0.9], [0.0, 0.2, 0.3]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833)  # ties share their mean rank
    assert pearson([0, 1, 2], [0, 2, 4]) == pytest.approx(1.0)
    assert np.isnan(pearson([1, 1, 1], [0, 1, 2]))


def test_the_learned_simulator_takes_each_policy_command_through_the_command_map(task):
    world = WorldModel.from_checkpoint(SHIPPED_CHECKPOINT)
    starts = start_frames(task, 3)
    run = run_in_world_model(world, RandomPolicy(), starts, steps=4, progress=False)
    assert run.frames_ETHWC.shape == (3, 5, 64, 64, 3) and run.commands_ET3.shape == (3, 4, 3)
    assert np.array_equal(world.last_actions, world.command_map.latent_actions(run.commands_ET3[:, -1]))
    # The first frame is the start frame as the model draws it: close to it, not a copy.
    assert np.abs(run.frames_ETHWC[:, 0].astype(int) - starts).mean() < 12


def test_stored_policy_results_were_measured_on_the_shipped_checkpoint():
    shipped = hashlib.sha256((SHIPPED_CHECKPOINT / "model.safetensors").read_bytes()).hexdigest()
    assert checkpoint_sha256(SHIPPED_CHECKPOINT) == shipped
    for name in ("policy_pretraining.json", "policy_eval.json"):
        stored = json.loads((ROOT / "examples" / "results" / name).read_text())
        assert stored["checkpoint_sha256"] == shipped, (
            f"examples/results/{name} was measured on another checkpoint: measure it again on the shipped one")


@pytest.mark.slow
def test_evaluate_policy_ladder_quick(tmp_path):
    run = subprocess.run([sys.executable, "-m", "genie_robotics.cli.main", "evaluate-policy", "--ladder", "--quick",
                          "--out", str(tmp_path), "--no-progress"], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads((tmp_path / "policy_eval.json").read_text())
    names = [p["name"] for p in result["policies"]]
    assert len(names) == 8 and names[0] == "random" and names[-1].startswith("BC on")
    for p in result["policies"]:
        assert 0 <= p["mujoco_success"] <= 1 and 0 <= p["simulator_success"] <= 1
    assert result["policies"][3]["name"] == "detector servo, 0% random"
    for p in result["policies"]:  # read from MuJoCo's frames, success agrees with MuJoCo's state
        assert abs(p["mujoco_success"] - p["mujoco_true_success"]) <= 0.25, p
    assert -1 <= result["spearman"] <= 1 and result["detector_error_px"] < 3
    assert result["success_radius_px"] == pytest.approx(SUCCESS_RADIUS / 0.0096, rel=0.02)
    assert result["checkpoint_sha256"] == checkpoint_sha256(SHIPPED_CHECKPOINT)
    assert (tmp_path / "policy_eval.png").stat().st_size > 0 and (tmp_path / "detector.safetensors").is_file()
    assert "Spearman" in run.stdout


def test_evaluate_policy_needs_a_ladder_or_a_policy(tmp_path):
    run = subprocess.run([sys.executable, "-m", "genie_robotics.cli.main", "evaluate-policy", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 2 and run.stderr.strip().count("\n") == 0, run.stderr
    assert "--ladder or at least one --policy" in run.stderr
