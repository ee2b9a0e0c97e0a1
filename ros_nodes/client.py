"""An rclpy client of the genie_sim node: send latent actions and prompts, collect the frames.

Used by the ROS demo and the integration tests, always in a process separate from the node.
Every wait is a spin with a timeout on a condition (discovery, a frame, a service reply),
never a fixed sleep.
"""
from __future__ import annotations

import time


class GenieSimClient:
    def __init__(self, name: str = "genie_sim_client", namespace: str = "") -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.node import Node
        from rclpy.qos import QoSProfile
        from sensor_msgs.msg import CameraInfo, Image
        from std_msgs.msg import Float32, UInt8
        from std_srvs.srv import Trigger

        self._rclpy = rclpy
        if not rclpy.ok():
            rclpy.init()
        self.node = Node(name, namespace=namespace)
        self.images: list = []
        self.infos: list = []
        self.step_times: list[float] = []
        self.diagnostics: list = []  # DiagnosticStatus of every node on /diagnostics, oldest first
        self.node.create_subscription(Image, "camera/image", self.images.append, 10)
        self.node.create_subscription(CameraInfo, "camera/camera_info", self.infos.append, 10)
        self.node.create_subscription(Float32, "genie_sim/step_time", lambda m: self.step_times.append(m.data), 10)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: self.diagnostics.extend(m.status), 10)
        self.latent_actions: list[int] = []  # what the node reports each generated frame was driven by
        self.node.create_subscription(UInt8, "latent_action", lambda m: self.latent_actions.append(m.data), 10)
        self.action_pub = self.node.create_publisher(UInt8, "action", 10)
        from geometry_msgs.msg import TwistStamped

        self.command_pub = self.node.create_publisher(TwistStamped, "cmd", 10)
        self.TwistStamped = TwistStamped
        self.prompt_pub = self.node.create_publisher(Image, "prompt", 5)
        # Replies to a burst of resets arrive together: a default-depth (10) reply queue would drop some.
        self.reset_client = self.node.create_client(Trigger, "reset", qos_profile=QoSProfile(depth=1000))
        self.UInt8, self.Image, self.Trigger = UInt8, Image, Trigger

    def spin_until(self, condition, timeout: float = 60.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not condition():
            self._rclpy.spin_once(self.node, timeout_sec=0.05)
        return bool(condition())

    def wait_for_node(self, timeout: float = 120.0) -> bool:
        """Discovery: the node subscribes to `action` and publishes `camera/image`."""
        return self.spin_until(lambda: self.action_pub.get_subscription_count() > 0
                               and self.node.count_publishers(self._qualified("camera/image")) > 0, timeout)

    def _qualified(self, topic: str) -> str:
        ns = self.node.get_namespace().rstrip("/")
        return f"{ns}/{topic}"

    def send_action(self, action: int, timeout: float = 60.0):
        """Publish one latent action and wait for the frame it produces (None on timeout)."""
        sent_at = self._now()
        self.action_pub.publish(self.UInt8(data=int(action)))
        return self._frame_after(sent_at, timeout)

    def send_command(self, vx: float, vz: float, frame: str = "genie_base", vy: float = 0.0, timeout: float = 60.0):
        """Publish one end-effector velocity (m/s, x right and z up in the image plane) and wait for
        the frame it produces (None on timeout)."""
        msg = self.TwistStamped()
        msg.header.frame_id = frame
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z = float(vx), float(vy), float(vz)
        sent_at = self._now()
        self.command_pub.publish(msg)
        return self._frame_after(sent_at, timeout)

    def reset(self, timeout: float = 60.0):
        """Call the reset service and wait for the restarted prompt frame (None on timeout)."""
        if not self.reset_client.wait_for_service(timeout_sec=timeout):
            return None
        sent_at = self._now()
        future = self.reset_client.call_async(self.Trigger.Request())
        if not self.spin_until(future.done, timeout):
            return None
        return self._frame_after(sent_at, timeout)

    def _now(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def _frame_after(self, sent_at: float, timeout: float):
        """The first frame stamped at or after `sent_at` (None on timeout). A frame published before
        the request (the node's start-up prompt, say) can arrive late; its stamp tells it apart."""
        def first():
            return next((m for m in self.images if stamp_seconds(m) >= sent_at), None)
        return first() if self.spin_until(lambda: first() is not None, timeout) else None

    def set_parameters(self, timeout: float = 30.0, **values) -> list | None:
        """`ros2 param set` on the node: SetParameters results (successful, reason), None on timeout."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        client = self.node.create_client(SetParameters, self._qualified("genie_sim/set_parameters"))
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                return None
            request = SetParameters.Request(parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()])
            future = client.call_async(request)
            return future.result().results if self.spin_until(future.done, timeout) else None
        finally:
            self.node.destroy_client(client)

    def close(self) -> None:
        self.node.destroy_node()
        self._rclpy.try_shutdown()


def stamp_seconds(msg) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
