"""Video tokenizer: an ST-ViViT VQ-VAE, causal in time (Genie, Sec. 2.1).

Frames are cut into 4x4 patches, encoded by an ST-transformer, quantised to one of
`num_codes` codes per patch, and decoded by a second ST-transformer back to pixels. Both
transformers are causal in time, so the tokens of frame t depend only on frames <= t and a
rollout can decode one frame at a time with a temporal cache.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genie_robotics.core.config import GenieConfig
from genie_robotics.models.video import patchify, to_unit, unpatchify
from genie_robotics.nn.metrics import psnr
from genie_robotics.nn.st_transformer import STTransformer, TemporalCache
from genie_robotics.nn.vector_quantizer import Quantized, VectorQuantizer


class VideoTokenizer(nn.Module):
    def __init__(self, cfg: GenieConfig) -> None:
        super().__init__()
        self.cfg = cfg
        tc = cfg.tokenizer
        patch_dim = tc.patch_size**2 * 3
        n = cfg.tokens_per_frame
        self.patch_in = nn.Linear(patch_dim, tc.encoder.dim)
        self.encoder_pos = nn.Parameter(torch.randn(n, tc.encoder.dim) * 0.02)
        self.encoder = STTransformer(tc.encoder, cfg.frames)
        self.to_code = nn.Linear(tc.encoder.dim, tc.quantizer.code_dim)
        self.quantizer = VectorQuantizer(tc.quantizer)
        self.from_code = nn.Linear(tc.quantizer.code_dim, tc.decoder.dim)
        self.decoder_pos = nn.Parameter(torch.randn(n, tc.decoder.dim) * 0.02)
        self.decoder = STTransformer(tc.decoder, cfg.frames)
        self.patch_out = nn.Linear(tc.decoder.dim, patch_dim)

    # --- encoder -----------------------------------------------------------------------
    def quantize(self, frames_BTHWC: torch.Tensor) -> Quantized:
        """Encode uint8 frames and quantise: codes [B, T, N, D] and indices [B, T, N]."""
        pixels = patchify(to_unit(frames_BTHWC), self.cfg.tokenizer.patch_size).to(self.patch_in.weight.dtype)
        x = self.patch_in(pixels) + self.encoder_pos
        return self.quantizer(self.to_code(self.encoder(x)))

    @torch.no_grad()
    def encode(self, frames_BTHWC: torch.Tensor) -> torch.Tensor:
        """Token indices [B, T, N] of uint8 frames."""
        return self.quantize(frames_BTHWC).indices

    # --- decoder -----------------------------------------------------------------------
    def _decoder_in(self, codes: torch.Tensor) -> torch.Tensor:
        return self.from_code(codes) + self.decoder_pos

    def _to_pixels(self, h_BTND: torch.Tensor) -> torch.Tensor:
        tc = self.cfg.tokenizer
        return unpatchify(self.patch_out(h_BTND), tc.patch_size, self.cfg.height, self.cfg.width)

    def decode_codes(self, codes_BTND: torch.Tensor) -> torch.Tensor:
        """Frames in [-1, 1], [B, T, H, W, 3], from code vectors."""
        return self._to_pixels(self.decoder(self._decoder_in(codes_BTND)))

    def decode(self, tokens_BTN: torch.Tensor) -> torch.Tensor:
        """Frames in [-1, 1] from token indices."""
        return self.decode_codes(self.quantizer.lookup(tokens_BTN))

    def decode_frame(self, tokens_BN: torch.Tensor, cache: TemporalCache) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One new frame [B, H, W, 3] after the cached ones, and its keys/values [L, X, H, D]."""
        h, k, v = self.decoder.step(self._decoder_in(self.quantizer.lookup(tokens_BN)), cache)
        assert h is not None  # only a keys/values-only step leaves it out
        return self._to_pixels(h[:, None])[:, 0], k, v

    def empty_decoder_cache(self, batch: int, device: torch.device | str = "cpu") -> TemporalCache:
        return self.decoder.empty_cache(batch, self.cfg.tokens_per_frame, device, self.decoder_pos.dtype)

    # --- training ----------------------------------------------------------------------
    def loss(self, frames_BTHWC: torch.Tensor) -> dict[str, torch.Tensor]:
        """Reconstruction MSE + VQ loss, with PSNR and code usage for logging."""
        q = self.quantize(frames_BTHWC)
        recon = self.decode_codes(q.codes)
        target = to_unit(frames_BTHWC)
        mse = F.mse_loss(recon.float(), target)
        return {
            "loss": mse + q.loss,
            "recon_mse": mse.detach(),
            "vq_loss": q.loss.detach(),
            "psnr": psnr(recon.detach(), target),
            "codes_used": torch.tensor(float(q.indices.unique().numel())),
        }
