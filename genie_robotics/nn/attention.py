"""Multi-head self-attention with QK-norm, split into projection and attention steps so the
temporal layer can join the new frame's keys with cached ones."""
import torch
import torch.nn.functional as F
from torch import nn

from genie_robotics.nn.norm import RMSNorm


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        # QK-norm keeps attention logits bounded, which stabilises large models and bf16.
        self.q_norm = RMSNorm(self.head_dim)
        self.k_norm = RMSNorm(self.head_dim)

    def project(self, x_XSD: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys, values [X, heads, S, head_dim] with QK-norm applied."""
        X, S, _ = x_XSD.shape
        q, k, v = self.qkv(x_XSD).view(X, S, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return self.q_norm(q), self.k_norm(k), v

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attention output [X, S, dim]; `mask` is boolean, True where a key may be seen."""
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        X, _, S, _ = o.shape
        return self.out(o.transpose(1, 2).reshape(X, S, -1))

    def forward(self, x_XSD: torch.Tensor) -> torch.Tensor:
        """Unmasked attention over S (the spatial layer: all tokens of one frame)."""
        return self.attend(*self.project(x_XSD))
