"""The spatiotemporal (ST) transformer used by every Genie component.

Each block: spatial self-attention over the tokens of one frame, then causal temporal
self-attention over time at one spatial position, then ONE feed-forward (Genie, Sec. 2.1).
Temporal attention sees at most `window` frames (the current one included); the cost of a
forward pass is linear in the number of frames.

`step` processes one new frame against a `TemporalCache` of past frames' temporal keys and
values, so generating a frame costs one frame's forward pass however long the history is.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from genie_robotics.config import TransformerConfig
from genie_robotics.nn.attention import SelfAttention
from genie_robotics.nn.norm import RMSNorm
from genie_robotics.nn.rotary import apply_rotary, rotary_angles


@dataclass
class TemporalCache:
    """Temporal keys/values of the last `capacity` frames, for every layer and spatial position.

    X = batch x tokens per frame. Slots are right-aligned: the newest frame sits in the last
    slot and `valid_C` marks which slots hold a frame, so shapes never change (ONNX-friendly)
    and positions stay small however long the rollout. Attention reads `rotated_keys_LXHCD`,
    each key rotated by its slot's distance to the new frame (slot c of C by c - C): a rotary
    score depends only on the distance, so the new frame's query and key need no rotation at
    all. The keys are rotated once when a frame is appended, not at every MaskGIT iteration;
    the unrotated `keys_LXHCD` are kept so that the slide to the next slot can rotate them
    afresh (exactly, whatever the dtype). An exported graph receives only what attention reads
    (`readable`).
    """

    keys_LXHCD: torch.Tensor | None
    values_LXHCD: torch.Tensor | Sequence[torch.Tensor]
    valid_C: torch.Tensor
    rotated_keys_LXHCD: torch.Tensor | Sequence[torch.Tensor]

    @classmethod
    def readable(cls, rotated_keys_LXHCD, values_LXHCD, valid_C: torch.Tensor) -> TemporalCache:
        """A cache that attention can read but nothing can append to (an ONNX graph's inputs,
        where keys and values may come as one tensor per layer)."""
        return cls(None, values_LXHCD, valid_C, rotated_keys_LXHCD)

    @property
    def frames(self) -> int:
        return int(self.valid_C.sum())

    def append(self, keys_LXHD: torch.Tensor, values_LXHD: torch.Tensor) -> TemporalCache:
        """A new cache with this frame's keys/values appended, dropping the oldest slot."""
        if self.valid_C.numel() == 0:
            return self
        keys = torch.cat((self.keys_LXHCD[:, :, :, 1:], keys_LXHD[:, :, :, None]), dim=3)
        values = torch.cat((self.values_LXHCD[:, :, :, 1:], values_LXHD[:, :, :, None]), dim=3)
        valid = torch.cat((self.valid_C[1:], self.valid_C.new_ones(1)))
        C, head_dim = keys.shape[3], keys.shape[4]
        cos_CD, sin_CD = rotary_angles(torch.arange(-C, 0, device=keys.device), head_dim)
        return TemporalCache(keys, values, valid, apply_rotary(keys, cos_CD, sin_CD))


class STBlock(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.spatial_norm = RMSNorm(cfg.dim)
        self.spatial = SelfAttention(cfg.dim, cfg.heads)
        self.temporal_norm = RMSNorm(cfg.dim)
        self.temporal = SelfAttention(cfg.dim, cfg.heads)
        self.ffn_norm = RMSNorm(cfg.dim)
        hidden = int(cfg.dim * cfg.ffn_mult)
        self.ffn = nn.Sequential(nn.Linear(cfg.dim, hidden), nn.GELU(), nn.Linear(hidden, cfg.dim))

    def forward(self, x_BTND: torch.Tensor, cos_TF: torch.Tensor, sin_TF: torch.Tensor,
                mask_TT: torch.Tensor | None) -> torch.Tensor:
        """`mask_TT`: which frames each frame attends to; None = causal."""
        B, T, N, D = x_BTND.shape
        h = x_BTND.reshape(B * T, N, D)
        h = h + self.spatial(self.spatial_norm(h))
        h = h.view(B, T, N, D).transpose(1, 2).reshape(B * N, T, D)
        q, k, v = self.temporal.project(self.temporal_norm(h))
        h = h + self.temporal.attend(apply_rotary(q, cos_TF, sin_TF), apply_rotary(k, cos_TF, sin_TF), v, mask_TT,
                                     causal=mask_TT is None)
        h = h + self.ffn(self.ffn_norm(h))
        return h.view(B, N, T, D).transpose(1, 2)

    def step(
        self, x_BND: torch.Tensor, rotated_keys_XHCD: torch.Tensor, values_XHCD: torch.Tensor, bias_C: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One new frame against cached past frames (keys rotated relative to it, `bias_C`:
        -inf on empty slots); returns it and its own k, v (unrotated: the cache rotates them)."""
        B, N, D = x_BND.shape
        h = x_BND + self.spatial(self.spatial_norm(x_BND))
        h = h.reshape(B * N, 1, D)
        q, k, v = self.temporal.project(self.temporal_norm(h), scale_queries=True)
        h = (h + self.temporal.attend_cached(q, k, v, rotated_keys_XHCD, values_XHCD, bias_C)).view(B * N, D)
        h = h + self.ffn(self.ffn_norm(h))  # on rows [X, D]: one GEMM each, no reshapes around them
        return h.view(B, N, D), k[:, :, 0], v[:, :, 0]


class STTransformer(nn.Module):
    """`depth` ST blocks and a final norm; temporal attention limited to `window` frames."""

    def __init__(self, cfg: TransformerConfig, window: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.window = window
        self.blocks = nn.ModuleList(STBlock(cfg) for _ in range(cfg.depth))
        self.norm = RMSNorm(cfg.dim)

    def forward(self, x_BTND: torch.Tensor) -> torch.Tensor:
        T = x_BTND.shape[1]
        t = torch.arange(T, device=x_BTND.device)
        cos, sin = rotary_angles(t, self.cfg.dim // self.cfg.heads)
        mask_TT = None  # None: plain causal attention (the window covers every frame), a faster kernel
        if T > self.window:
            delay_TT = t[:, None] - t[None, :]
            mask_TT = (delay_TT >= 0) & (delay_TT < self.window)
        for block in self.blocks:
            x_BTND = block(x_BTND, cos, sin, mask_TT)
        return self.norm(x_BTND)

    def empty_cache(self, batch: int, tokens: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> TemporalCache:
        cfg = self.cfg
        shape = (cfg.depth, batch * tokens, cfg.heads, self.window - 1, cfg.dim // cfg.heads)
        zeros = torch.zeros(shape, device=device, dtype=dtype)
        return TemporalCache(zeros, zeros.clone(), torch.zeros(self.window - 1, device=device, dtype=torch.bool), zeros.clone())

    def step(self, x_BND: torch.Tensor, cache: TemporalCache) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Output for one new frame, plus its keys/values [L, X, H, D] for `cache.append`."""
        new_keys, new_values = [], []
        bias_C = torch.zeros(cache.valid_C.shape, device=x_BND.device).masked_fill(~cache.valid_C, float("-inf"))
        for layer, block in enumerate(self.blocks):
            x_BND, k, v = block.step(x_BND, cache.rotated_keys_LXHCD[layer], cache.values_LXHCD[layer], bias_C)
            new_keys.append(k)
            new_values.append(v)
        return self.norm(x_BND), torch.stack(new_keys), torch.stack(new_values)
