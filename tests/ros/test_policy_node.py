"""A pixel policy node closed-loop against genie_sim: separate rclpy processes, nothing stubbed."""
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

rclpy = pytest.importorskip("rclpy")  # the `ros` extra; scripts/test.sh installs it
from genie_robotics.commands.command_map import load_command_map  # noqa: E402
from genie_robotics.core.assets import SHIPPED_CHECKPOINT  # noqa: E402
from genie_robotics.core.images import save_png  # noqa: E402
from genie_robotics.policies.pixel_net import PixelNet  # noqa: E402
from genie_robotics.policies.pixel_policy import TablePolicy  # noqa: E402
from genie_robotics.policies.reach_task import COMMANDS_C3, ReachTask  # noqa: E402
from ros_nodes.client import GenieSimClient, stamp_seconds  # noqa: E402

pytestmark = pytest.mark.ros

FPS = 10.0


@pytest.fixture
def ros_env(tmp_path, monkeypatch):
    for k, v in {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_LOG_DIR": str(tmp_path / "roslog"),
                 "ROS_DOMAIN_ID": str(random.randint(1, 200))}.items():
        monkeypatch.setenv(k, v)


def _start(module: str, *params: str) -> subprocess.Popen:
    args = [sys.executable, "-m", module, "--ros-args"]
    for p in params:
        args += ["-p", p]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ))


def _stop(process: subprocess.Popen) -> str:
    process.terminate()
    try:
        return process.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()[0]


def test_policy_node_drives_genie_sim_closed_loop(ros_env, tmp_path):
    from geometry_msgs.msg import TwistStamped

    torch.manual_seed(0)  # an untrained network is still a policy: frames in, one of 9 commands out
    policy = TablePolicy(PixelNet(len(COMMANDS_C3)), COMMANDS_C3, "untrained")
    policy.save(tmp_path / "policy")
    save_png(ReachTask().reset(200_000), tmp_path / "prompt.png")

    sim = _start("ros_nodes.genie_sim_node", "backend:=torch", f"model_dir:={SHIPPED_CHECKPOINT}",
                 f"prompt_image:={tmp_path / 'prompt.png'}", "maskgit_steps:=1")
    pilot = _start("ros_nodes.policy_node", f"policy_path:={tmp_path / 'policy'}", f"fps:={FPS}")
    client = GenieSimClient("policy_loop_observer")
    commands: list = []
    client.node.create_subscription(TwistStamped, "cmd", commands.append, 50)
    try:
        assert client.wait_for_node(120), "genie_sim never came up"
        assert client.spin_until(lambda: client.command_pub.get_subscription_count() > 0
                                 and client.node.count_publishers("/cmd") > 0, 60), "policy_node never came up"
        assert client.reset() is not None  # republishes the prompt: the policy answers it, and the loop runs
        assert client.spin_until(lambda: len(commands) >= 8 and len(client.images) >= 9, 120), \
            f"the loop stalled: {len(client.images)} frames, {len(commands)} commands"
    finally:
        sim_log, pilot_log = _stop(sim), _stop(pilot)
    assert "Traceback" not in sim_log + pilot_log, sim_log[-2000:] + pilot_log[-2000:]

    image_stamps = [stamp_seconds(m) for m in client.images]
    command_map = load_command_map(SHIPPED_CHECKPOINT)
    # The policy may answer the start-up frame before this observer subscribed: check what it saw.
    commands = [c for c in commands if stamp_seconds(c) >= min(image_stamps)]
    assert len(commands) >= 6, len(commands)
    for cmd in commands[:6]:
        # Each command answers one published frame (it carries that frame's stamp) ...
        assert cmd.header.frame_id == "genie_base"
        assert stamp_seconds(cmd) in image_stamps
        # ... and is one of the policy's commands, as a velocity over one frame.
        displacement = np.array([cmd.twist.linear.x, cmd.twist.linear.y, cmd.twist.linear.z]) / FPS
        assert np.abs(COMMANDS_C3 - displacement).max(axis=1).min() < 1e-6, displacement
    # Every command after the reset produced the next frame: stamps strictly increase, one frame per command.
    answered = sorted({stamp_seconds(c) for c in commands})
    assert len(answered) >= 6 and all(b > a for a, b in zip(answered, answered[1:]))
    # genie_sim drove its frames with the latent actions the command map gives these commands, in order.
    expected = [int(np.atleast_1d(command_map.latent_actions(np.array([c.twist.linear.x, c.twist.linear.y, c.twist.linear.z])
                                               / FPS))[0]) for c in commands]
    seen = client.latent_actions[1:6]
    assert len(seen) == 5 and any(expected[i:i + 5] == seen for i in range(len(expected))), (seen, expected)
