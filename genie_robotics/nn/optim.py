"""The optimiser and learning-rate schedule every training loop uses (DeepSpeed's, the single-process
one, the benchmarks'), written once."""
from __future__ import annotations

import math
from collections.abc import Iterable

import torch

BETAS = (0.9, 0.95)
WEIGHT_DECAY = 0.01


def make_optimizer(params: Iterable[torch.nn.Parameter], lr: float) -> torch.optim.AdamW:
    """AdamW with the betas and weight decay of every phase."""
    return torch.optim.AdamW(params, lr=lr, betas=BETAS, weight_decay=WEIGHT_DECAY)


def warmup_cosine(step: int, total: int, warmup: int, floor: float = 0.1) -> float:
    """Learning-rate multiplier: linear warm-up, then cosine decay to `floor`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
