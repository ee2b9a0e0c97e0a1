"""The genie_sim node in a real ROS 2 graph: node and client are separate rclpy processes."""
import math
import os
import random
import subprocess
import sys
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")  # the `ros` extra; scripts/test.sh installs it
from genie_robotics.core.assets import SHIPPED_CHECKPOINT  # noqa: E402
from ros_nodes.camera import intrinsics, trained_camera_fovy_deg  # noqa: E402
from ros_nodes.client import GenieSimClient, stamp_seconds  # noqa: E402
from ros_nodes.images import image_to_rgb as image_msg_to_array  # noqa: E402

pytestmark = pytest.mark.ros  # every test starts genie_sim node processes


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


def _stop(node) -> str:
    """SIGTERM, then the node's whole output; a node that does not exit within 30 s fails the test."""
    node.terminate()
    try:
        return node.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        node.kill()
        pytest.fail("node still running 30 s after SIGTERM; its output ended with:\n" + node.communicate()[0][-2000:])


def _statuses(client) -> list[tuple[object, dict]]:
    """The node's /diagnostics statuses received so far, oldest first: (DiagnosticStatus, its values)."""
    return [(s, {kv.key: kv.value for kv in s.values}) for s in client.diagnostics if s.name == "genie_sim: world model"]


def _await_status(client, timeout: float = 30.0, **want) -> tuple[object, dict]:
    """The first status whose values equal `want` (strings) and that has measured generated frames."""
    def match():
        return [(s, v) for s, v in _statuses(client) if float(v["step_time_ms"]) > 0 and float(v["frames_per_s"]) > 0
                and all(v.get(k) == w for k, w in want.items())]
    assert client.spin_until(match, timeout), f"no status with {want} and frames; got {_statuses(client)[-3:]}"
    return match()[0]


def _image(encoding, height, width, channels, data=None):
    from sensor_msgs.msg import Image

    msg = Image(height=height, width=width, encoding=encoding, step=width * channels)
    msg.data = data if data is not None else np.random.default_rng(0).integers(0, 256, height * width * channels,
                                                                              dtype=np.uint8).tobytes()
    return msg


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_node_publishes_a_frame_per_action_and_survives_bad_input(ros_env, backend):
    node = _start_node(f"backend:={backend}", console_script=backend == "onnx")  # both ways of starting it
    client = GenieSimClient("genie_sim_test_client")
    try:
        assert client.wait_for_node(120), "node never came up"
        for action in (3, 9, 1):  # 9 is not a latent action: logged and ignored
            client.action_pub.publish(client.UInt8(data=action))
        assert client.spin_until(lambda: len(client.images) >= 2 and len(client.infos) >= 2, 120)
        img, info = client.images[-1], client.infos[-1]
        assert (img.height, img.width, img.encoding, img.step) == (64, 64, "rgb8", 192) and len(img.data) == 64 * 64 * 3
        assert img.header.frame_id == "test_cam" and info.header.frame_id == "test_cam"
        assert (info.height, info.width) == (64, 64)
        # Intrinsics of the camera the shipped model's training video was rendered with.
        fovy = trained_camera_fovy_deg(SHIPPED_CHECKPOINT)
        k, _ = intrinsics(64, 64, fovy)
        assert list(info.k) == pytest.approx(k) and info.k[0] == pytest.approx(32 / math.tan(math.radians(fovy) / 2))
        assert info.distortion_model == "plumb_bob" and list(info.d) == [0.0] * 5
        # A prompt of another size and encoding restarts the world; broken ones are ignored.
        for msg in (_image("bgr8", 32, 48, 3), _image("rgb8", 10, 10, 3, data=b"short"), _image("yuv422", 4, 4, 2),
                    _image("mono8", 20, 30, 1)):
            client.prompt_pub.publish(msg)
        seen = len(client.images)
        assert client.spin_until(lambda: len(client.images) >= seen + 2, 60)
        assert client.reset(60) is not None
        assert client.send_action(5) is not None
        stamps = [stamp_seconds(m) for m in client.images]
        assert all(b > a for a, b in zip(stamps, stamps[1:])), "stamps must increase"
        assert client.spin_until(lambda: len(client.step_times) >= 3, 10) and min(client.step_times) > 0
        # /diagnostics: the node's status; the bad input above makes it WARN while it is recent.
        status, values = _await_status(client, maskgit_steps="2")
        assert status.hardware_id == "tiny on cpu"
        assert values["backend"] == {"torch": "torch", "onnx": "onnx (CPUExecutionProvider)"}[backend]
        assert values["mode"] == "on_action" and "fps_target" not in values
        assert float(values["step_time_last_ms"]) > 0 and int(values["frames_published"]) >= 2  # prompt + a step
        assert client.spin_until(lambda: any(s.level == s.WARN and "refused or failed" in s.message
                                             and int(v["failures"]) >= 3  # action 9, the short prompt, yuv422
                                             for s, v in _statuses(client)), 30), _statuses(client)[-1]
        assert node.poll() is None, "node exited"
    finally:
        client.close()
        out = _stop(node)
    assert "ignoring action: 9 is not a latent action" in out and "ignoring prompt: image data length" in out
    assert "unsupported image encoding 'yuv422'" in out


