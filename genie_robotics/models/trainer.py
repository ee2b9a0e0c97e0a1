"""A single-process training loop for one phase (tokenizer, LAM or dynamics), without DeepSpeed.

The tests use it to check that each phase learns (tests/models/test_overfit.py,
test_action_learning.py); `training/train.py` optimises the same `Genie.stage_loss` terms with
the same optimiser and schedule (`nn/optim.py`) under DeepSpeed.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from tqdm import tqdm

from genie_robotics.core.errors import GenieError
from genie_robotics.models.genie import Genie
from genie_robotics.nn.optim import make_optimizer, warmup_cosine


def train_stage(
    genie: Genie,
    stage: str,
    next_batch: Callable[[], np.ndarray],
    steps: int,
    lr: float = 1e-3,
    warmup: int = 20,
    grad_clip: float = 1.0,
    seed: int = 0,
    progress: bool = True,
    lr_floor: float = 0.1,
) -> list[dict[str, float]]:
    """Optimise one phase for `steps` steps on uint8 clip batches; returns per-step metrics.

    The learning rate warms up, then decays along a cosine to `lr_floor` x `lr` (1.0: constant,
    which learns fastest in short runs such as the tests' guard)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    params = genie.trainable_parameters(stage)
    optimizer = make_optimizer(params, lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, steps, warmup, lr_floor))
    genie.train_stage_mode(stage)
    history: list[dict[str, float]] = []
    bar = tqdm(range(steps), desc=f"train {stage}", disable=not progress, dynamic_ncols=True)
    for step in bar:
        frames = torch.as_tensor(next_batch())
        terms = genie.stage_loss(stage, frames, generator)
        loss = terms["loss"]
        if not torch.isfinite(loss):
            raise GenieError(f"non-finite {stage} loss ({loss.item()}) at step {step}; stopping")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
        optimizer.step()
        scheduler.step()
        history.append({k: float(v.detach()) for k, v in terms.items()})
        shown = {k: f"{history[-1][k]:.3g}" for k in ("loss", "psnr", "dynamics_acc", "lam_codes_used") if k in history[-1]}
        bar.set_postfix(shown, refresh=False)
    genie.eval()
    return history
