"""Image-quality metrics on frames in [-1, 1]."""
import torch


def psnr(pred: torch.Tensor, target: torch.Tensor, per_sample: bool = False) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, pixel range mapped to [0, 1].

    One value over the whole batch, or with `per_sample` one value per leading index.
    """
    err = ((pred.float() - target.float()) / 2).pow(2)
    mse = err.flatten(1).mean(1) if per_sample else err.mean()
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))
