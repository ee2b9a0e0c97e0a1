"""Fréchet Video Distance between real and generated clips.

FVD (Unterthiner et al. 2018) fits a Gaussian to video features of each set and reports the
Fréchet (2-Wasserstein) distance between the two Gaussians. The features come from an I3D
network trained on Kinetics-400; its weights cannot be downloaded here, so the user supplies a
TorchScript export of it and we only load it with `torch.jit.load` (never `torch.load`: a pickle
from a user file can run arbitrary code).

Standard setup, needed for numbers that compare with published ones: I3D (Kinetics-400), clips
of 16 frames resized to 224x224 with pixels in [-1, 1], features taken from the 400-d logits
(the original TF-Hub FVD) or the 1024-d pooled features (say which), and thousands of clips per
set (256 in the original paper, 2048 in StyleGAN-V). The estimate is biased upwards for small
sets, and with fewer clips than feature dimensions the covariance is singular: FVD from a
handful of videos is only comparable with FVD from the same number of videos.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from genie_robotics.core.errors import GenieError

I3D_SIZE = 224


def gaussian_stats(features_NF) -> tuple[np.ndarray, np.ndarray]:
    """Mean [F] and unbiased covariance [F, F] (float64) of N feature vectors, N >= 2."""
    if isinstance(features_NF, torch.Tensor):
        features_NF = features_NF.detach().cpu().numpy()
    features_NF = np.asarray(features_NF, dtype=np.float64)
    if features_NF.ndim != 2 or features_NF.shape[0] < 2:
        raise GenieError(f"need at least 2 feature vectors shaped [N, F], got {features_NF.shape}")
    mu_F = features_NF.mean(0)
    centred_NF = features_NF - mu_F
    sigma_FF = centred_NF.T @ centred_NF / (features_NF.shape[0] - 1)
    return mu_F, sigma_FF


def _psd_sqrt(sigma_FF: np.ndarray) -> np.ndarray:
    """Symmetric square root of a covariance; tiny negative eigenvalues (round-off) count as 0."""
    eigvals_F, eigvecs_FF = np.linalg.eigh((sigma_FF + sigma_FF.T) / 2)
    return (eigvecs_FF * np.sqrt(np.clip(eigvals_F, 0, None))) @ eigvecs_FF.T


def frechet_distance(mu1_F, sigma1_FF, mu2_F, sigma2_FF) -> float:
    """||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr(sqrt(S1 S2)) for two Gaussians, in float64.

    tr(sqrt(S1 S2)) is computed without the non-symmetric product: S1 S2 is similar to
    sqrt(S1) S2 sqrt(S1), which is symmetric PSD, so its square-root trace is the sum of the
    square roots of that matrix's eigenvalues (clamped at 0). Stable even for singular S1 / S2,
    where scipy's sqrtm needs an epsilon hack. The result is clamped at 0 (round-off).
    """
    mu1_F, mu2_F = np.asarray(mu1_F, np.float64), np.asarray(mu2_F, np.float64)
    sigma1_FF, sigma2_FF = np.asarray(sigma1_FF, np.float64), np.asarray(sigma2_FF, np.float64)
    if mu1_F.shape != mu2_F.shape or sigma1_FF.shape != sigma2_FF.shape or sigma1_FF.shape != mu1_F.shape * 2:
        raise ValueError(f"shape mismatch: mu {mu1_F.shape}/{mu2_F.shape}, sigma {sigma1_FF.shape}/{sigma2_FF.shape}")
    root1_FF = _psd_sqrt(sigma1_FF)
    middle_FF = root1_FF @ sigma2_FF @ root1_FF
    eigvals_F = np.linalg.eigvalsh((middle_FF + middle_FF.T) / 2)
    trace_sqrt = np.sqrt(np.clip(eigvals_F, 0, None)).sum()
    diff_F = mu1_F - mu2_F
    distance = diff_F @ diff_F + np.trace(sigma1_FF) + np.trace(sigma2_FF) - 2 * trace_sqrt
    return float(max(distance, 0.0))


class I3DFeatures:
    """A user-supplied TorchScript I3D: videos [B, T, H, W, 3] in [-1, 1] -> features [B, F].

    The module is fed float [B, 3, T, 224, 224] in [-1, 1] (frames resized bilinearly). If it
    returns a tuple/list/dict, the first tensor in it is taken as the features.
    """

    def __init__(self, path: str | Path, device: str | torch.device | None = None):
        self.path = Path(path)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if not self.path.is_file():
            raise GenieError(f"I3D model not found: {self.path} (expected a TorchScript file)")
        try:
            with warnings.catch_warnings():  # recent torch deprecates TorchScript; still the safe format
                warnings.simplefilter("ignore", DeprecationWarning)
                self.module = torch.jit.load(str(self.path), map_location=self.device).eval()
        except Exception as exc:  # torch raises RuntimeError/ValueError/... depending on the corruption
            raise GenieError(f"{self.path} is not a TorchScript archive (export I3D with torch.jit.script/trace "
                             f"and torch.jit.save): {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None

    @staticmethod
    def preprocess(videos_BTHWC: torch.Tensor) -> torch.Tensor:
        """[B, T, H, W, 3] in [-1, 1] -> I3D input [B, 3, T, 224, 224] float in [-1, 1]."""
        b, t, h, w, c = videos_BTHWC.shape
        frames_NCHW = videos_BTHWC.float().reshape(b * t, h, w, c).permute(0, 3, 1, 2)
        if (h, w) != (I3D_SIZE, I3D_SIZE):
            frames_NCHW = F.interpolate(frames_NCHW, size=(I3D_SIZE, I3D_SIZE), mode="bilinear", align_corners=False)
        frames_BTCHW = frames_NCHW.clamp(-1, 1).reshape(b, t, c, I3D_SIZE, I3D_SIZE)
        return frames_BTCHW.permute(0, 2, 1, 3, 4).contiguous()

    def _first_tensor(self, out) -> torch.Tensor:
        if isinstance(out, dict):
            out = list(out.values())
        if isinstance(out, (tuple, list)):
            out = next((o for o in out if isinstance(o, torch.Tensor)), None)
        if not isinstance(out, torch.Tensor) or out.dim() != 2:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise GenieError(f"I3D model {self.path} must return features shaped [B, F], got {shape}")
        return out

    @torch.no_grad()
    def __call__(self, videos_BTHWC: torch.Tensor, batch: int = 8) -> np.ndarray:
        """Features [B, F] as float64 numpy, computed `batch` videos at a time."""
        chunks = []
        for start in range(0, videos_BTHWC.shape[0], batch):
            clip_BCTHW = self.preprocess(videos_BTHWC[start:start + batch].to(self.device))
            chunks.append(self._first_tensor(self.module(clip_BCTHW)).double().cpu())
        return torch.cat(chunks).numpy()


def fvd(real_videos_BTHWC: torch.Tensor, fake_videos_BTHWC: torch.Tensor, i3d: I3DFeatures | str | Path,
        batch: int = 8, device: str | torch.device | None = None) -> float:
    """FVD between two sets of videos [B, T, H, W, 3] in [-1, 1] (see the module docstring)."""
    i3d = i3d if isinstance(i3d, I3DFeatures) else I3DFeatures(i3d, device)
    real_stats = gaussian_stats(i3d(real_videos_BTHWC, batch))
    fake_stats = gaussian_stats(i3d(fake_videos_BTHWC, batch))
    return frechet_distance(*real_stats, *fake_stats)
