"""Image-quality metrics on frames in [-1, 1]."""
import torch


def psnr(pred: torch.Tensor, target: torch.Tensor, per_sample: bool = False) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, pixel range mapped to [0, 1].

    One value over the whole batch, or with `per_sample` one value per leading index.
    """
    err = ((pred.float() - target.float()) / 2).pow(2)
    mse = err.flatten(1).mean(1) if per_sample else err.mean()
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """The normalised 2-D Gaussian of Wang et al. (2004), as a [1, 1, size, size] conv kernel."""
    x_K = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g_K = torch.exp(-x_K.pow(2) / (2 * sigma**2))
    g_K = g_K / g_K.sum()
    return torch.outer(g_K, g_K)[None, None]


def ssim(pred: torch.Tensor, target: torch.Tensor, per_sample: bool = False) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) of frames in [-1, 1], shaped [..., H, W, 3].

    Standard setting, so numbers compare with published ones: pixels mapped to [0, 1] (data
    range 1), 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03, 'valid' windows only
    (no padding, so H and W must be at least 11). SSIM is computed per channel and the map is
    averaged over positions, channels and frames: one value for the whole batch, or with
    `per_sample` one value per leading (first) index, shaped [B].
    """
    if pred.shape != target.shape or pred.shape[-1] != 3 or pred.dim() < 4:
        raise ValueError(f"ssim wants equal shapes [B, ..., H, W, 3], "
                         f"got {tuple(pred.shape)} and {tuple(target.shape)}")
    height, width = pred.shape[-3], pred.shape[-2]
    window = _gaussian_window().to(pred.device)
    size = window.shape[-1]
    if height < size or width < size:
        raise ValueError(f"ssim needs frames of at least {size}x{size}, got {height}x{width}")
    batch = pred.shape[0]

    def planes(x: torch.Tensor) -> torch.Tensor:
        # [..., H, W, C] in [-1, 1] -> one grey plane per channel, [N*C, 1, H, W] in [0, 1]
        x_NHWC = ((x.float() + 1) / 2).reshape(-1, height, width, 3)
        return x_NHWC.permute(0, 3, 1, 2).reshape(-1, 1, height, width)

    x_P1HW, y_P1HW = planes(pred), planes(target)
    # One convolution for all five local moments: E[x], E[y], E[x^2], E[y^2], E[xy].
    stack_Q1HW = torch.cat([x_P1HW, y_P1HW, x_P1HW * x_P1HW, y_P1HW * y_P1HW, x_P1HW * y_P1HW])
    moments_Q1hw = torch.nn.functional.conv2d(stack_Q1HW, window)
    mu_x, mu_y, e_xx, e_yy, e_xy = moments_Q1hw.chunk(5)
    var_x, var_y, cov_xy = e_xx - mu_x * mu_x, e_yy - mu_y * mu_y, e_xy - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    map_P1hw = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    return map_P1hw.reshape(batch, -1).mean(1) if per_sample else map_P1hw.mean()


def masked_psnr(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    """PSNR (dB) of the squared error pooled over every pixel where `mask` is true; NaN if none is.

    Frames [..., H, W, C] in [-1, 1], mask bool [..., H, W]. One MSE over all masked pixels of all
    samples, so a region that is small or absent in some samples is still scored (a mean of
    per-sample PSNRs is undefined where a sample has no masked pixel).
    """
    err = ((pred.float() - target.float()) / 2).pow(2).mean(-1)  # per pixel, over channels
    if not mask.any():
        return float("nan")
    return float(10 * torch.log10(1.0 / err[mask].mean().clamp_min(1e-10)))


def pairwise_psnr(frames: torch.Tensor) -> torch.Tensor:
    """PSNR (dB) between every pair i < j of frames [N, ...] in [-1, 1], shaped [N (N - 1) / 2].

    Unlike `psnr`, identical frames give inf (no clamp): "the same picture" stays recognisable.
    """
    flat = frames.float().flatten(1) / 2
    i, j = torch.triu_indices(len(flat), len(flat), offset=1)
    mse = (flat[i] - flat[j]).pow(2).mean(1)
    return 10 * torch.log10(1.0 / mse)
