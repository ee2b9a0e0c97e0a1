"""Image-quality metrics on frames in [-1, 1]."""
import torch


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB over the whole batch, pixel range mapped to [0, 1]."""
    mse = ((pred.float() - target.float()) / 2).pow(2).mean()
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))
