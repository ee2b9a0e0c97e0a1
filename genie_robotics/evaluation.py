"""Held-out quality of a trained Genie: tokenizer reconstruction and controllability (ΔtPSNR).

ΔtPSNR (Genie, Sec. 3): PSNR(x_t, x̂_t) − PSNR(x_t, x̂'_t), where x̂_t is generated from the
prompt frame and the latent actions the LAM infers from the ground-truth clip, and x̂'_t from
latent actions drawn uniformly at random. A model whose latent actions control the future scores
above 0; the paper reports 2.07 at t = 4 for its robotics model with a pixel-input LAM.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch

from genie_robotics.metrics import psnr
from genie_robotics.models.genie import Genie
from genie_robotics.models.video import to_unit
from genie_robotics.models.world_model import WorldModel


@torch.no_grad()
def tokenizer_psnr(genie: Genie, clips_BTHWC: Iterable[torch.Tensor]) -> float:
    """Mean per-clip PSNR (dB) of tokenizer reconstructions over batches of uint8 clips."""
    values = []
    for clips in clips_BTHWC:
        recon = genie.tokenizer.decode(genie.tokenizer.encode(clips))
        values += psnr(recon, to_unit(clips), per_sample=True).tolist()
    return float(np.mean(values))


@torch.no_grad()
def delta_psnr(genie: Genie, clips_BTHWC: torch.Tensor, t: int = 4, maskgit_steps: int = 25,
               temperature: float = 2.0, seed: int = 0) -> dict[str, float]:
    """ΔtPSNR at horizon t on clips of at least t+1 frames (frame 0 is the prompt)."""
    if clips_BTHWC.shape[1] < t + 1:
        raise ValueError(f"clips of {clips_BTHWC.shape[1]} frames are too short for t = {t}")
    clips = clips_BTHWC[:, : t + 1]
    inferred = genie.lam.infer(clips).quantized.indices.cpu().numpy()  # [B, t]
    rng = np.random.default_rng(seed)
    random = rng.integers(0, genie.cfg.num_actions, size=inferred.shape)
    target = to_unit(clips[:, t])
    scores = {}
    for label, actions in (("inferred", inferred), ("random", random)):
        world = WorldModel(genie, maskgit_steps=maskgit_steps, temperature=temperature, seed=seed, device=clips.device)
        frames = torch.as_tensor(world.rollout(clips[:, 0].cpu().numpy(), actions), device=clips.device)
        scores[f"psnr_{label}"] = psnr(to_unit(frames[:, t]), target, per_sample=True).mean().item()
    scores["delta_psnr"] = scores["psnr_inferred"] - scores["psnr_random"]
    return scores
