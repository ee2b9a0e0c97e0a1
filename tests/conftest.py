import pytest
import torch

from genie_robotics.models.genie import Genie
from tests.helpers import small_config


@pytest.fixture(scope="session")
def rt1_dir(tmp_path_factory):
    """A local 'copy' of fractal20220817_data/0.1.0 with the full feature spec (6 episodes x 10 steps)."""
    from tests.data.rt1 import write_rt1_like

    return write_rt1_like(tmp_path_factory.mktemp("rt1") / "fractal20220817_data" / "0.1.0")


@pytest.fixture(scope="session")
def mujoco_dir(tmp_path_factory):
    """Rendered MuJoCo episodes: 4 episodes x 8 steps at 48x64."""
    from genie_robotics.data.mujoco_render import render_dataset
    from genie_robotics.data.render_settings import RenderSettings

    return render_dataset(tmp_path_factory.mktemp("mj") / "episodes",
                          RenderSettings(episodes=4, steps=8, size="48x64", seed=3), progress=False)


@pytest.fixture
def tiny_genie():
    torch.manual_seed(0)
    return Genie(small_config()).eval()


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """(an untrained Genie with a 4-frame window, so the cache slides from frame 4; its ONNX export)."""
    from genie_robotics.core.checkpoint_files import save_checkpoint
    from genie_robotics.export.onnx_export import export_onnx

    torch.manual_seed(0)
    genie = Genie(small_config(frames=4)).eval()
    ckpt = save_checkpoint(genie, tmp_path_factory.mktemp("ckpt"))
    return genie, export_onnx(ckpt, tmp_path_factory.mktemp("onnx"))
