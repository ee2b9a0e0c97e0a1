"""MaskGIT sampling of one frame of tokens (Chang et al. 2022; Genie uses 25 steps, T = 2).

All tokens start masked. Each step predicts every masked token, samples it at the given
temperature, and keeps some of the samples; the rest are masked again, following a schedule
that reaches zero masked tokens at the last step (at least one token is revealed per step, so a
frame of N < steps tokens takes N forward passes). Which samples are kept is the unmasking
order: MaskGIT's keeps the most confident ones; "random" keeps a random order drawn once per
frame (1X's world model samples so, because the confident tokens of a video frame are those that
copy the previous frame, and a rollout that copies stops moving).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch

from genie_robotics.core.config import UNMASKING_ORDERS


def masked_fraction(progress: float, schedule: str) -> float:
    """Fraction of tokens still masked after `progress` (0..1] of the steps."""
    if schedule == "cosine":
        return math.cos(math.pi / 2 * progress)
    if schedule == "linear":
        return 1.0 - progress
    raise ValueError(f"unknown MaskGIT schedule {schedule!r}")


MIN_TEMPERATURE = 1e-6  # temperature 0 means greedy; this divisor keeps it finite


def token_probabilities(logits_BNV: torch.Tensor, temperature) -> torch.Tensor:
    """softmax(logits / temperature) in float32: what MaskGIT samples from. `temperature` is a
    float or a 0-d tensor, at least MIN_TEMPERATURE; the ONNX dynamics graph runs this in-graph."""
    return torch.softmax(logits_BNV.float() / temperature, dim=-1)


def sample_categorical(probs_BNV: torch.Tensor, uniform_BN: torch.Tensor) -> torch.Tensor:
    """One draw [B, N] from each categorical distribution over the last axis, by inverse CDF
    from one uniform number in [0, 1) per token (torch.multinomial draws one per token and
    class, which made it most of a CPU MaskGIT step's host time)."""
    cdf_BNV = probs_BNV.cumsum(-1)
    u_BN1 = uniform_BN[..., None] * cdf_BNV[..., -1:]
    # right=True: the first class whose CDF exceeds u, so a class of probability 0 is never drawn.
    return torch.searchsorted(cdf_BNV, u_BN1, right=True)[..., 0].clamp_(max=probs_BNV.shape[-1] - 1)


def keep_masked_counts(tokens: int, steps: int, schedule: str) -> list[int]:
    """Tokens still masked after each step: the schedule, but at least one token revealed per
    step, and none masked after the last."""
    counts, masked = [], tokens
    for step in range(steps):
        target = math.floor(tokens * masked_fraction((step + 1) / steps, schedule))
        masked = 0 if step == steps - 1 else max(min(masked - 1, target), 0)
        counts.append(masked)
    return counts


def maskgit_draws(steps: int, batch: int, tokens: int, order: str, generator: torch.Generator | None = None,
                  device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor | None]:
    """The random numbers one frame's sampling uses: a uniform per step and token [S, B, N], and
    for the random order each token's place in it [B, N] (None otherwise, and for one step, which
    keeps every sample). Drawn once for a whole batch, they can be sliced for its parts."""
    uniform_SBN = torch.rand(steps, batch, tokens, generator=generator, device=device)
    order_key_BN = torch.rand(batch, tokens, generator=generator, device=device) if order == "random" and steps > 1 else None
    return uniform_SBN, order_key_BN


@torch.no_grad()
def maskgit_sample(
    probs_fn: Callable[[torch.Tensor], torch.Tensor],
    batch: int,
    tokens: int,
    mask_id: int,
    steps: int,
    schedule: str = "cosine",
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    uniform_SBN: torch.Tensor | None = None,
    order: str = "confidence",
    order_key_BN: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sample token indices [B, N]; `probs_fn(tokens_BN)` returns the tokens' probabilities
    [B, N, V] at the sampling temperature (`token_probabilities`). `uniform_SBN`: the uniform
    numbers the draws use, one per step and token (default: drawn from `generator`); a caller
    that samples a batch in parts passes each part its slice, so the parts draw what the
    whole batch would. `order`: the unmasking order (UNMASKING_ORDERS); for "random",
    `order_key_BN` holds each token's place in it (uniform numbers, lowest revealed last).
    Both default to `maskgit_draws` from `generator`.

    Host work between the forward passes is kept to a few tensor ops: on a CPU, each op after
    a forward pass runs with the caches cold, at 2-3x its warm time."""
    if steps < 1:
        raise ValueError(f"MaskGIT needs at least one step, got {steps}")
    tokens_BN = torch.full((batch, tokens), mask_id, dtype=torch.long, device=device)
    positions_BN = torch.arange(tokens, device=device).expand(batch, tokens)
    if order not in UNMASKING_ORDERS:
        raise ValueError(f"unknown unmasking order {order!r}: one of {', '.join(UNMASKING_ORDERS)}")
    if uniform_SBN is None:
        uniform_SBN, drawn_key_BN = maskgit_draws(steps, batch, tokens, order, generator, device)
        order_key_BN = drawn_key_BN if order_key_BN is None else order_key_BN
    if order == "confidence":
        order_key_BN = None
    elif order_key_BN is None and steps > 1:
        raise ValueError("the random unmasking order needs order_key_BN beside the given uniform_SBN (maskgit_draws)")
    for step, keep_masked in enumerate(keep_masked_counts(tokens, steps, schedule)):
        masked_BN = tokens_BN == mask_id
        probs_BNV = probs_fn(tokens_BN)
        sampled_BN = torch.where(masked_BN, sample_categorical(probs_BNV, uniform_SBN[step]), tokens_BN)
        if keep_masked == 0:  # the last step, or every token revealed before it (N < steps)
            return sampled_BN
        if order_key_BN is not None:
            kept_first_BN = order_key_BN
        else:
            kept_first_BN = probs_BNV.gather(-1, sampled_BN[..., None])[..., 0]
        keep_score_BN = torch.where(masked_BN, kept_first_BN, math.inf)  # tokens revealed already stay
        # rank 0 = masked again first: one sort, its inverse permutation by scatter
        rank_BN = torch.empty_like(positions_BN).scatter_(-1, keep_score_BN.argsort(-1), positions_BN)
        tokens_BN = torch.where(rank_BN < keep_masked, mask_id, sampled_BN)
    return tokens_BN  # not reached: the last step keeps nothing masked
