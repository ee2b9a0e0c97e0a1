"""Only for colcon's ament_python build, which requires setup.py; metadata lives in pyproject.toml."""
from setuptools import setup

setup(
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/genie_sim"]),
        ("share/genie_sim", ["package.xml"]),
        ("share/genie_sim/launch", ["launch/genie_sim.launch.py", "launch/genie_sim.params.yaml"]),
    ],
)
