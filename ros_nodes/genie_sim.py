"""The genie_sim node class: the learned simulator behind ROS topics, a service and parameters.

Imported by `genie_sim_node.main` only after it has blocked the stop signals (this module
imports rclpy, NumPy and the runtimes, which start threads). See genie_sim_node.py for the
topics; ros_nodes/parameters.py for the parameters; ros_nodes/diagnostics.py for the `/diagnostics`
status; README "QoS" for what is dropped under load.
"""
from __future__ import annotations

import time
from collections import deque
from functools import partial
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TwistStamped
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Float32, UInt8
from std_srvs.srv import Trigger

from genie_robotics.cli.messages import sampling_phrase
from genie_robotics.core.assets import SHIPPED_CHECKPOINT
from genie_robotics.core.errors import GenieError
from genie_robotics.core.images import resize
from genie_robotics.sim.memory import check_worlds_fit
from genie_robotics.sim.prompts import load_prompts
from genie_robotics.sim.world_model import load_world_model
from ros_nodes.camera import camera_info, trained_camera_fovy_deg
from ros_nodes.commands import twist_to_displacement
from ros_nodes.diagnostics import REPORT_PERIOD_S, STEP_WINDOW, RecentGrowth, rate_window_s, world_model_status
from ros_nodes.images import image_to_rgb, rgb_to_image
from ros_nodes.parameters import PARAMETERS, NodeParameters, Parameter, sampling_override

ACTION_QUEUE_DEPTH = 10  # newest actions kept while a frame is being generated; older ones dropped
RESET_QUEUE_DEPTH = 1000  # reset requests kept: bursts of hundreds are all answered


def descriptor(name: str, spec: Parameter) -> ParameterDescriptor:
    """Description, read-only flag and range of one parameter, as `ros2 param describe` shows them."""
    d = ParameterDescriptor(name=name, description=spec.description, read_only=spec.read_only)
    if spec.range is not None and isinstance(spec.default, float):
        d.floating_point_range = [FloatingPointRange(from_value=float(spec.range[0]), to_value=float(spec.range[1]))]
    elif spec.range is not None:
        d.integer_range = [IntegerRange(from_value=int(spec.range[0]), to_value=int(spec.range[1]), step=1)]
    return d


