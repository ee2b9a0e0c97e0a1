import math

import torch

from genie_robotics.nn.rotary import apply_rotary, rotary_angles


def _rotated_pairs(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """The definition: pair i of the two halves turned by position * base^(-2i/D), one pair at a time."""
    D = x.shape[-1]
    out = torch.empty_like(x)
    for p, position in enumerate(positions.tolist()):
        for i in range(D // 2):
            angle = position * 10000.0 ** (-2 * i / D)
            a, b = x[..., p, i], x[..., p, i + D // 2]
            out[..., p, i] = a * math.cos(angle) - b * math.sin(angle)
            out[..., p, i + D // 2] = b * math.cos(angle) + a * math.sin(angle)
    return out


def test_rotation_with_and_without_autograd_matches_the_definition():
    torch.manual_seed(0)
    positions = torch.tensor([-3, 0, 2, 7])
    x = torch.randn(2, 3, 4, 8)
    cos, sin = rotary_angles(positions, 8)
    expected = _rotated_pairs(x, positions)
    with torch.no_grad():
        assert torch.allclose(apply_rotary(x, cos, sin), expected, atol=1e-5)
    x_grad = x.clone().requires_grad_()
    rotated = apply_rotary(x_grad, cos, sin)
    assert torch.allclose(rotated, expected, atol=1e-5)
    rotated.square().sum().backward()  # a rotation keeps lengths: d|Rx|^2/dx = 2x
    assert torch.allclose(x_grad.grad, 2 * x, atol=1e-5)


def test_scores_depend_only_on_the_distance():
    """What the temporal cache relies on: keys rotated by their distance to the query (negative
    positions) score exactly as query and key rotated by their absolute positions."""
    torch.manual_seed(1)
    q, k = torch.randn(5, 16), torch.randn(5, 16)
    cos_q, sin_q = rotary_angles(torch.full((5,), 9), 16)
    cos_k, sin_k = rotary_angles(torch.arange(4, 9), 16)
    cos_rel, sin_rel = rotary_angles(torch.arange(4, 9) - 9, 16)
    absolute = (apply_rotary(q, cos_q, sin_q) * apply_rotary(k, cos_k, sin_k)).sum(-1)
    relative = (q * apply_rotary(k, cos_rel, sin_rel)).sum(-1)
    assert torch.allclose(absolute, relative, atol=1e-5)
