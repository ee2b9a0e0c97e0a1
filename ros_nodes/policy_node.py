"""policy_node: a pixel policy as a ROS 2 node, the same against a real camera and arm as against genie_sim.

Subscribes `camera/image` (sensor_msgs/Image) and answers every frame with one end-effector
velocity on `cmd` (geometry_msgs/TwistStamped in `command_frame`, the displacement the policy
chose times `fps`, stamped with the answered frame's stamp so each command names the frame it
was computed from). Against genie_sim in `on_action` mode the two close the loop: a frame, a
command, the next frame. The policy is a file saved by `TablePolicy.save` (PATH.safetensors +
PATH.json; weights only, nothing is unpickled). Bad frames are logged in one line and dropped.

Run: `policy_node --ros-args -p policy_path:=DIR/bc_200 [-p fps:=10.0]`.
"""
from __future__ import annotations

import sys

import numpy as np

from genie_robotics.core.images import resize
from ros_nodes.images import image_to_rgb

PARAMETERS = {  # name: (default, help)
    "policy_path": ("", "pixel policy to run: PATH of PATH.safetensors + PATH.json (TablePolicy.save)"),
    "command_frame": ("genie_base", "frame_id of the published cmd (x right, z up in the image plane, as genie_sim's)"),
    "fps": (10.0, "frames per second the commanded displacement is spread over: velocity = displacement x fps"),
    "seed": (0, "seed of the policy's random draws"),
}


def make_node():
    from geometry_msgs.msg import TwistStamped
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from genie_robotics.policies.pixel_policy import TablePolicy

    class PolicyNode(Node):
        def __init__(self) -> None:
            super().__init__("policy_node")
            values = {name: self.declare_parameter(name, default).value for name, (default, _) in PARAMETERS.items()}
            if not values["policy_path"]:
                raise ValueError("parameter policy_path is required (PATH of PATH.safetensors + PATH.json)")
            if not values["fps"] > 0:
                raise ValueError(f"parameter fps must be positive, got {values['fps']}")
            self.policy = TablePolicy.load(values["policy_path"])
            self.frame, self.fps = values["command_frame"], float(values["fps"])
            self.rng = np.random.default_rng(int(values["seed"]))
            self.size = self.policy.net.size
            self.cmd_pub = self.create_publisher(TwistStamped, "cmd", 10)
            # Best effort takes frames from a reliable or a best-effort camera publisher alike.
            self.create_subscription(Image, "camera/image", self._on_image, qos_profile_sensor_data)
            self.TwistStamped = TwistStamped
            self.answered = 0
            self.get_logger().info(f"policy {self.policy.name!r} from {values['policy_path']}: camera/image -> cmd "
                                   f"({self.frame}, {self.fps:g} frames/s)")

        def _on_image(self, msg) -> None:
            try:
                frame = resize(image_to_rgb(msg), self.size, self.size)
            except ValueError as exc:
                self.get_logger().warning(f"ignoring camera/image: {exc}")
                return
            displacement = self.policy(frame[None], self.rng)[0]
            cmd = self.TwistStamped()
            cmd.header.stamp, cmd.header.frame_id = msg.header.stamp, self.frame
            cmd.twist.linear.x, cmd.twist.linear.y, cmd.twist.linear.z = (float(v) * self.fps for v in displacement)
            self.cmd_pub.publish(cmd)
            self.answered += 1

    return PolicyNode()


def main(argv: list[str] | None = None) -> int:
    import rclpy

    from genie_robotics.core.errors import GenieError

    rclpy.init(args=sys.argv if argv is None else argv)
    try:
        node = make_node()
    except (ValueError, GenieError) as exc:
        print(f"policy_node: error: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
