"""genie_sim: the learned simulator as a ROS 2 node.

Publishes the world model's predicted camera frame (`camera/image`, rgb8, with a matching
`camera/camera_info`) for every latent action it receives on `action` (std_msgs/UInt8, 0-7) or,
in `timer` mode, at `fps` holding the last action. `prompt` (sensor_msgs/Image: rgb8, bgr8 or
mono8, any size) restarts the world from that frame; the `reset` service (std_srvs/Trigger)
restarts it from the configured prompt. `~/step_time` (std_msgs/Float32) is the measured
seconds per generated frame.

No message or call can end the node: every callback is guarded, bad input is logged in one
line, counted (`~/failures` in the log at exit) and dropped, and the node keeps publishing.
Queues (README, "QoS"): `action` keeps the newest ACTION_QUEUE_DEPTH messages, older ones are
dropped under overload; `reset` keeps RESET_QUEUE_DEPTH requests and answers every one it
receives; a reset while the world already sits at the configured prompt only republishes it.

Run: `ros2 run genie_sim genie_sim_node --ros-args -p model_dir:=...` or the bare console
script `genie_sim_node --ros-args ...`.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

PARAMETERS = {
    "model_dir": "",  # checkpoint (torch) or ONNX export; empty = the shipped tiny checkpoint
    "backend": "onnx",  # onnx | torch (auto: onnx for an export directory, torch for a checkpoint)
    "providers": [""],  # ONNX Runtime providers; empty = TensorRT -> CUDA -> CPU, whatever exists
    "prompt_image": "",  # path to an image; empty = a mid-grey frame
    "mode": "on_action",  # on_action | timer
    "fps": 10.0,
    "maskgit_steps": 25,
    "temperature": 2.0,
    "seed": 0,
    "frame_id": "genie_camera",
    "sensor_qos": False,  # best-effort sensor-data QoS instead of reliable (REP-2003 allows both)
}
NUM_ACTIONS = 8
ACTION_QUEUE_DEPTH = 10  # newest actions kept while a frame is being generated; older ones dropped
RESET_QUEUE_DEPTH = 1000  # reset requests kept: bursts of hundreds are all answered
MAX_PROMPT_PIXELS = 4096 * 4096  # larger prompts are refused before any copy or OpenCV call
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
SHUTDOWN_GRACE_S = 10.0  # longest a stopped node takes to leave, cleanup included


def image_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/Image (rgb8, bgr8, mono8) -> uint8 [H, W, 3]; ValueError says what is wrong."""
    channels = {"rgb8": 3, "bgr8": 3, "mono8": 1}.get(msg.encoding)
    if channels is None:
        raise ValueError(f"unsupported image encoding {msg.encoding!r} (rgb8, bgr8, mono8)")
    if msg.height == 0 or msg.width == 0:
        raise ValueError(f"image has no pixels ({msg.height} x {msg.width})")
    if msg.height * msg.width > MAX_PROMPT_PIXELS:
        raise ValueError(f"image of {msg.height} x {msg.width} pixels is larger than {MAX_PROMPT_PIXELS} pixels")
    if msg.step < msg.width * channels or len(msg.data) != msg.step * msg.height:
        raise ValueError(f"image data length {len(msg.data)} does not match {msg.height} rows x step {msg.step} "
                         f"({msg.width} px {msg.encoding})")
    import numpy as np

    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)
    pixels = rows[:, : msg.width * channels].reshape(msg.height, msg.width, channels)
    if msg.encoding == "bgr8":
        pixels = pixels[..., ::-1]
    if channels == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels)