def _malformed_images(count: int, seed: int = 0):
    """Images no node should choke on: zero, huge and mismatched sizes, bad steps and encodings."""
    from sensor_msgs.msg import Image

    rng = np.random.default_rng(seed)
    encodings = ["rgb8", "bgr8", "mono8", "rgba8", "16UC1", "", "yuv422"]
    sizes = [0, 1, 2, 3, 17, 64, 4097, 100_000, 2**31 - 1]
    for _ in range(count):
        h, w = (int(rng.choice(sizes)) for _ in range(2))
        msg = Image(height=h, width=w, encoding=str(rng.choice(encodings)),
                    step=int(rng.choice([0, 1, w, 3 * w, 3 * w + 5, 2**32 - 1]) % 2**32))
        msg.data = rng.integers(0, 256, int(rng.choice([0, 1, 7, 3 * min(h * w, 4096)])), dtype=np.uint8).tobytes()
        yield msg


def test_no_message_ends_the_node_and_every_reset_is_answered(ros_env):
    node = _start_node("backend:=torch", "maskgit_steps:=1")
    client = GenieSimClient("genie_sim_fuzz_client")
    try:
        assert client.wait_for_node(120), "node never came up"
        rng = np.random.default_rng(1)
        for i, msg in enumerate(_malformed_images(300)):
            client.prompt_pub.publish(msg)
            if i % 3 == 0:
                client.action_pub.publish(client.UInt8(data=int(rng.integers(0, 256))))
            client.spin_until(lambda: False, 0.005)
        assert client.reset_client.wait_for_service(timeout_sec=60)
        futures = [client.reset_client.call_async(client.Trigger.Request()) for _ in range(100)]
        assert client.spin_until(lambda: all(f.done() for f in futures), 240), \
            f"{sum(not f.done() for f in futures)} of 100 concurrent resets never answered"
        assert all(f.result().success for f in futures)
        assert node.poll() is None, "node exited"
        frame = client.send_action(2)
        assert frame is not None and image_msg_to_array(frame).shape == (64, 64, 3)
    finally:
        client.close()
        out = _stop(node)
    assert "image has no pixels" in out and "is larger than" in out and "is not a latent action" in out
    assert "Traceback" not in out


def test_sampling_parameters_change_at_run_time_within_their_ranges(ros_env):
    node = _start_node("backend:=torch")  # maskgit_steps:=2 from _start_node; temperature: the checkpoint's
    client = GenieSimClient("genie_sim_param_client")
    try:
        assert client.wait_for_node(120), "node never came up"
        assert client.send_action(1) is not None
        _, values = _await_status(client, maskgit_steps="2")
        assert values["temperature"] != "1.5"
        results = client.set_parameters(maskgit_steps=7, temperature=1.5)
        assert results is not None and all(r.successful for r in results), results
        assert client.send_action(1) is not None  # generated with the new settings
        _await_status(client, maskgit_steps="7", temperature="1.5")  # step time measured afresh after the change
        refused = client.set_parameters(maskgit_steps=5000)  # outside its range
        assert refused is not None and not refused[0].successful
        read_only = client.set_parameters(model_dir="/elsewhere")
        assert read_only is not None and not read_only[0].successful
        assert node.poll() is None
    finally:
        client.close()
        out = _stop(node)
    from genie_robotics.core.checkpoint_files import load_config

    shipped = load_config(SHIPPED_CHECKPOINT).dynamics
    order = " in random order" if shipped.unmasking == "random" else " by confidence"  # the checkpoint's
    assert f"2 MaskGIT steps{order}, temperature {shipped.temperature:g}" in out  # a parameter left out: the checkpoint's
    assert f"sampling now 7 MaskGIT steps{order}, temperature 1.5" in out


def test_bad_backend_parameter_is_one_line(ros_env):
    node = _start_node("backend:=tpu")
    out = node.communicate(timeout=120)[0]
    assert node.returncode == 2 and "backend must be one of auto, onnx, torch, torch-compiled, got 'tpu'" in out


