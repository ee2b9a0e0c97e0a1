"""The ROS half of `genie-robotics demo`: start the `genie_sim` node as its own process and drive
it from an rclpy client in this process through every latent action.

`genie_robotics/cli/demo.py` renders the prompt, calls `ros_rollouts` and reports on the frames.
"""
from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from genie_robotics.cli.messages import steps_phrase
from genie_robotics.core.errors import GenieError
from genie_robotics.core.images import save_png
from genie_robotics.export.onnx_export import export_onnx
from ros_nodes.client import GenieSimClient, stamp_seconds
from ros_nodes.images import image_to_rgb

if TYPE_CHECKING:
    from genie_robotics.cli.demo import DemoOptions

log = logging.getLogger("genie_robotics.cli.demo")  # the CLI shows INFO on stdout as "[demo] ..."


def ros_rollouts(opts: DemoOptions, prompt: np.ndarray, num_actions: int) -> dict:
    """Export to ONNX (backend onnx), start the genie_sim node, drive it through every action from
    this process."""
    model_dir = opts.checkpoint
    if opts.backend == "onnx":
        model_dir = export_onnx(opts.checkpoint, opts.out / "onnx")
        log.info(f"exported {opts.checkpoint} to ONNX at {model_dir}")
    prompt_png = opts.out / "prompt_frame.png"
    save_png(prompt, prompt_png)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # loopback only, for the node too
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 100)))
    os.environ.setdefault("ROS_LOG_DIR", str((opts.out / "roslog").resolve()))
    log_path = opts.out / "node.log"
    cmd = [sys.executable, "-m", "ros_nodes.genie_sim_node", "--ros-args",
           "-p", f"model_dir:={model_dir.resolve()}", "-p", f"backend:={opts.backend}",
           "-p", f"prompt_image:={prompt_png.resolve()}",
           "-p", "mode:=on_action", "-p", f"maskgit_steps:={opts.maskgit_steps}",
           "-p", f"temperature:={float(opts.temperature)}", "-p", f"seed:={opts.seed}"]
    with open(log_path, "w") as node_log:
        node = subprocess.Popen(cmd, stdout=node_log, stderr=subprocess.STDOUT)
    log.info(f"started genie_sim node (pid {node.pid}, ROS_DOMAIN_ID {os.environ['ROS_DOMAIN_ID']}, loopback; "
          f"log {log_path})")
    client = GenieSimClient("genie_sim_demo_client")
    try:
        if not client.wait_for_node(opts.timeout) or node.poll() is not None:
            raise GenieError(f"the genie_sim node did not come up within {opts.timeout:.0f} s; see {log_path}: "
                             f"{_last_line(log_path)}")
        return _drive(client, node, opts, log_path, num_actions)
    finally:
        client.close()
        _stop(node)


def _drive(client, node, opts: DemoOptions, log_path: Path, num_actions: int) -> dict:
    """Every latent action from the configured prompt: reset, then `rollout_steps` action messages."""
    actions = range(num_actions)
    rows, received_before = [], len(client.images)
    start = time.time()
    bar = tqdm(total=len(actions) * opts.rollout_steps, desc="[demo] frames from genie_sim", unit="frame",
               disable=not opts.progress)
    for action in actions:
        frames = [client.reset(opts.timeout)]  # each row starts from the configured prompt
        while frames[-1] is not None and len(frames) <= opts.rollout_steps:
            frames.append(client.send_action(action, opts.timeout))
            bar.update(1)
        if frames[-1] is None or node.poll() is not None:
            raise GenieError(f"no frame from the genie_sim node for action {action} within {opts.timeout:.0f} s; "
                             f"see {log_path}: {_last_line(log_path)}")
        rows.append(frames)
    bar.close()
    elapsed = time.time() - start
    client.spin_until(lambda: len(client.step_times) >= len(actions) * opts.rollout_steps, 5.0)
    msgs = [m for row in rows for m in row]
    stamps = [stamp_seconds(m) for m in msgs]
    generated = len(actions) * opts.rollout_steps
    node_fps = 1.0 / float(np.mean(client.step_times)) if client.step_times else None
    summary = {
        "mode": "ros",
        "backend": opts.backend,
        "frames": np.stack([np.stack([image_to_rgb(m) for m in row]) for row in rows]),
        "frames_received": len(client.images) - received_before,
        "camera_info_received": len(client.infos),
        "rollout_frames": generated,
        "encoding": msgs[0].encoding, "frame_id": msgs[0].header.frame_id,
        "stamps_increasing": bool(np.all(np.diff(stamps) > 0)),
        "node_frames_per_s": round(node_fps, 2) if node_fps else None,
        "client_frames_per_s": round(generated / elapsed, 2),
    }
    log.info(f"received {summary['frames_received']} frames ({generated} generated, the rest from resets and "
          f"start-up; "
          f"{msgs[0].width}x{msgs[0].height} {summary['encoding']}, frame_id {summary['frame_id']}, "
          f"stamps increasing: {summary['stamps_increasing']})")
    runtime = {"onnx": "ONNX Runtime", "torch": "PyTorch", "torch-compiled": "PyTorch, compiled"}[opts.backend]
    log.info(f"node FPS {summary['node_frames_per_s']} (its ~/step_time, {steps_phrase(opts.maskgit_steps)}, "
          f"{runtime}); round trip through ROS {summary['client_frames_per_s']} frames/s")
    return summary


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()] if path.exists() else []
    return lines[-1] if lines else "(no output)"


def _stop(node: subprocess.Popen) -> None:
    if node.poll() is None:
        node.send_signal(signal.SIGINT)
        try:
            node.wait(timeout=15)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()
