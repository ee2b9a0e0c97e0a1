"""Launch the genie_sim learned simulator: `ros2 launch genie_sim genie_sim.launch.py model_dir:=...`."""
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

ARGUMENTS = {
    "model_dir": ("", "checkpoint (torch backend) or ONNX export; empty = the shipped tiny checkpoint"),
    "prompt_image": ("", "image the world starts from; empty = a grey frame"),
    "backend": ("onnx", "onnx, torch or torch-compiled (PyTorch through torch.compile)"),
    "mode": ("on_action", "on_action: one frame per action message; timer: free-running at fps"),
    "fps": ("10.0", "frames per second in timer mode"),
    "namespace": ("", "ROS namespace of the node"),
}


def generate_launch_description() -> LaunchDescription:
    params_file = PathJoinSubstitution([FindPackageShare("genie_sim"), "launch", "genie_sim.params.yaml"])
    overrides = {name: LaunchConfiguration(name) for name in ARGUMENTS if name != "namespace"}
    return LaunchDescription([
        *(DeclareLaunchArgument(name, default_value=default, description=text)
          for name, (default, text) in ARGUMENTS.items()),
        Node(
            package="genie_sim",
            executable="genie_sim_node",
            name="genie_sim",
            namespace=LaunchConfiguration("namespace"),
            parameters=[params_file, overrides],
            output="screen",
        ),
    ])