def test_timer_mode_free_runs_holding_the_last_action_in_a_namespace(ros_env):
    node = subprocess.Popen(
        [sys.executable, "-m", "ros_nodes.genie_sim_node", "--ros-args", "-r", "__ns:=/sim", "-p", "mode:=timer",
         "-p", "fps:=20.0", "-p", "maskgit_steps:=1", "-p", "backend:=torch"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ))
    client = GenieSimClient("genie_sim_timer_client", namespace="/sim")
    try:
        assert client.wait_for_node(120), "node never came up"
        client.action_pub.publish(client.UInt8(data=6))  # one action message, then nothing
        seen = len(client.images)
        assert client.spin_until(lambda: len(client.images) >= seen + 4, 60), "timer mode stopped publishing"
        frames = [image_msg_to_array(m) for m in client.images[seen:]]
        assert all(f.shape == (64, 64, 3) for f in frames)
        stamps = [stamp_seconds(m) for m in client.images]
        assert all(b > a for a, b in zip(stamps, stamps[1:]))
        assert client.spin_until(lambda: len(client.step_times) >= 4, 10)
        _await_status(client, mode="timer", fps_target="20")  # /diagnostics is absolute: outside the namespace
    finally:
        client.close()
        out = _stop(node)
    assert "mode timer" in out


@pytest.mark.parametrize("backend", ["torch", "torch-compiled"])
def test_the_node_is_warm_when_discovered_and_its_seed_gives_the_in_process_rollout(ros_env, backend):
    """The warm-up step (where torch-compiled compiles) runs before the node's topics exist, and
    the sampler is seeded again after it: the node's frames are the in-process WorldModel's."""
    from genie_robotics.sim.world_model import load_world_model

    node = _start_node(f"backend:={backend}", "seed:=7")
    client = GenieSimClient("genie_sim_seed_client")
    try:
        assert client.wait_for_node(300), "node never came up"
        got = [client.reset(60)] + [client.send_action(a, 60) for a in (3, 5, 3)]
        assert all(m is not None for m in got)
    finally:
        client.close()
        out = _stop(node)
    assert out.index("warmed up in") < out.index("genie_sim ready")
    world = load_world_model(SHIPPED_CHECKPOINT, "torch", seed=7, maskgit_steps=2)
    want = [world.reset(np.full((64, 64, 3), 128, np.uint8))] + [world.step(a) for a in (3, 5, 3)]
    for msg, frame in zip(got, want):
        assert np.abs(image_msg_to_array(msg).astype(int) - frame).max() <= 1


