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
from typing import cast

import torch
from torch import nn

from genie_robotics.core.config import TransformerConfig
from genie_robotics.nn.attention import SelfAttention
from genie_robotics.nn.norm import RMSNorm
from genie_robotics.nn.rotary import apply_rotary, rotary_angles, turn_in_place


@dataclass
class TemporalCache:
    """Temporal keys/values of the last `capacity` frames, for every layer and spatial position.

    X = batch x tokens per frame. The C slots are a ring: a new frame overwrites the oldest slot
    in place (`newest` is the slot of the latest frame) and `valid_C` marks which slots hold a
    frame, so shapes and buffers never change (ONNX-friendly, and IO bindings stay put) and
    positions stay small however long the rollout. Attention is blind to the slots' order: it
    reads `rotated_keys_LXHCD`, each key rotated by its frame's distance to the next new frame
    (the newest by -1, the oldest by -C). A rotary score depends only on that distance, so the
    new frame's query and key need no rotation at all. Each append turns every cached key one
    step further (every distance grows by one) and writes the new key turned by -1. Only the
    rotated keys and the values are kept, which is all a world's memory holds per frame; a key
    is turned at most C times before its slot is reused, so rounding cannot pile up. An exported
    graph receives the same two (`readable`, which cannot be appended to).

    `append` writes into this cache's buffers: clone() a cache to branch a rollout.
    """

    values_LXHCD: torch.Tensor | Sequence[torch.Tensor]
    valid_C: torch.Tensor
    rotated_keys_LXHCD: torch.Tensor | Sequence[torch.Tensor]
    newest: int = -1
    writable: bool = True

    @classmethod
    def empty(cls, shape_LXHCD: tuple[int, ...], device: torch.device | str = "cpu",
              dtype: torch.dtype = torch.float32) -> TemporalCache:
        """A cache with no frames: C = shape_LXHCD[3] empty slots."""
        def zeros():
            return torch.zeros(shape_LXHCD, device=device, dtype=dtype)

        return cls(zeros(), torch.zeros(shape_LXHCD[3], device=device, dtype=torch.bool), zeros())

    @classmethod
    def readable(cls, rotated_keys_LXHCD, values_LXHCD, valid_C: torch.Tensor) -> TemporalCache:
        """A cache that attention can read but nothing can append to (an ONNX graph's inputs,
        where keys and values may come as one tensor per layer)."""
        return cls(values_LXHCD, valid_C, rotated_keys_LXHCD, writable=False)

    @property
    def frames(self) -> int:
        return int(self.valid_C.sum())

    @property
    def shape(self) -> tuple[int, ...]:
        """(L, X, H, C, D) of each of the two buffers."""
        return tuple(self._writable()[0].shape)

    def _writable(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(rotated keys, values) of a cache made by `empty`; a `readable` one has none."""
        rotated, values = self.rotated_keys_LXHCD, self.values_LXHCD
        if not self.writable or not isinstance(values, torch.Tensor) or not isinstance(rotated, torch.Tensor):
            raise ValueError("a readable cache (an exported graph's inputs) cannot be cloned or appended to")
        return rotated, values

    def clone(self) -> TemporalCache:
        """An independent copy (appending to either leaves the other as it was)."""
        rotated, values = self._writable()
        return TemporalCache(values.clone(), self.valid_C.clone(), rotated.clone(), self.newest)

    def select_worlds(self, index_B: torch.Tensor, tokens_per_world: int) -> TemporalCache:
        """A new cache whose world b holds this cache's world `index_B[b]` (X is world-major:
        world b owns rows b*tokens_per_world ...): worlds that start from the same prompt copy
        one computed cache instead of each computing it."""
        rotated, values = self._writable()

        def pick(t_LXHCD: torch.Tensor) -> torch.Tensor:
            L, X, H, C, D = t_LXHCD.shape
            worlds_LWNHCD = t_LXHCD.view(L, X // tokens_per_world, tokens_per_world, H, C, D)
            out_LBNHCD = t_LXHCD.new_empty((L, len(index_B), tokens_per_world, H, C, D))
            torch.index_select(worlds_LWNHCD, 1, index_B, out=out_LBNHCD)  # the fastest copy measured
            return out_LBNHCD.view(L, len(index_B) * tokens_per_world, H, C, D)

        return TemporalCache(pick(values), self.valid_C.clone(), pick(rotated), self.newest)

    @torch.no_grad()
    def append(self, keys_LXHD: torch.Tensor, values_LXHD: torch.Tensor) -> TemporalCache:
        """Write this frame's keys/values over the oldest slot, in place; returns this cache.
        A cache is for generation: nothing is differentiated through it."""
        C = self.valid_C.numel()
        if C == 0:
            return self
        rotated, values = self._writable()
        cos_1D, sin_1D = rotary_angles(torch.tensor([-1], device=self.valid_C.device), rotated.shape[-1])
        if self.frames:  # every cached key one step further from the next frame
            turn_in_place(rotated, cos_1D, sin_1D)
        slot = (self.newest + 1) % C
        rotated[:, :, :, slot] = apply_rotary(keys_LXHD, cos_1D[0], sin_1D[0])
        values[:, :, :, slot] = values_LXHD
        self.valid_C[slot] = True
        self.newest = slot
        return self


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
        keys_values_only: bool = False,
    ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """One new frame against cached past frames (keys rotated relative to it, `bias_C`:
        -inf on empty slots); returns it and its own k, v (unrotated: the cache rotates them).
        `keys_values_only`: stop once k, v exist (output None): the last layer of a commit."""
        B, N, D = x_BND.shape
        h = x_BND + self.spatial(self.spatial_norm(x_BND))
        h = h.reshape(B * N, 1, D)
        q, k, v = self.temporal.project(self.temporal_norm(h), scale_queries=True)
        if keys_values_only:
            return None, k[:, :, 0], v[:, :, 0]
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
        return TemporalCache.empty((cfg.depth, batch * tokens, cfg.heads, self.window - 1, cfg.dim // cfg.heads),
                                   device, dtype)

    def step(self, x_BND: torch.Tensor, cache: TemporalCache,
             keys_values_only: bool = False) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """Output for one new frame, plus its keys/values [L, X, H, D] for `cache.append`;
        `keys_values_only` (a commit): the keys/values alone, without the work after the last
        layer's (output None)."""
        new_keys, new_values = [], []
        bias_C = torch.zeros(cache.valid_C.shape, device=x_BND.device).masked_fill(~cache.valid_C, float("-inf"))
        last = len(self.blocks) - 1
        out_BND: torch.Tensor | None = x_BND
        for layer, block in enumerate(cast("list[STBlock]", self.blocks)):
            out_BND, k, v = block.step(x_BND, cache.rotated_keys_LXHCD[layer], cache.values_LXHCD[layer], bias_C,
                                       keys_values_only=keys_values_only and layer == last)
            if out_BND is not None:  # only the last layer's output is left out, in a commit
                x_BND = out_BND
            new_keys.append(k)
            new_values.append(v)
        return None if out_BND is None else self.norm(out_BND), torch.stack(new_keys), torch.stack(new_values)
