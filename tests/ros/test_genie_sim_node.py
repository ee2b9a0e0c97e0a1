"""The genie_sim node in a real ROS 2 graph: node and client are separate rclpy processes."""
import os
import random
import subprocess
import sys
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")  # the `ros` extra; scripts/test.sh installs it


@pytest.fixture
def ros_env(tmp_path, monkeypatch):
    env = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_LOG_DIR": str(tmp_path / "roslog"),
           "ROS_DOMAIN_ID": str(random.randint(1, 200))}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def _start_node(*params, console_script=False):
    from pathlib import Path

    exe = [str(Path(sys.executable).parent / "genie_sim_node")] if console_script else [sys.executable, "-m",
                                                                                        "ros_nodes.genie_sim_node"]
    args = [*exe, "--ros-args", "-p", "maskgit_steps:=2", "-p", "frame_id:=test_cam"]
    for p in params:
        args += ["-p", p]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ))


class Client:
    def __init__(self):
        from rclpy.node import Node
        from sensor_msgs.msg import CameraInfo, Image
        from std_msgs.msg import UInt8
        from std_srvs.srv import Trigger

        rclpy.init()
        self.node = Node("genie_sim_test_client")
        self.images, self.infos = [], []
        self.node.create_subscription(Image, "camera/image", self.images.append, 10)
        self.node.create_subscription(CameraInfo, "camera/camera_info", self.infos.append, 10)
        self.action = self.node.create_publisher(UInt8, "action", 10)
        self.prompt = self.node.create_publisher(Image, "prompt", 5)
        self.reset = self.node.create_client(Trigger, "reset")
        self.UInt8, self.Image, self.Trigger = UInt8, Image, Trigger

    def spin_until(self, condition, timeout=60.0):
        end = time.time() + timeout
        while time.time() < end and not condition():
            rclpy.spin_once(self.node, timeout_sec=0.05)
        return condition()

    def close(self):
        self.node.destroy_node()
        rclpy.shutdown()


def _image(encoding, height, width, channels, data=None):
    from sensor_msgs.msg import Image

    msg = Image(height=height, width=width, encoding=encoding, step=width * channels)
    msg.data = data if data is not None else np.random.default_rng(0).integers(0, 256, height * width * channels,
                                                                              dtype=np.uint8).tobytes()
    return msg


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_node_publishes_a_frame_per_action_and_survives_bad_input(ros_env, backend):
    node = _start_node(f"backend:={backend}", console_script=backend == "onnx")  # both ways of starting it
    client = Client()
    try:
        assert client.spin_until(lambda: client.action.get_subscription_count() > 0, 120), "node never subscribed"
        for action in (3, 9, 1):  # 9 is not a latent action: logged and ignored
            client.action.publish(client.UInt8(data=action))
        assert client.spin_until(lambda: len(client.images) >= 2 and len(client.infos) >= 2, 120)
        img, info = client.images[-1], client.infos[-1]
        assert (img.height, img.width, img.encoding, img.step) == (64, 64, "rgb8", 192) and len(img.data) == 64 * 64 * 3
        assert img.header.frame_id == "test_cam" and info.header.frame_id == "test_cam"
        assert (info.height, info.width) == (64, 64)
        # A prompt of another size and encoding restarts the world; broken ones are ignored.
        for msg in (_image("bgr8", 32, 48, 3), _image("rgb8", 10, 10, 3, data=b"short"), _image("yuv422", 4, 4, 2),
                    _image("mono8", 20, 30, 1)):
            client.prompt.publish(msg)
        seen = len(client.images)
        assert client.spin_until(lambda: len(client.images) >= seen + 2, 60)
        assert client.reset.wait_for_service(timeout_sec=30)
        future = client.reset.call_async(client.Trigger.Request())
        assert client.spin_until(future.done, 60) and future.result().success
        client.action.publish(client.UInt8(data=5))
        seen = len(client.images)
        assert client.spin_until(lambda: len(client.images) > seen, 60)
        assert node.poll() is None, "node exited"
    finally:
        client.close()
        node.terminate()
        out = node.communicate(timeout=30)[0]
    assert "ignoring action 9" in out and "ignoring prompt: image data length" in out
    assert "unsupported image encoding 'yuv422'" in out


def test_bad_backend_parameter_is_one_line(ros_env):
    node = _start_node("backend:=tpu")
    out = node.communicate(timeout=120)[0]
    assert node.returncode == 2 and "backend must be onnx or torch, got 'tpu'" in out