def main(argv: list[str] | None = None) -> int:
    # Before any import starts a thread (OpenBLAS, ONNX Runtime, DDS): they inherit the blocked set.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    import numpy as np
    import rclpy
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Float32, UInt8
    from std_srvs.srv import Trigger

    from genie_robotics.demo import SHIPPED_CHECKPOINT
    from genie_robotics.errors import GenieError
    from genie_robotics.export.onnx_world_model import load_world_model
    from genie_robotics.viz import read_image, resize

    class GenieSimNode(Node):
        def __init__(self) -> None:
            super().__init__("genie_sim")
            for name, default in PARAMETERS.items():
                self.declare_parameter(name, default)
            p = {name: self.get_parameter(name).value for name in PARAMETERS}
            self.world = load_world_model(p["model_dir"] or SHIPPED_CHECKPOINT, p["backend"],
                                          [x for x in p["providers"] if x] or None,
                                          maskgit_steps=int(p["maskgit_steps"]), temperature=float(p["temperature"]),
                                          seed=int(p["seed"]))
            cfg = self.world.cfg
            self.height, self.width, self.frame_id = cfg.height, cfg.width, p["frame_id"]
            self.prompt = self._configured_prompt(p["prompt_image"])
            qos = qos_profile_sensor_data if p["sensor_qos"] else QoSProfile(depth=10)
            self.image_pub = self.create_publisher(Image, "camera/image", qos)
            self.info_pub = self.create_publisher(CameraInfo, "camera/camera_info", qos)
            self.step_time_pub = self.create_publisher(Float32, "~/step_time", 10)
            self.failures: dict[str, int] = {}  # callback name -> inputs it refused or failed on
            self.create_subscription(UInt8, "action", self._guarded("action", self._on_action), ACTION_QUEUE_DEPTH)
            self.create_subscription(Image, "prompt", self._guarded("prompt", self._on_prompt), 5)
            self.create_service(Trigger, "reset", self._on_reset, qos_profile=QoSProfile(depth=RESET_QUEUE_DEPTH))
            self.mode = p["mode"]
            if self.mode not in ("on_action", "timer"):
                self.get_logger().warning(f"unknown mode {self.mode!r}; using on_action")
                self.mode = "on_action"
            self.held_action = 0
            self.at_prompt = False  # the world sits at the configured prompt, nothing generated since
            self._restart(self.prompt)
            self.at_prompt = True
            if self.mode == "timer":
                self.create_timer(1.0 / max(float(p["fps"]), 1e-3),
                                  self._guarded("timer", lambda: self._step(self.held_action)))
            provider = getattr(self.world, "provider", "torch")
            self.get_logger().info(f"genie_sim ready: {cfg.name} {self.width}x{self.height}, backend {p['backend']} "
                                   f"({provider}), mode {self.mode}")

        def _guarded(self, name: str, callback):
            """`callback` that logs and counts whatever it raises instead of ending the node."""
            def run(*args):
                try:
                    callback(*args)
                except Exception as exc:  # noqa: BLE001 - no input may end the node
                    self.failures[name] = self.failures.get(name, 0) + 1
                    self.get_logger().warning(f"ignoring {name}: {exc}" if isinstance(exc, ValueError)
                                              else f"{name} failed ({type(exc).__name__}: {exc}); still running")
            return run

        def _configured_prompt(self, path: str) -> np.ndarray:
            if path:
                try:
                    return read_image(path, self.height, self.width)
                except GenieError as exc:
                    self.get_logger().warning(f"prompt_image: {exc}; using a grey frame")
            return np.full((self.height, self.width, 3), 128, np.uint8)

        def _restart(self, frame: np.ndarray) -> None:
            self.at_prompt = False
            self.prompt_frame = self.world.reset(frame)
            self._publish(self.prompt_frame)

        def _publish(self, frame_HWC: np.ndarray) -> None:
            stamp = self.get_clock().now().to_msg()
            img = Image()
            img.header.stamp, img.header.frame_id = stamp, self.frame_id
            img.height, img.width, img.encoding, img.is_bigendian = self.height, self.width, "rgb8", 0
            img.step = self.width * 3
            img.data = frame_HWC.tobytes()
            info = CameraInfo()
            info.header = img.header
            info.height, info.width = self.height, self.width
            self.image_pub.publish(img)
            self.info_pub.publish(info)

        def _step(self, action: int) -> None:
            start = time.perf_counter()
            self.at_prompt = False
            frame = self.world.step(action)
            self.step_time_pub.publish(Float32(data=float(time.perf_counter() - start)))
            self._publish(frame)

        def _on_action(self, msg) -> None:
            if msg.data >= NUM_ACTIONS:
                raise ValueError(f"{msg.data} is not a latent action (0..{NUM_ACTIONS - 1})")
            self.held_action = int(msg.data)
            if self.mode == "on_action":
                self._step(self.held_action)

        def _on_prompt(self, msg) -> None:
            self._restart(resize(image_to_rgb(msg), self.height, self.width))

        def _on_reset(self, request, response):
            """Every request is answered: success, or a refusal saying why."""
            try:
                if self.at_prompt:  # a burst of resets costs one restart, the rest republish it
                    self._publish(self.prompt_frame)
                else:
                    self._restart(self.prompt)
                    self.at_prompt = True
                response.success, response.message = True, "world restarted from the configured prompt"
            except Exception as exc:  # noqa: BLE001 - answered, never raised into the executor
                self.failures["reset"] = self.failures.get("reset", 0) + 1
                self.get_logger().warning(f"reset failed ({type(exc).__name__}: {exc}); still running")
                response.success, response.message = False, f"reset failed: {exc}"
            return response

    from rclpy.signals import SignalHandlerOptions

    from genie_robotics.allocator import keep_freed_memory

    keep_freed_memory()  # fewer page faults per generated frame (bench/allocator.py)
    stop = _stop_event()
    rclpy.init(args=sys.argv if argv is None else argv, signal_handler_options=SignalHandlerOptions.NO)
    try:
        node = GenieSimNode()
    except Exception as exc:  # noqa: BLE001 - a bad parameter must be one line, not a traceback
        print(f"genie_sim_node: error: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    try:
        while not stop.is_set() and rclpy.ok():  # stops between callbacks, never inside one
            rclpy.spin_once(node, timeout_sec=0.1)
    except rclpy.executors.ExternalShutdownException:
        pass
    finally:
        if node.failures:
            node.get_logger().info(f"refused or failed inputs: {node.failures}")
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def _stop_event() -> threading.Event:
    """Set on SIGINT/SIGTERM; from then on the process leaves within SHUTDOWN_GRACE_S whatever else.

    main() blocks the signals in every thread and one thread takes them with sigwait, so they
    are seen even while the main thread is busy in native code. (With rclpy's own handlers, an
    ONNX-backend node once ignored SIGTERM for good: caught, never acted on.)
    """
    stop = threading.Event()

    def wait_for_signal() -> None:
        signal.sigwait(STOP_SIGNALS)
        stop.set()
        watchdog = threading.Timer(SHUTDOWN_GRACE_S, _leave_now, args=(0,))
        watchdog.daemon = True
        watchdog.start()

    threading.Thread(target=wait_for_signal, name="genie_sim_signals", daemon=True).start()
    return stop


def _leave_now(code: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run() -> None:
    """Console-script entry: main(), then exit without interpreter teardown.

    Skips interpreter finalisation (native destructors of the middleware and runtimes), so a
    stopped node is gone promptly: everything it owns was released in main().
    """
    _leave_now(main())


if __name__ == "__main__":
    run()
