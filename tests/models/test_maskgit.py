import pytest
import torch

from genie_robotics.models.maskgit import keep_masked_counts, masked_fraction, maskgit_sample, token_probabilities


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_schedule_goes_from_all_to_none(schedule):
    assert masked_fraction(1.0, schedule) == pytest.approx(0.0, abs=1e-9)
    fr = [masked_fraction(s / 10, schedule) for s in range(11)]
    assert fr[0] == pytest.approx(1.0) and all(a >= b for a, b in zip(fr, fr[1:]))


@pytest.mark.parametrize("order", ["confidence", "random"])
@pytest.mark.parametrize("steps", [1, 3, 25])
def test_every_token_is_revealed_and_revealed_tokens_stay(steps, order):
    V, mask_id, seen = 5, 5, []

    def probs_fn(tokens_BN):
        seen.append(tokens_BN.clone())
        return token_probabilities(torch.randn(tokens_BN.shape[0], tokens_BN.shape[1], V), 2.0)

    out = maskgit_sample(probs_fn, 2, 16, mask_id, steps, generator=torch.Generator().manual_seed(0), order=order)
    assert out.shape == (2, 16) and (out < V).all()
    assert len(seen) == min(steps, 16)  # never more forward passes than tokens
    for before, after in zip(seen, seen[1:] + [out]):
        kept = before != mask_id
        assert torch.equal(before[kept], after[kept])
        assert (after != mask_id).sum() > (before != mask_id).sum()


def test_low_temperature_follows_the_logits():
    logits = torch.full((1, 8, 4), -10.0)
    logits[..., 2] = 10.0
    out = maskgit_sample(lambda t: token_probabilities(logits, 0.5), 1, 8, 4, 4, generator=torch.Generator().manual_seed(0))
    assert (out == 2).all()


def test_inverse_cdf_sampling_draws_each_class_at_its_probability():
    from genie_robotics.models.maskgit import sample_categorical

    probs_NV = torch.tensor([[0.0, 0.2, 0.0, 0.5, 0.3], [0.9, 0.0, 0.1, 0.0, 0.0]])
    uniform_BN = torch.rand(1, 100_000, generator=torch.Generator().manual_seed(0))
    draws_BN = sample_categorical(probs_NV.repeat(50_000, 1)[None], uniform_BN)
    for row, probs_V in enumerate(probs_NV):
        freq_V = torch.bincount(draws_BN[0, row::2], minlength=5) / 50_000
        assert torch.allclose(freq_V, probs_V, atol=0.01), (freq_V, probs_V)
        assert (freq_V[probs_V == 0] == 0).all()  # a class of probability 0 is never drawn


@pytest.mark.parametrize("tokens,steps", [(256, 1), (256, 25), (16, 25), (3, 2)])
def test_the_masked_counts_follow_the_schedule_and_reveal_a_token_per_step(tokens, steps):
    counts = keep_masked_counts(tokens, steps, "cosine")
    assert len(counts) == steps and counts[-1] == 0
    before = [tokens] + counts[:-1]
    assert all(b == 0 or after < b for b, after in zip(before, counts))  # at least one revealed per step
    assert all(after <= max(tokens * masked_fraction((s + 1) / steps, "cosine"), 0) for s, after in enumerate(counts))


@pytest.mark.parametrize("order", ["confidence", "random"])
def test_a_step_keeps_the_confident_samples_or_those_its_random_order_puts_first(order):
    """8 tokens, 2 steps: the first step keeps 3 samples. Tokens 0-2 are near certain, the rest
    uniform: MaskGIT's order keeps 0-2; the random order keeps the 3 with the highest keys."""
    V, mask_id, seen = 4, 4, []
    logits_BNV = torch.zeros(1, 8, V)
    logits_BNV[0, :3, 1] = 20.0

    def probs_fn(tokens_BN):
        seen.append(tokens_BN.clone())
        return token_probabilities(logits_BNV, 1.0)

    key_BN = torch.tensor([[0.9, 0.1, 0.2, 0.3, 0.4, 0.8, 0.7, 0.0]])
    maskgit_sample(probs_fn, 1, 8, mask_id, 2, generator=torch.Generator().manual_seed(0), order=order,
                   order_key_BN=key_BN)
    kept = (seen[1][0] != mask_id).nonzero()[:, 0].tolist()
    assert kept == ([0, 1, 2] if order == "confidence" else [0, 5, 6])


def test_an_unknown_unmasking_order_is_named():
    with pytest.raises(ValueError, match="unknown unmasking order 'backwards'"):
        maskgit_sample(lambda t: token_probabilities(torch.zeros(1, 4, 3), 1.0), 1, 4, 3, 2, order="backwards")
