import dataclasses

import numpy as np
import pytest
import torch

from genie_robotics.core.checkpoint_files import WEIGHTS_FILE, save_checkpoint
from genie_robotics.core.errors import GenieError
from genie_robotics.models.checkpoint import load_checkpoint
from genie_robotics.models.genie import Genie
from genie_robotics.sim.world_model import WorldModel


def test_round_trip_gives_identical_weights_and_rollouts(tmp_path, tiny_genie):
    save_checkpoint(tiny_genie, tmp_path / "ck")
    loaded = load_checkpoint(tmp_path / "ck")
    for (k, a), (_, b) in zip(tiny_genie.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    prompt = np.full((64, 64, 3), 90, np.uint8)
    a = WorldModel(tiny_genie, maskgit_steps=2).rollout(prompt[None], [[3, 4]])
    b = WorldModel.from_checkpoint(tmp_path / "ck", maskgit_steps=2).rollout(prompt[None], [[3, 4]])
    assert np.array_equal(a, b)
    assert not list((tmp_path / "ck").glob("*.tmp")), "temporary files left behind"


def test_missing_checkpoint(tmp_path):
    with pytest.raises(GenieError, match="does not exist"):
        load_checkpoint(tmp_path / "nope")


def test_truncated_weights_name_the_file(tmp_path, tiny_genie):
    save_checkpoint(tiny_genie, tmp_path)
    weights = tmp_path / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(GenieError) as err:
        load_checkpoint(tmp_path)
    msg = str(err.value)
    assert "truncated or corrupt" in msg and str(weights) in msg and "\n" not in msg


def test_weights_that_do_not_match_the_config(tmp_path, tiny_genie):
    save_checkpoint(tiny_genie, tmp_path)
    other = dataclasses.replace(tiny_genie.cfg, height=32, width=32)
    other.save(tmp_path / "config.yaml")
    with pytest.raises(GenieError, match="does not match its config.*wrong shape"):
        load_checkpoint(tmp_path)


def test_save_over_an_existing_checkpoint_is_atomic(tmp_path, tiny_genie, monkeypatch):
    save_checkpoint(tiny_genie, tmp_path)
    before = (tmp_path / WEIGHTS_FILE).read_bytes()
    import safetensors.torch

    def dies_mid_write(state, path, metadata=None):
        with open(path, "wb") as fh:
            fh.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.torch, "save_file", dies_mid_write)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(Genie(tiny_genie.cfg), tmp_path)
    assert (tmp_path / WEIGHTS_FILE).read_bytes() == before
    assert not list(tmp_path.glob("*.tmp"))
    load_checkpoint(tmp_path)
