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

    def project(self, x_XSD: torch.Tensor, scale_queries: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys, values [X, heads, S, head_dim] with QK-norm applied; `scale_queries`
        folds attention's 1/sqrt(head_dim) into the query norm's gain (no extra pass over scores)."""
        X, S, _ = x_XSD.shape
        qkv = self.qkv(x_XSD)
        if S == 1:  # one position per row (the temporal step): the same split, with no transpose
            q, k, v = qkv.view(X, 3, self.heads, 1, self.head_dim).unbind(1)
        else:
            q, k, v = qkv.view(X, S, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return self.q_norm(q, self.head_dim ** -0.5 if scale_queries else 1.0), self.k_norm(k), v

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
               causal: bool = False) -> torch.Tensor:
        """Attention output [X, S, dim]; `mask` is boolean, True where a key may be seen; `causal`
        instead lets each position see itself and the ones before it."""
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
        X, _, S, _ = o.shape
        return self.out(o.transpose(1, 2).reshape(X, S, -1))

    def attend_cached(self, q_XH1K: torch.Tensor, k_XH1K: torch.Tensor, v_XH1K: torch.Tensor, cached_keys_XHCK: torch.Tensor,
                      cached_values_XHCK: torch.Tensor, bias_C: torch.Tensor) -> torch.Tensor:
        """Output [X, 1, dim] of one new query (already scaled, see `project`) against the cached
        keys/values (`bias_C`: 0, or -inf on empty slots) and its own.

        The same attention as `attend` over the cache with the new key/value appended, without
        building that concatenation: scores against the cache and against itself are computed
        apart and share one softmax (copying the cache cost more than attending to it).
        """
        cached_XH1C = q_XH1K @ cached_keys_XHCK.transpose(-1, -2) + bias_C
        own_XH11 = (q_XH1K * k_XH1K).sum(-1, keepdim=True)
        weights_XH1S = torch.softmax(torch.cat((cached_XH1C, own_XH11), dim=-1), dim=-1)
        C = cached_keys_XHCK.shape[2]
        o_XH1K = weights_XH1S[..., :C] @ cached_values_XHCK + weights_XH1S[..., C:] * v_XH1K
        return self.out(o_XH1K.reshape(o_XH1K.shape[0], 1, -1))  # heads side by side (one position: no transpose)

    def forward(self, x_XSD: torch.Tensor) -> torch.Tensor:
        """Unmasked attention over S (the spatial layer: all tokens of one frame)."""
        return self.attend(*self.project(x_XSD))
