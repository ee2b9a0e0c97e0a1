import pytest
import torch

from genie_robotics.core.config import TransformerConfig
from genie_robotics.nn.st_transformer import STTransformer


def _model(window: int) -> STTransformer:
    torch.manual_seed(0)
    return STTransformer(TransformerConfig(32, 2, 4), window).eval()


def test_changing_a_later_frame_leaves_earlier_outputs_unchanged():
    model = _model(window=8)
    x = torch.randn(2, 6, 5, 32)
    y = model(x)
    x2 = x.clone()
    x2[:, 3] += torch.randn_like(x2[:, 3])
    y2 = model(x2)
    assert torch.equal(y[:, :3], y2[:, :3])
    assert not torch.allclose(y[:, 3:], y2[:, 3:])


def test_temporal_attention_is_limited_to_the_window():
    model = _model(window=3)
    x = torch.randn(1, 7, 5, 32)
    y = model(x)
    x2 = x.clone()
    x2[:, 0] += 1.0  # frame 0 is outside the window of frame 3 at layer 1 but reaches it via layer 2
    y2 = model(x2)
    # With 2 layers and window 3, frame 0 can influence frames up to 0 + 2 * (3 - 1) = 4.
    assert not torch.allclose(y[:, 4], y2[:, 4])
    assert torch.equal(y[:, 5:], y2[:, 5:])


@pytest.mark.parametrize("frames", [3, 9])  # before and after the 4-frame window slides
def test_step_with_cache_matches_full_forward(frames):
    model = _model(window=4)
    x = torch.randn(2, frames, 5, 32)
    with torch.no_grad():
        full = model(x)
        cache = model.empty_cache(batch=2, tokens=5)
        for t in range(frames):
            y, k, v = model.step(x[:, t], cache)
            assert (y - full[:, t]).abs().max().item() <= 1e-5, f"frame {t}"
            cache = cache.append(k, v)
    assert cache.frames == min(frames, 3)


def test_a_cloned_cache_branches_a_rollout():
    """The ring cache appends in place; a clone taken before is unaffected and continues as if
    the other branch had never happened (same outputs as stepping from it directly)."""
    model = _model(window=3)
    x = torch.randn(1, 6, 5, 32)
    with torch.no_grad():
        cache = model.empty_cache(batch=1, tokens=5)
        for t in range(4):  # past the window: the ring has wrapped
            _, k, v = model.step(x[:, t], cache)
            cache = cache.append(k, v)
        branch = cache.clone()
        want, _, _ = model.step(x[:, 4], cache)
        for t in (4, 5):  # the original goes on and overwrites slots
            _, k, v = model.step(x[:, t], cache)
            cache = cache.append(k, v)
        got, _, _ = model.step(x[:, 4], branch)
    assert torch.equal(got, want)
    assert not torch.equal(branch.values_LXHCD, cache.values_LXHCD)  # the original did move on