def test_several_worlds_step_in_lockstep_on_their_own_topics(ros_env):
    """num_envs 3: each world on env_<i>/, one batched step once every world has an action."""
    from std_msgs.msg import UInt8

    node = _start_node("num_envs:=3", "backend:=onnx")  # the checkpoint exported with a batch dimension
    clients = [GenieSimClient(f"genie_sim_env_client_{i}", namespace=f"/env_{i}") for i in range(3)]

    def spin_all(condition, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end and not condition():
            for c in clients:
                c.spin_until(lambda: False, 0.02)
        return condition()

    try:
        assert all(c.wait_for_node(120) for c in clients), "node never came up"
        spin_all(lambda: False, 3)  # the start-up prompt frames, if they reach the clients at all
        seen = [len(c.images) for c in clients]
        clients[0].action_pub.publish(UInt8(data=2))
        clients[1].action_pub.publish(UInt8(data=5))
        assert not spin_all(lambda: any(len(c.images) > n for c, n in zip(clients, seen)), 5), \
            "a world stepped before every world had an action"
        clients[2].action_pub.publish(UInt8(data=7))
        assert spin_all(lambda: all(len(c.images) > n for c, n in zip(clients, seen)), 60), "no batched step"
        spin_all(lambda: False, 1)  # anything more would be a second step
        assert [len(c.images) - n for c, n in zip(clients, seen)] == [1, 1, 1]
        frames = [image_msg_to_array(c.images[-1]) for c in clients]
        assert all(f.shape == (64, 64, 3) for f in frames)
        assert len({stamp_seconds(c.images[-1]) for c in clients}) == 1  # one step, one stamp
        assert not np.array_equal(frames[0], frames[2])  # different actions, different worlds
    finally:
        for c in clients[1:]:
            c.node.destroy_node()
        clients[0].close()
        out = _stop(node)
    assert "Traceback" not in out


def _checkpoint_with_command_map(tmp_path):
    """The shipped checkpoint with a command map fitted on scripted labels: heading h of 8 -> code h."""
    import shutil

    from genie_robotics.commands import codebook_digest, fit_command_map
    from genie_robotics.models.checkpoint import load_checkpoint

    ckpt = tmp_path / "ckpt"
    shutil.copytree(SHIPPED_CHECKPOINT, ckpt)
    (ckpt / "command_map.json").unlink(missing_ok=True)
    codebook = load_checkpoint(ckpt).lam.quantizer.codebook
    rng = np.random.default_rng(0)
    headings = rng.integers(0, 8, 800)
    angles = headings * np.pi / 4
    commands = np.stack([np.cos(angles), np.zeros(800), np.sin(angles)], 1) * 0.04 + rng.normal(0, 0.002, (800, 3))
    fit_command_map(commands, headings, 8, 10.0, codebook_digest(codebook)).save(ckpt)
    return ckpt


def test_velocity_commands_drive_the_node_as_the_in_process_world_model(ros_env, tmp_path):
    """cmd (TwistStamped, m/s) -> one frame's displacement -> the command map's latent action, reported
    on latent_action; the frames are the in-process WorldModel's for the same commands and seed. Bad
    commands (NaN, absurd speed, wrong frame) are one warning each and the node keeps going."""
    from genie_robotics.sim.world_model import load_world_model

    ckpt = _checkpoint_with_command_map(tmp_path)
    node = _start_node(f"model_dir:={ckpt}", "backend:=torch", "seed:=3")
    client = GenieSimClient("genie_sim_cmd_client")
    velocities = [(0.4, 0.0), (0.0, 0.4), (-0.4, 0.0), (0.0, 0.0)]  # m/s; at 10 frames/s 4 cm per frame
    try:
        assert client.wait_for_node(120), "node never came up"
        got = [client.reset(60)] + [client.send_command(vx, vz, timeout=60) for vx, vz in velocities]
        assert all(m is not None for m in got)
        assert client.spin_until(lambda: len(client.latent_actions) >= 4, 10)
        reported = list(client.latent_actions)
        for bad in ((float("nan"), 0.0, "genie_base"), (50.0, 0.0, "genie_base"), (0.4, 0.0, "base_link")):
            client.send_command(bad[0], bad[1], frame=bad[2], timeout=1)
        assert client.send_command(0.0, -0.4, timeout=60) is not None, "the node stopped after bad commands"
        assert node.poll() is None
    finally:
        client.close()
        out = _stop(node)
    world = load_world_model(ckpt, "torch", seed=3, maskgit_steps=2)
    want = [world.reset(np.full((64, 64, 3), 128, np.uint8))]
    chosen = []
    for vx, vz in velocities:
        want.append(world.step(command=[vx / 10, 0.0, vz / 10]))
        chosen.append(int(world.last_actions[0]))
    assert reported == chosen == [0, 2, 4, int(world.command_map.latent_actions(np.zeros(3)))]
    for msg, frame in zip(got, want):
        assert np.abs(image_msg_to_array(msg).astype(int) - frame).max() <= 1
    assert "ignoring cmd: cmd holds a NaN or infinite speed" in out
    assert "ignoring cmd: cmd speed 50 m/s is above max_command_speed 2 m/s" in out
    assert "ignoring cmd: cmd is in frame 'base_link', not 'genie_base'" in out


@pytest.mark.parametrize("damage", ["corrupt", "tampered", "other_lam"])
def test_a_bad_command_map_is_refused_in_one_line_at_start(ros_env, tmp_path, damage):
    import json

    ckpt = _checkpoint_with_command_map(tmp_path)
    path = ckpt / "command_map.json"
    if damage == "corrupt":
        path.write_text(path.read_text()[:200])
    else:
        data = json.loads(path.read_text())
        data["bias"][0] += 5.0  # an edit: the digest no longer matches
        if damage == "other_lam":  # a consistent file fitted for another LAM
            from genie_robotics.commands.command_map import _digest

            data["lam_digest"] = "0" * 64
            data.pop("sha256")
            data["sha256"] = _digest(data)
        path.write_text(json.dumps(data))
    node = _start_node(f"model_dir:={ckpt}", "backend:=torch")
    out = node.communicate(timeout=120)[0]
    errors = [line for line in out.splitlines() if "error" in line]
    assert node.returncode == 2 and len(errors) == 1, out
    assert ("another latent action model" if damage == "other_lam" else "is corrupt or was edited") in errors[0]


def test_worlds_that_do_not_fit_in_memory_are_refused_before_anything_starts(ros_env, monkeypatch):
    """GENIE_MEMORY_LIMIT stands for a small machine: one line naming the need, the memory
    available and the largest num_envs that fits; exit 2."""
    monkeypatch.setenv("GENIE_MEMORY_LIMIT", "1G")
    node = _start_node("num_envs:=64", "backend:=torch")
    out = node.communicate(timeout=120)[0]
    assert node.returncode == 2, out
    refusal = [line for line in out.splitlines() if "num_envs 64 needs about" in line]
    assert len(refusal) == 1 and "1.0 GB is available; at most" in refusal[0], out
    assert "genie_sim ready" not in out and "warmed up" not in out
