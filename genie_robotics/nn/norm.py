"""RMSNorm computed in float32, so bf16 activations do not lose the normaliser's precision."""
import torch
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        """`gain` multiplies the learned weight (a constant folded into it, not a pass over x)."""
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        weight = self.weight.float() if gain == 1.0 else self.weight.float() * gain
        return (x32 * weight).to(x.dtype)
