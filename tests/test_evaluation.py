import numpy as np
import pytest
import torch

from genie_robotics.evaluation import delta_psnr, tokenizer_psnr
from genie_robotics.metrics import psnr


def test_psnr_of_known_error():
    a = torch.zeros(2, 4, 4, 3)
    b = a.clone()
    b[1] += 0.2  # error 0.1 in [0, 1] units -> 20 dB
    per = psnr(a, b, per_sample=True)
    assert per[0] > 90 and per[1].item() == pytest.approx(20.0, abs=1e-4)


def test_delta_psnr_runs_and_is_the_difference(tiny_genie):
    clips = torch.as_tensor(np.random.default_rng(0).integers(0, 256, (2, 5, 64, 64, 3), dtype=np.uint8))
    scores = delta_psnr(tiny_genie, clips, t=4, maskgit_steps=2)
    assert scores["delta_psnr"] == pytest.approx(scores["psnr_inferred"] - scores["psnr_random"])
    assert np.isfinite(tokenizer_psnr(tiny_genie, [clips]))
    with pytest.raises(ValueError, match="too short"):
        delta_psnr(tiny_genie, clips[:, :3], t=4)
