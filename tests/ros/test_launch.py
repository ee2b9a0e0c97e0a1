"""launch/ is checked statically: `launch`/`launch_ros` are not installable here."""
import ast
from pathlib import Path

import yaml

from ros_nodes.parameters import PARAMETERS

REPO = Path(__file__).resolve().parents[2]


def _launch_arguments() -> dict:
    tree = ast.parse((REPO / "launch" / "genie_sim.launch.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "ARGUMENTS":
            return ast.literal_eval(node.value)
    raise AssertionError("no ARGUMENTS table in the launch file")


def test_launch_arguments_are_node_parameters():
    args = _launch_arguments()
    assert {"model_dir", "prompt_image", "backend", "mode", "fps", "namespace"} <= set(args)
    for name, (default, _) in args.items():
        if name != "namespace":
            assert name in PARAMETERS, name
            assert str(PARAMETERS[name].default) == default, (name, default)


def test_yaml_parameters_exist_on_the_node_with_the_same_types():
    params = yaml.safe_load((REPO / "launch" / "genie_sim.params.yaml").read_text())["genie_sim"]["ros__parameters"]
    for name, value in params.items():
        assert name in PARAMETERS, name
        assert type(value) is type(PARAMETERS[name].default), name


def test_package_installs_the_launch_files_and_declares_its_dependencies():
    setup = (REPO / "setup.py").read_text()
    assert "genie_sim.launch.py" in setup and "genie_sim.params.yaml" in setup
    xml = (REPO / "package.xml").read_text()
    for dep in ("rclpy", "sensor_msgs", "std_msgs", "std_srvs", "diagnostic_msgs", "launch_ros"):
        assert f"<exec_depend>{dep}</exec_depend>" in xml
