"""Latent action model (LAM) on pixels (Genie, Sec. 2.1).

The encoder sees the clip as pixels, one transition t -> t+1 per time step: each 16x16 patch
(preset) of frame t beside the same patch's change x[t+1] - x[t], plus a learned action token
per step. A causal ST-transformer runs over them and the latent a[t] is read from the action
token, so it sees frames <= t+1 only. A VQ with |A| = 8 codes turns it into a latent action.

The decoder sees frame t ALONE (no history) plus a[t] and must draw frame t+1. Two known
failures shaped this (README, "Model"): a decoder that can copy past frames, scored by a plain
MSE on frames where a small arm moves, learns to ignore the latent; and a latent pooled over
all patches averages the arm's motion away. So the decoder is starved of the past, the latent
comes from a token that attends to the moving patches, and the reconstruction loss weighs the
pixels that change `moving_weight` times more. a[t] carries the change t -> t+1.
At inference only the codebook is kept; users choose an integer in [0, 8).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genie_robotics.core.config import GenieConfig
from genie_robotics.models.video import patchify, to_unit, unpatchify
from genie_robotics.nn.metrics import psnr
from genie_robotics.nn.st_transformer import STTransformer
from genie_robotics.nn.vector_quantizer import Quantized, VectorQuantizer

# A pixel "moves" between two frames when a channel changes by more than this (in [-1, 1] units,
# ~10 levels of 255): the rendered background's JPEG noise stays below it, an arm's edge above.
MOVING_THRESHOLD = 0.08


@dataclass
class LatentActions:
    continuous_BTD: torch.Tensor  # pre-quantisation latents, one per transition (T-1 of them)
    quantized: Quantized  # codes [B, T-1, D] and indices [B, T-1]


def moving_mask(frames_BTHWC: torch.Tensor) -> torch.Tensor:
    """[B, T-1, H, W, 1] float: pixels that change from frame t to t+1 (frames in [-1, 1])."""
    change = (frames_BTHWC[:, 1:] - frames_BTHWC[:, :-1]).abs().amax(dim=-1, keepdim=True)
    return (change > MOVING_THRESHOLD).float()


class LatentActionModel(nn.Module):
    def __init__(self, cfg: GenieConfig) -> None:
        super().__init__()
        self.cfg = cfg
        lc = cfg.lam
        patch_dim = lc.patch_size**2 * 3
        n = (cfg.height // lc.patch_size) * (cfg.width // lc.patch_size)
        self.encoder_in = nn.Linear(2 * patch_dim, lc.encoder.dim)  # frame t and its change to t+1
        self.encoder_pos = nn.Parameter(torch.randn(n, lc.encoder.dim) * 0.02)
        self.action_token = nn.Parameter(torch.randn(lc.encoder.dim) * 0.02)
        self.encoder = STTransformer(lc.encoder, cfg.frames)
        self.to_latent = nn.Linear(lc.encoder.dim, lc.quantizer.code_dim)
        self.quantizer = VectorQuantizer(lc.quantizer)
        self.decoder_in = nn.Linear(patch_dim, lc.decoder.dim)
        self.decoder_pos = nn.Parameter(torch.randn(n, lc.decoder.dim) * 0.02)
        self.action_in = nn.Linear(lc.quantizer.code_dim, lc.decoder.dim)
        self.decoder = STTransformer(lc.decoder, 1)  # one frame in, one frame out: no history
        self.patch_out = nn.Linear(lc.decoder.dim, patch_dim)

    def encode(self, frames_BTHWC: torch.Tensor) -> torch.Tensor:
        """Continuous latents [B, T-1, D] of the transitions; entry t uses frames <= t+1 only."""
        x = to_unit(frames_BTHWC).to(self.encoder_in.weight.dtype)
        p = self.cfg.lam.patch_size
        inputs_BTNP = torch.cat((patchify(x[:, :-1], p), patchify(x[:, 1:] - x[:, :-1], p)), dim=-1)
        h = self.encoder_in(inputs_BTNP) + self.encoder_pos
        B, T, _, D = h.shape
        h = torch.cat((h, self.action_token.expand(B, T, 1, D)), dim=2)
        return self.to_latent(self.encoder(h)[:, :, -1])

    def infer(self, frames_BTHWC: torch.Tensor) -> LatentActions:
        """Latent actions of the T-1 transitions of a clip."""
        latent_BTD = self.encode(frames_BTHWC)
        return LatentActions(latent_BTD, self.quantizer(latent_BTD))

    def decode_embedded(self, frames_BTHWC: torch.Tensor, action_emb_BTD: torch.Tensor) -> torch.Tensor:
        """Frames x[t+1] in [-1, 1] from x[t] alone and an embedded action, for t < T."""
        lc = self.cfg.lam
        prev = to_unit(frames_BTHWC).to(self.decoder_in.weight.dtype)
        B, T = prev.shape[:2]
        x = self.decoder_in(patchify(prev, lc.patch_size)) + self.decoder_pos + action_emb_BTD[:, :, None]
        h = self.decoder(x.flatten(0, 1)[:, None])[:, 0].view(B, T, *x.shape[2:])
        # Residual: the decoder draws the change, the frame itself passes through.
        return prev + unpatchify(self.patch_out(h), lc.patch_size, self.cfg.height, self.cfg.width)

    def reconstruct_next(self, frames_BTHWC: torch.Tensor, action_codes_BTD: torch.Tensor) -> torch.Tensor:
        """Predict frames x[2:T] in [-1, 1], each from the frame before it and its transition's code."""
        return self.decode_embedded(frames_BTHWC[:, :-1], self.action_in(action_codes_BTD))

    def loss(self, frames_BTHWC: torch.Tensor, actions: LatentActions | None = None) -> dict[str, torch.Tensor]:
        """Moving-weighted next-frame MSE + VQ loss; pass `actions` to reuse an `infer` result."""
        actions = actions if actions is not None else self.infer(frames_BTHWC)
        pred = self.reconstruct_next(frames_BTHWC, actions.quantized.codes)
        terms = reconstruction_terms(pred, frames_BTHWC, self.cfg.lam.moving_weight)
        return {
            **terms,
            "loss": terms["loss"] + actions.quantized.loss,
            "lam_codes_used": torch.tensor(float(actions.quantized.indices.unique().numel())),
            "lam_restarts": torch.tensor(float(actions.quantized.restarted)),
        }

    def action_codes(self, actions: torch.Tensor) -> torch.Tensor:
        """Codebook vectors [..., D] for integer latent actions [...] in [0, num_actions)."""
        return self.quantizer.lookup(actions)


def reconstruction_terms(pred_BTHWC: torch.Tensor, frames_BTHWC: torch.Tensor, moving_weight: float) -> dict[str, torch.Tensor]:
    """The LAM decoder's loss: MSE with moving pixels weighted `moving_weight`x, and its PSNRs."""
    unit = to_unit(frames_BTHWC)
    target = unit[:, 1:]
    moving = moving_mask(unit)
    weight = 1.0 + (moving_weight - 1.0) * moving
    err = (pred_BTHWC.float() - target) ** 2
    loss = (err * weight).sum() / (weight.sum() * err.shape[-1])
    moving_mse = (err * moving).sum() / (moving.sum() * err.shape[-1]).clamp_min(1.0)
    still_mse = (((unit[:, :-1] - target) ** 2) * moving).sum() / (moving.sum() * err.shape[-1]).clamp_min(1.0)
    return {
        "loss": loss,
        "lam_mse": err.mean().detach(),
        "lam_psnr": psnr(pred_BTHWC.detach(), target),
        # PSNR on the moving pixels, against holding frame t still there: > 0 when the latent helps.
        "lam_moving_gain": (10 * torch.log10(still_mse / moving_mse.clamp_min(1e-10))).detach(),
    }