class GenieSimNode(Node):
    """No message or call can end it: every callback is guarded (logged, counted, dropped)."""

    def __init__(self) -> None:
        super().__init__("genie_sim")
        for name, spec in PARAMETERS.items():
            self.declare_parameter(name, spec.default, descriptor(name, spec))
        params = NodeParameters.from_node(self)
        self.num_envs = params.num_envs
        self._load_world(params)
        self._make_publishers(params)
        self._make_subscriptions(params)
        self._start(params)

    def _load_world(self, params: NodeParameters) -> None:
        """The world model, its camera and prompt, warmed up before any topic exists: a client that
        discovers the node finds it ready (WorldModel.warm_up)."""
        model_dir = params.model_dir or SHIPPED_CHECKPOINT
        self.world = load_world_model(model_dir, params.backend, [x for x in params.providers if x] or None,
                                      seed=params.seed, batched=self.num_envs > 1, **params.sampling)
        cfg = self.world.cfg
        # Loaded, not yet allocated: the backend says how many worlds share a model call.
        check_worlds_fit(cfg, self.num_envs, world_chunk=self.world.backend.world_chunk)
        self.height, self.width, self.frame_id = cfg.height, cfg.width, params.frame_id
        self.fovy_deg = params.fov_deg or trained_camera_fovy_deg(Path(model_dir))
        if not self.fovy_deg:
            self.get_logger().warning("no field of view known (no data.json beside the model, fov_deg 0): "
                                      "camera_info carries no intrinsics")
        self.prompt = self._configured_prompt(params.prompt_image)
        seconds = self.world.warm_up(np.repeat(self.prompt[None], self.num_envs, axis=0))
        self.get_logger().info(f"warmed up in {seconds:.1f} s")

    def _make_publishers(self, params: NodeParameters) -> None:
        """One world: the plain topics. Several: each world's topics under env_<i>/."""
        qos = qos_profile_sensor_data if params.sensor_qos else QoSProfile(depth=10)
        self.namespaces = [""] if self.num_envs == 1 else [f"env_{i}/" for i in range(self.num_envs)]
        self.image_pubs = [self.create_publisher(Image, f"{ns}camera/image", qos) for ns in self.namespaces]
        self.info_pubs = [self.create_publisher(CameraInfo, f"{ns}camera/camera_info", qos) for ns in self.namespaces]
        self.step_time_pub = self.create_publisher(Float32, "~/step_time", 10)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)  # absolute, as in ROS
        self.failures: dict[str, int] = {}  # callback name -> inputs it refused or failed on
        self.frames_published = 0
        self.step_times_s: deque[float] = deque(maxlen=STEP_WINDOW)  # seconds per generated frame, newest last
        self.latent_pubs = [self.create_publisher(UInt8, f"{ns}latent_action", 10) for ns in self.namespaces]

    def _make_subscriptions(self, params: NodeParameters) -> None:
        """Each world's `action` (and `cmd`, when the model has a command map), `prompt` and the `reset` service."""
        for env, ns in enumerate(self.namespaces):
            self.create_subscription(UInt8, f"{ns}action", self._guarded("action", partial(self._on_action, env)),
                                     ACTION_QUEUE_DEPTH)
        self.command_frame, self.max_command_speed = params.command_frame, params.max_command_speed
        if self.world.command_map is not None:  # robot commands in, mapped to latent actions
            for env, ns in enumerate(self.namespaces):
                self.create_subscription(TwistStamped, f"{ns}cmd", self._guarded("cmd", partial(self._on_command, env)),
                                         ACTION_QUEUE_DEPTH)
        else:
            self.get_logger().info("the model has no command_map.json: `cmd` is not subscribed (latent actions only)")
        self.create_subscription(Image, "prompt", self._guarded("prompt", self._on_prompt), 5)
        self.create_service(Trigger, "reset", self._on_reset, qos_profile=QoSProfile(depth=RESET_QUEUE_DEPTH))

    def _start(self, params: NodeParameters) -> None:
        """The prompt frame published, the timer (timer mode) and the diagnostics timer started."""
        self.mode = params.mode
        if self.mode not in ("on_action", "timer"):
            self.get_logger().warning(f"unknown mode {self.mode!r}; using on_action")
            self.mode = "on_action"
        self.held_actions = np.zeros(self.num_envs, np.int64)  # each world's last action
        self.acted: set[int] = set()  # on_action mode: worlds with an action since the last step
        self.at_prompt = False  # the world sits at the configured prompt, nothing generated since
        self._restart(self.prompt)
        self.at_prompt = True
        self.timer, self.target_fps = None, None
        if self.mode == "timer":
            self._start_timer(params.fps)
        self._restart_statistics()
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.backend_name = self.world.backend.name  # "torch" or "onnx (<the provider it really runs on>)"
        self.hardware_id = f"{self.world.cfg.name} on {self.world.device}"
        self.create_timer(REPORT_PERIOD_S, self._guarded("diagnostics", self._publish_diagnostics))
        self.get_logger().info(f"genie_sim ready: {self.world.cfg.name} {self.width}x{self.height}, "
                               f"{self.world.num_actions} actions, backend {self.backend_name}, mode {self.mode}, "
                               f"{self._sampling()}")

    def _sampling(self) -> str:
        w = self.world
        return sampling_phrase(w.maskgit_steps, w.temperature, w.unmasking)

    # --- parameters changed at run time -----------------------------------------------
    def _on_set_parameters(self, params) -> SetParametersResult:
        """maskgit_steps, temperature and fps apply from the next frame (ranges are checked by
        their descriptors before this runs; read-only parameters never reach it); the diagnostics
        measure afresh from then on rather than average across the change."""
        for param in params:
            if param.name in ("maskgit_steps", "temperature"):  # None: back to the checkpoint's value
                setattr(self.world, param.name, sampling_override(param.name, param.value))
            elif param.name == "fps" and self.mode == "timer":
                self._start_timer(float(param.value))
        self.get_logger().info(f"sampling now {self._sampling()}")
        self._restart_statistics()
        return SetParametersResult(successful=True)

    def _start_timer(self, fps: float) -> None:
        if self.timer is not None:
            self.destroy_timer(self.timer)
        self.timer = self.create_timer(1.0 / fps, self._guarded("timer", lambda: self._step(self.held_actions)))
        self.target_fps = fps

    # --- diagnostics (ros_nodes/diagnostics.py) -------------------------------------------
    def _totals(self) -> tuple[int, int]:
        return self.frames_published, sum(self.failures.values())

    def _restart_statistics(self) -> None:
        self.step_times_s.clear()
        self.recent = RecentGrowth(rate_window_s(self.target_fps), time.monotonic(), self._totals())

    def _publish_diagnostics(self) -> None:
        """One status a second (REPORT_PERIOD_S): counters and a mean of at most STEP_WINDOW numbers, no model work."""
        totals = self._totals()
        covered_s, (frames, failures) = self.recent.update(time.monotonic(), totals)
        values = {"maskgit_steps": self.world.maskgit_steps, "temperature": f"{self.world.temperature:g}",
                  "backend": self.backend_name, "mode": self.mode, "num_envs": self.num_envs,
                  "frames_published": totals[0], "failures": totals[1]}
        if self.target_fps is not None:
            values["fps_target"] = f"{self.target_fps:g}"
        status = world_model_status(
            f"{self.get_name()}: world model", self.hardware_id, values, step_times_s=self.step_times_s,
            frames_per_s=frames / covered_s if covered_s > 0 else 0.0, recent_failures=failures,
            window_s=self.recent.window_s, min_fps=self.target_fps if covered_s >= self.recent.window_s else None)
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(msg)

    # --- callbacks ------------------------------------------------------------------------
    def _guarded(self, name: str, callback):
        """`callback` that logs and counts whatever it raises instead of ending the node."""
        def run(*args):
            try:
                callback(*args)
            except Exception as exc:  # no input may end the node
                self._count_failure(name, exc)
        return run

    def _count_failure(self, name: str, exc: Exception) -> None:
        self.failures[name] = self.failures.get(name, 0) + 1
        self.get_logger().warning(f"ignoring {name}: {exc}" if isinstance(exc, ValueError)
                                  else f"{name} failed ({type(exc).__name__}: {exc}); still running")

    def _on_action(self, env: int, msg) -> None:
        """World `env` takes this action; in on_action mode the worlds step together once each
        has one (a vectorised environment's lockstep; with one world, every action steps)."""
        if msg.data >= self.world.num_actions:
            raise ValueError(f"{msg.data} is not a latent action (0..{self.world.num_actions - 1})")
        self.held_actions[env] = msg.data
        self.acted.add(env)
        if self.mode == "on_action" and len(self.acted) == self.num_envs:
            self._step(self.held_actions)

    def _on_command(self, env: int, msg) -> None:
        """A velocity command for world `env`: its displacement over one frame (at the timer's rate in
        timer mode, else at the training video's frame rate) through the command map, then as an action."""
        seconds = 1.0 / (self.target_fps if self.mode == "timer" else self.world.command_map.fps)
        displacement = twist_to_displacement(msg, self.command_frame, self.max_command_speed, seconds)
        self._on_action(env, UInt8(data=int(self.world.command_actions(displacement)[0])))

    def _on_prompt(self, msg) -> None:
        self._restart(resize(image_to_rgb(msg), self.height, self.width))

    def _on_reset(self, request, response):
        """Every request is answered: success, or a refusal saying why."""
        try:
            if self.at_prompt:  # a burst of resets costs one restart, the rest republish it
                self._publish(self.prompt_frames)
            else:
                self._restart(self.prompt)
                self.at_prompt = True
            response.success, response.message = True, "world restarted from the configured prompt"
        except Exception as exc:  # answered, never raised into the executor
            self._count_failure("reset", exc)
            response.success, response.message = False, f"reset failed: {exc}"
        return response

    # --- the world ------------------------------------------------------------------------
    def _configured_prompt(self, path: str) -> np.ndarray:
        if path:
            try:
                return load_prompts(path, self.height, self.width)[0].image
            except GenieError as exc:
                self.get_logger().warning(f"prompt_image: {exc}; using a grey frame")
        return np.full((self.height, self.width, 3), 128, np.uint8)

    def _restart(self, frame_HWC: np.ndarray) -> None:
        """Every world restarts from `frame_HWC`."""
        self.at_prompt = False
        self.acted.clear()
        self.prompt_frames = self.world.reset(np.repeat(frame_HWC[None], self.num_envs, axis=0))
        self._publish(self.prompt_frames)

    def _step(self, actions_E: np.ndarray) -> None:
        start = time.perf_counter()
        self.at_prompt = False
        self.acted.clear()
        frames_EHWC = self.world.step(actions_E)
        self.step_times_s.append(time.perf_counter() - start)
        self.step_time_pub.publish(Float32(data=self.step_times_s[-1]))
        for pub, action in zip(self.latent_pubs, actions_E):  # what each world was driven by, before its frame
            pub.publish(UInt8(data=int(action)))
        self._publish(frames_EHWC)

    def _publish(self, frames_EHWC: np.ndarray) -> None:
        """Each world's frame on its own topics, all stamped with one time (one batched step)."""
        stamp = self.get_clock().now().to_msg()
        for frame_HWC, image_pub, info_pub in zip(frames_EHWC, self.image_pubs, self.info_pubs):
            img = rgb_to_image(frame_HWC, stamp, self.frame_id)
            image_pub.publish(img)
            info_pub.publish(camera_info(img.header, self.height, self.width, self.fovy_deg))
            self.frames_published += 1
