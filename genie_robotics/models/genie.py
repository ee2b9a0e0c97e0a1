"""The Genie stack as one module: tokenizer, latent action model and dynamics, with the
losses of the paper's two training phases (tokenizer first; then LAM and dynamics together
with the tokenizer frozen)."""
from __future__ import annotations

import torch
from torch import nn

from genie_robotics.config import GenieConfig
from genie_robotics.models.dynamics import DynamicsModel
from genie_robotics.models.latent_action import LatentActionModel
from genie_robotics.models.tokenizer import VideoTokenizer

STAGES = ("tokenizer", "dynamics")


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
        """Parameters optimised in a phase: the tokenizer alone, or LAM + dynamics."""
        if stage == "tokenizer":
            return list(self.tokenizer.parameters())
        if stage == "dynamics":
            return list(self.lam.parameters()) + list(self.dynamics.parameters())
        raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")

    def stage_loss(self, stage: str, frames_BTHWC: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Loss terms of one phase on a uint8 clip batch; 'loss' is the one to minimise."""
        if stage == "tokenizer":
            return self.tokenizer.loss(frames_BTHWC)
        if stage != "dynamics":
            raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
        with torch.no_grad():
            tokens_BTN = self.tokenizer.encode(frames_BTHWC)
        actions = self.lam.infer(frames_BTHWC)
        lam_terms = self.lam.loss(frames_BTHWC, actions)
        # Stop-gradient: the dynamics model must not shape the latent actions.
        dyn_terms = self.dynamics.loss(tokens_BTN, actions.quantized.codes.detach(), generator)
        terms = {**lam_terms, **dyn_terms}
        terms["loss"] = lam_terms["loss"] + dyn_terms["loss"]
        return terms


def count_parameters(cfg: GenieConfig) -> dict[str, int]:
    """Parameter counts per component, built on the meta device (nothing is allocated)."""
    with torch.device("meta"):
        return Genie(cfg).parameter_counts()
