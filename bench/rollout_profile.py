"""Where a generated frame's time goes: the world model's step split into its parts, for the
PyTorch and the ONNX Runtime backend side by side (imported by `bench/rollout.py --profile`).

`TimedBackend` wraps a backend and adds up the seconds of each call kind, so the split is
measured on the one rollout loop the product runs: the MaskGIT iterations (the dynamics
model's token probabilities at the sampling temperature),
the commit pass that appends the finished frame to the cache, the decoder step, and what is
left of the step (sampling, confidence ranking, re-masking, the uint8 copy to the host). The
prompt's encode is timed apart (it runs at reset only). The node's share (the frame to a
sensor_msgs/Image and CameraInfo, and both publishes) is timed on a real rclpy node when the
ROS extra is installed.
"""
from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
import torch

from genie_robotics.sim.rollout_backend import RolloutBackend
from genie_robotics.sim.world_model import WorldModel

PARTS = ("maskgit_iteration", "commit", "decode")


class TimedBackend(RolloutBackend):
    """`inner`, with the seconds and calls of encode / probabilities / commit / decode added up."""

    def __init__(self, inner: RolloutBackend) -> None:
        self.inner, self.cfg, self.device, self.name = inner, inner.cfg, inner.device, inner.name
        self.host_threads = inner.host_threads
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def _timed(self, kind: str, fn, *args):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn(*args)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self.seconds[kind] += time.perf_counter() - start
        self.calls[kind] += 1
        return out

    def clear(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def check_batch(self, batch):
        self.inner.check_batch(batch)

    def empty_caches(self, batch):
        return self.inner.empty_caches(batch)

    def encode(self, frames_BHWC):
        return self._timed("encode", self.inner.encode, frames_BHWC)

    def probabilities(self, tokens_BN, actions_B, cache, temperature):
        return self._timed("maskgit_iteration", self.inner.probabilities, tokens_BN, actions_B, cache, temperature)

    def commit(self, tokens_BN, actions_B, cache):
        return self._timed("commit", self.inner.commit, tokens_BN, actions_B, cache)

    def decode(self, tokens_BN, cache):
        return self._timed("decode", self.inner.decode, tokens_BN, cache)


def profile_steps(backend: RolloutBackend, maskgit_steps: int, frames: int, seed: int = 0, worlds: int = 1) -> dict:
    """Milliseconds per generated frame (per batched step of `worlds` worlds) in each part, at a
    full temporal context (the first context-filling steps are not timed), and the reset's encode."""
    timed = TimedBackend(backend)
    world = WorldModel(timed, maskgit_steps=maskgit_steps, seed=seed)
    prompts = np.full((worlds, world.cfg.height, world.cfg.width, 3), 128, np.uint8)
    timed.clear()
    world.reset(prompts)
    encode_ms = 1e3 * timed.seconds["encode"]
    actions_E = np.arange(worlds) % world.num_actions  # every world its own action
    for t in range(world.cfg.frames - 1):  # fill the context
        world.step((actions_E + t) % world.num_actions)
    timed.clear()
    start = time.perf_counter()
    for t in range(frames):
        world.step((actions_E + t) % world.num_actions)
    total_ms = 1e3 * (time.perf_counter() - start) / frames
    parts = {k: 1e3 * timed.seconds[k] / frames for k in PARTS}
    per_iteration = 1e3 * timed.seconds["maskgit_iteration"] / max(timed.calls["maskgit_iteration"], 1)
    return {"backend": backend.name, "maskgit_steps": maskgit_steps, "worlds": worlds,
            "frames_per_s": round(1e3 / total_ms, 3),
            "step_ms": round(total_ms, 2), "reset_encode_ms": round(encode_ms, 2),
            "maskgit_iteration_ms_each": round(per_iteration, 2),
            **{f"{k}_ms": round(v, 2) for k, v in parts.items()},
            "sampling_and_host_ms": round(total_ms - sum(parts.values()), 2)}


def node_publish_ms(height: int, width: int, repeats: int = 50) -> float | None:
    """Milliseconds for what the node does with a finished frame: Image + CameraInfo built and
    published (None without the ROS extra)."""
    try:
        import rclpy
        from sensor_msgs.msg import CameraInfo, Image
    except ImportError:
        return None
    from ros_nodes.camera import camera_info
    from ros_nodes.images import rgb_to_image

    rclpy.init()
    try:
        node = rclpy.create_node("genie_bench_publish")
        image_pub, info_pub = node.create_publisher(Image, "camera/image", 1), node.create_publisher(CameraInfo, "info", 1)
        frame = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
        start = time.perf_counter()
        for _ in range(repeats):
            img = rgb_to_image(frame, node.get_clock().now().to_msg(), "genie_camera")
            image_pub.publish(img)
            info_pub.publish(camera_info(img.header, height, width, 45.0))
        elapsed = time.perf_counter() - start
        node.destroy_node()
    finally:
        rclpy.shutdown()
    return round(1e3 * elapsed / repeats, 3)
