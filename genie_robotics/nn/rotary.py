"""Rotary position embeddings for the temporal axis.

Rotary embeddings make the query-key score depend only on the distance in time, so a cached
key stays valid when the context window slides: this is what lets `step` reuse past keys.
The head dimension is split in halves (x1, x2) that rotate together, which avoids the
interleave copies of the pairwise form.
"""
import torch


def rotary_angles(positions: torch.Tensor, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of shape [P, head_dim] (each half repeated) for integer positions [P]."""
    inv_freq = base ** (-torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32) / head_dim)
    angles_PF = positions.to(torch.float32)[:, None] * inv_freq[None, :]
    angles_PD = torch.cat((angles_PF, angles_PF), dim=-1)
    return angles_PD.cos(), angles_PD.sin()


def _signed_sin(sin_PD: torch.Tensor) -> torch.Tensor:
    """sin with the first half negated: x * cos + swap(x) * signed_sin is the rotation."""
    half = sin_PD.shape[-1] // 2
    return torch.cat((-sin_PD[..., :half], sin_PD[..., half:]), dim=-1)


def swap_halves(x: torch.Tensor) -> torch.Tensor:
    """(x2, x1) for x = (x1, x2) along the last axis: the rotation's second operand."""
    half = x.shape[-1] // 2
    return torch.cat((x[..., half:], x[..., :half]), dim=-1)


def apply_rotary(x: torch.Tensor, cos_PD: torch.Tensor, sin_PD: torch.Tensor) -> torch.Tensor:
    """Rotate x [..., P, D] by the per-position angles (computed in float32): each pair
    (x1[i], x2[i]) of the two halves turns by the angle in column i.

    Written as x * cos + swap(x) * (-sin, sin) over whole rows, in place on the one copy that
    swaps the halves: 2-3x faster on a whole cache than products over half rows concatenated
    at the end.
    """
    x32 = x.float()
    out = swap_halves(x32)
    out.mul_(_signed_sin(sin_PD)).addcmul_(x32, cos_PD)
    return out.to(x.dtype)


def rotate_into(out: torch.Tensor, x: torch.Tensor, x_swapped: torch.Tensor, cos_PD: torch.Tensor,
                sin_PD: torch.Tensor) -> torch.Tensor:
    """`apply_rotary(x)` written into `out`, given `x_swapped` = swap_halves(x) kept beside x:
    two passes over x and no allocation, for a cache that re-rotates all its keys every frame."""
    if out.dtype != torch.float32:  # products in float32, one rounding to the cache's dtype
        return out.copy_(apply_rotary(x, cos_PD, sin_PD))
    return torch.mul(x_swapped, _signed_sin(sin_PD), out=out).addcmul_(x, cos_PD)
