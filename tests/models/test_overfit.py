"""Overfitting sanity: a handful of rendered clips, each phase trained briefly on CPU."""
import numpy as np
import pytest
import torch

from genie_robotics.models.genie import Genie
from genie_robotics.models.trainer import train_stage
from genie_robotics.models.video import to_unit
from genie_robotics.nn.metrics import psnr
from tests.helpers import small_config
from tests.synthetic_scene import render_episodes


@pytest.mark.slow
def test_tokenizer_lam_and_dynamics_learn_a_handful_of_clips():
    """Each phase in turn; the LAM is frozen while the dynamics model trains."""
    torch.manual_seed(0)
    genie = Genie(small_config(frames=4))
    clips, _ = render_episodes(episodes=4, steps=4, size=64, seed=1)
    frames = torch.as_tensor(clips)

    def recon_psnr() -> float:
        with torch.no_grad():
            return psnr(genie.tokenizer.decode(genie.tokenizer.encode(frames)), to_unit(frames)).item()

    start = recon_psnr()
    train_stage(genie, "tokenizer", lambda: clips, steps=60, lr=2e-3, warmup=5, progress=False)
    end = recon_psnr()
    assert end > start + 6.0, (start, end)

    lam = train_stage(genie, "lam", lambda: clips, steps=40, lr=2e-3, warmup=5, progress=False)
    assert np.mean([h["lam_mse"] for h in lam[-5:]]) < np.mean([h["lam_mse"] for h in lam[:5]])
    lam_state = {k: v.clone() for k, v in genie.lam.state_dict().items()}
    history = train_stage(genie, "dynamics", lambda: clips, steps=60, lr=2e-3, warmup=5, progress=False)
    ce = [h["dynamics_ce"] for h in history]
    assert np.mean(ce[-10:]) < 0.7 * np.mean(ce[:10]), (ce[:10], ce[-10:])
    # The LAM is frozen in the dynamics phase: weights, codebook and usage statistics unchanged.
    # (Whether it learns actions at all is tests/models/test_action_learning.py's job.)
    assert all(torch.equal(v, genie.lam.state_dict()[k]) for k, v in lam_state.items())
