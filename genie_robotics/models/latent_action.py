"""Latent action model (LAM) on pixels (Genie, Sec. 2.1).

The encoder sees frames x[1:t+1] (causal ST-transformer over 16x16 patches) and emits one
continuous latent per transition; a VQ with |A| = 8 codes turns it into a latent action.
The decoder sees x[1:t] plus that latent and must reconstruct x[t+1], so the latent has to
carry what changed from t to t+1: a[t] is aligned with the transition t -> t+1.
At inference only the codebook is kept; users choose an integer in [0, 8).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genie_robotics.config import GenieConfig
from genie_robotics.metrics import psnr
from genie_robotics.models.video import patchify, to_unit, unpatchify
from genie_robotics.nn.st_transformer import STTransformer
from genie_robotics.nn.vector_quantizer import Quantized, VectorQuantizer


@dataclass
class LatentActions:
    continuous_BTD: torch.Tensor  # pre-quantisation latents, one per transition (T-1 of them)
    quantized: Quantized  # codes [B, T-1, D] and indices [B, T-1]


class LatentActionModel(nn.Module):
    def __init__(self, cfg: GenieConfig) -> None:
        super().__init__()
        self.cfg = cfg
        lc = cfg.lam
        patch_dim = lc.patch_size**2 * 3
        n = (cfg.height // lc.patch_size) * (cfg.width // lc.patch_size)
        self.encoder_in = nn.Linear(patch_dim, lc.encoder.dim)
        self.encoder_pos = nn.Parameter(torch.randn(n, lc.encoder.dim) * 0.02)
        self.encoder = STTransformer(lc.encoder, cfg.frames)
        self.to_latent = nn.Linear(lc.encoder.dim, lc.quantizer.code_dim)
        self.quantizer = VectorQuantizer(lc.quantizer)
        self.decoder_in = nn.Linear(patch_dim, lc.decoder.dim)
        self.decoder_pos = nn.Parameter(torch.randn(n, lc.decoder.dim) * 0.02)
        self.action_in = nn.Linear(lc.quantizer.code_dim, lc.decoder.dim)
        self.decoder = STTransformer(lc.decoder, cfg.frames)
        self.patch_out = nn.Linear(lc.decoder.dim, patch_dim)

    def infer(self, frames_BTHWC: torch.Tensor) -> LatentActions:
        """Latent actions of the T-1 transitions of a clip; entry t uses frames <= t+1 only."""
        x = patchify(to_unit(frames_BTHWC), self.cfg.lam.patch_size).to(self.encoder_in.weight.dtype)
        h = self.encoder(self.encoder_in(x) + self.encoder_pos)
        # Latent t reads the change of the frame summary from t to t+1 (causal: frames <= t+1),
        # so what the frames share cancels and the code carries the motion.
        summary_BTD = h.mean(dim=2)
        latent_BTD = self.to_latent(summary_BTD[:, 1:] - summary_BTD[:, :-1])
        return LatentActions(latent_BTD, self.quantizer(latent_BTD))

    def reconstruct_next(self, frames_BTHWC: torch.Tensor, action_codes_BTD: torch.Tensor) -> torch.Tensor:
        """Predict frames x[2:T] in [-1, 1] from x[1:T-1] and the codes of the transitions."""
        lc = self.cfg.lam
        x = self.decoder_in(patchify(to_unit(frames_BTHWC[:, :-1]), lc.patch_size).to(self.decoder_in.weight.dtype))
        x = x + self.decoder_pos + self.action_in(action_codes_BTD)[:, :, None]
        return unpatchify(self.patch_out(self.decoder(x)), lc.patch_size, self.cfg.height, self.cfg.width)

    def loss(self, frames_BTHWC: torch.Tensor, actions: LatentActions | None = None) -> dict[str, torch.Tensor]:
        """Next-frame reconstruction MSE + VQ loss; pass `actions` to reuse an `infer` result."""
        actions = actions if actions is not None else self.infer(frames_BTHWC)
        pred = self.reconstruct_next(frames_BTHWC, actions.quantized.codes)
        target = to_unit(frames_BTHWC[:, 1:])
        mse = F.mse_loss(pred.float(), target)
        return {
            "loss": mse + actions.quantized.loss,
            "lam_mse": mse.detach(),
            "lam_psnr": psnr(pred.detach(), target),
            "lam_codes_used": torch.tensor(float(actions.quantized.indices.unique().numel())),
            "lam_restarts": torch.tensor(float(actions.quantized.restarted)),
        }

    def action_codes(self, actions: torch.Tensor) -> torch.Tensor:
        """Codebook vectors [..., D] for integer latent actions [...] in [0, num_actions)."""
        return self.quantizer.lookup(actions)
