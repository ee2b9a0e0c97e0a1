import pytest
import torch

from genie_robotics.models.genie import Genie
from tests.helpers import small_config


@pytest.fixture
def tiny_genie():
    torch.manual_seed(0)
    return Genie(small_config()).eval()
