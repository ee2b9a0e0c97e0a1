"""The Genie stack as one module: tokenizer, latent action model and dynamics, with the
losses of the training phases.

The paper trains the tokenizer first, then the LAM and the dynamics model together. Here the
second phase is split in two: the LAM is trained alone, then frozen while the dynamics model
learns on its codes. Co-trained from step 0, the dynamics model chases codes whose meaning
still shifts, and on CPU budgets it learned to ignore them (README, "Training"); with a frozen
LAM every code means one thing for the whole dynamics phase. The tokenizer and the LAM are
independent (tokens vs pixels), so their phases may run in either order."""
from __future__ import annotations

import torch
from torch import nn

from genie_robotics.core.config import GenieConfig
from genie_robotics.models.dynamics import DynamicsModel
from genie_robotics.models.latent_action import LatentActionModel
from genie_robotics.models.tokenizer import VideoTokenizer

STAGES = ("tokenizer", "lam", "dynamics")


class Genie(nn.Module):
    def __init__(self, cfg: GenieConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tokenizer = VideoTokenizer(cfg)
        self.lam = LatentActionModel(cfg)
        self.dynamics = DynamicsModel(cfg)

    def parameter_counts(self) -> dict[str, int]:
        counts = {name: sum(p.numel() for p in getattr(self, name).parameters()) for name in ("tokenizer", "lam", "dynamics")}
        counts["total"] = sum(counts.values())
        return counts

    def trainable_parameters(self, stage: str) -> list[nn.Parameter]:
        """Parameters optimised in a phase: each phase trains one component, the others frozen."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
        return list(getattr(self, stage).parameters())

    def train_stage_mode(self, stage: str) -> Genie:
        """Training mode for `stage`'s component only: the frozen ones keep their codebooks
        (no dead-code restarts, no usage updates) and their dropout off."""
        self.eval()
        getattr(self, stage).train()
        return self

    def stage_loss(self, stage: str, frames_BTHWC: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Loss terms of one phase on a uint8 clip batch; 'loss' is the one to minimise."""
        if stage == "tokenizer":
            return self.tokenizer.loss(frames_BTHWC)
        if stage == "lam":
            return self.lam.loss(frames_BTHWC)
        if stage != "dynamics":
            raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
        with torch.no_grad():  # both frozen; stop-gradient: the dynamics model never shapes the codes
            tokens_BTN = self.tokenizer.encode(frames_BTHWC)
            actions = self.lam.infer(frames_BTHWC)
        terms = self.dynamics.loss(tokens_BTN, actions.quantized.codes, generator)
        terms["lam_codes_used"] = torch.tensor(float(actions.quantized.indices.unique().numel()))
        return terms


def count_parameters(cfg: GenieConfig) -> dict[str, int]:
    """Parameter counts per component, built on the meta device (nothing is allocated)."""
    with torch.device("meta"):
        return Genie(cfg).parameter_counts()
