"""MaskGIT sampling of one frame of tokens (Chang et al. 2022; Genie uses 25 steps, T = 2).

All tokens start masked. Each step predicts every masked token, samples it at the given
temperature, and keeps the most confident samples; the rest are masked again, following a
schedule that reaches zero masked tokens at the last step (at least one token is revealed
per step, so a frame of N < steps tokens takes N forward passes).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch


def steps_phrase(steps: int) -> str:
    """'1 MaskGIT step' / '25 MaskGIT steps', for messages and reports."""
    return f"{steps} MaskGIT step" + ("" if steps == 1 else "s")


def masked_fraction(progress: float, schedule: str) -> float:
    """Fraction of tokens still masked after `progress` (0..1] of the steps."""
    if schedule == "cosine":
        return math.cos(math.pi / 2 * progress)
    if schedule == "linear":
        return 1.0 - progress
    raise ValueError(f"unknown MaskGIT schedule {schedule!r}")


def sample_categorical(probs_BNV: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One draw [B, N] from each categorical distribution over the last axis, by inverse CDF:
    one uniform number per token (torch.multinomial draws one per token and class, which made
    it most of a CPU MaskGIT step's host time)."""
    cdf_BNV = probs_BNV.cumsum(-1)
    u_BN1 = torch.rand(*probs_BNV.shape[:-1], 1, generator=generator, device=probs_BNV.device) * cdf_BNV[..., -1:]
    # side="right": the first class whose CDF exceeds u, so a class of probability 0 is never drawn.
    return torch.searchsorted(cdf_BNV, u_BN1, right=True)[..., 0].clamp_(max=probs_BNV.shape[-1] - 1)


@torch.no_grad()
def maskgit_sample(
    logits_fn: Callable[[torch.Tensor], torch.Tensor],
    batch: int,
    tokens: int,
    mask_id: int,
    steps: int,
    temperature: float,
    schedule: str = "cosine",
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Sample token indices [B, N]; `logits_fn(tokens_BN)` returns logits [B, N, V]."""
    tokens_BN = torch.full((batch, tokens), mask_id, dtype=torch.long, device=device)
    positions_BN = torch.arange(tokens, device=device).expand(batch, tokens)
    for step in range(steps):
        masked_BN = tokens_BN == mask_id
        if not masked_BN.any():  # fewer tokens than steps: every token is already revealed
            break
        logits_BNV = logits_fn(tokens_BN).float()
        probs_BNV = torch.softmax(logits_BNV / max(temperature, 1e-6), dim=-1)
        sampled_BN = torch.where(masked_BN, sample_categorical(probs_BNV, generator), tokens_BN)
        if step == steps - 1:  # the last step reveals every token: no ranking
            return sampled_BN
        confidence_BN = torch.where(masked_BN, probs_BNV.gather(-1, sampled_BN[..., None])[..., 0], math.inf)
        # How many stay masked: follows the schedule, but always reveals at least one token.
        remaining = masked_BN.sum(-1)
        target = math.floor(tokens * masked_fraction((step + 1) / steps, schedule))
        keep_masked_B = torch.clamp(torch.minimum(remaining - 1, torch.full_like(remaining, target)), min=0)
        # rank 0 = least confident: one sort, its inverse permutation by scatter
        rank_BN = torch.empty_like(positions_BN).scatter_(-1, confidence_BN.argsort(-1), positions_BN)
        tokens_BN = torch.where(rank_BN < keep_masked_B[:, None], mask_id, sampled_BN)
    return tokens_BN
