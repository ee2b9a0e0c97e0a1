import torch

from genie_robotics.core.config import QuantizerConfig
from genie_robotics.nn.vector_quantizer import VectorQuantizer


def test_codes_are_codebook_rows_and_gradient_passes_straight_through():
    torch.manual_seed(0)
    vq = VectorQuantizer(QuantizerConfig(16, 8))
    z = torch.randn(4, 10, 8, requires_grad=True)
    out = vq(z)
    assert out.indices.shape == (4, 10)
    assert torch.allclose(out.codes.detach(), vq.lookup(out.indices), atol=1e-6)
    (out.codes.sum() + out.loss).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert vq.codebook.grad is not None and vq.codebook.grad.abs().sum() > 0


def test_dead_codes_are_restarted_and_usage_is_tracked():
    torch.manual_seed(0)
    vq = VectorQuantizer(QuantizerConfig(8, 4, usage_decay=0.5, dead_fraction=0.5)).train()
    # Every input sits next to code 0: the other 7 codes go unused and must be restarted.
    z = vq.normalized_codebook()[0].detach().expand(64, 4) + 0.01 * torch.randn(64, 4)
    restarted = sum(vq(z).restarted for _ in range(5))
    assert restarted >= 7
    usage = vq.usage_fractions()
    assert torch.isclose(usage.sum(), torch.tensor(1.0))
    # Restarted codes now sit on inputs, so more than one code is chosen.
    assert vq.eval()(z).indices.unique().numel() > 1


def test_no_restarts_in_eval_mode():
    vq = VectorQuantizer(QuantizerConfig(8, 4, usage_decay=0.5, dead_fraction=0.5)).eval()
    before = vq.codebook.detach().clone()
    z = torch.randn(32, 4)
    assert vq(z).restarted == 0
    assert torch.equal(before, vq.codebook)


def test_refit_finds_planted_directions_that_a_bad_codebook_misses():
    """8 tight clusters of directions; a codebook with its codes on 4 of them fits them badly,
    the k-means refit puts one code on each cluster."""
    from genie_robotics.analysis.action_statistics import normalized_mutual_information

    torch.manual_seed(0)
    centres_KD = torch.nn.functional.normalize(torch.randn(8, 16), dim=-1)
    labels_N = torch.arange(800) % 8
    z_ND = centres_KD[labels_N] + 0.05 * torch.randn(800, 16)
    vq = VectorQuantizer(QuantizerConfig(8, 16)).eval()
    vq.codebook.data.copy_(centres_KD[torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])] + 0.01 * torch.randn(8, 16))  # 4 missed
    before = normalized_mutual_information(vq(z_ND).indices.numpy(), labels_N.numpy())
    fit = vq.refit(z_ND)
    after = normalized_mutual_information(vq(z_ND).indices.numpy(), labels_N.numpy())
    assert before < 0.8 and after > 0.99 and fit > 0.95, (before, after, fit)
    assert torch.allclose(vq.usage_fractions(), torch.full((8,), 1 / 8), atol=1e-6)
