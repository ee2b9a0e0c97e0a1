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


def turn_in_place(x: torch.Tensor, cos_PD: torch.Tensor, sin_PD: torch.Tensor, rows: int = 8192) -> None:
    """Turn every vector of a contiguous x [..., D] by one angle row (cos_PD, sin_PD [1, D]), in
    place, in blocks of `rows` along the leading axes: the temporary is one block (in float32),
    not a second copy of a whole cache."""
    if not x.is_contiguous():
        raise ValueError("turn_in_place needs a contiguous tensor")
    signed_sin = _signed_sin(sin_PD)
    flat = x.flatten(0, 1) if x.dim() > 2 else x
    for block in flat.split(rows):
        block32 = block.float()
        turned = swap_halves(block32).mul_(signed_sin).addcmul_(block32, cos_PD)
        block.copy_(turned)
