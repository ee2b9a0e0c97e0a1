"""The names scripts import from the package top, and that importing the package stays light."""
import subprocess
import sys

import pytest


def test_public_names_are_the_library_objects():
    import genie_robotics
    from genie_robotics.commands.command_map import load_command_map
    from genie_robotics.models.checkpoint import load_checkpoint
    from genie_robotics.sim.world_model import WorldModel, load_world_model

    assert genie_robotics.WorldModel is WorldModel and genie_robotics.load_world_model is load_world_model
    assert genie_robotics.load_checkpoint is load_checkpoint and genie_robotics.load_command_map is load_command_map
    assert set(genie_robotics.__all__) <= set(dir(genie_robotics))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        genie_robotics.nothing  # noqa: B018


def test_import_genie_robotics_loads_no_torch():
    code = "import sys, genie_robotics; print('torch' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"


def test_the_shipped_checkpoint_through_the_public_api():
    from genie_robotics import WorldModel, load_checkpoint
    from genie_robotics.core.assets import SHIPPED_CHECKPOINT

    world = WorldModel(load_checkpoint(SHIPPED_CHECKPOINT), seed=0)
    assert world.num_actions == 8
