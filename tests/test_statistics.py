"""SSIM, FVD (Fréchet maths + TorchScript loading) and latent-vs-true action statistics."""
import warnings

import numpy as np
import pytest
import torch

from genie_robotics.analysis.action_statistics import code_usage, kmeans, linear_probe, normalized_mutual_information
from genie_robotics.analysis.fvd import frechet_distance, fvd, gaussian_stats
from genie_robotics.core.errors import GenieError
from genie_robotics.nn.metrics import ssim


def _frames(seed: int, shape=(2, 24, 20, 3)) -> torch.Tensor:
    """Smooth random frames in [-1, 1] (blurred noise, so SSIM has structure to compare)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g)
    x = torch.nn.functional.avg_pool2d(x.movedim(-1, -3).reshape(-1, 3, *shape[-3:-1]), 3, 1, 1)
    return (x.reshape(*shape[:-3], 3, *shape[-3:-1]).movedim(-3, -1) * 2 - 1).clamp(-1, 1)


# ----------------------------------------------------------------------------------------- SSIM

def _ssim_reference(a_HWC: np.ndarray, b_HWC: np.ndarray) -> float:
    """scikit-image's SSIM with the paper's settings (Wang et al. 2004: 11x11 Gaussian window,
    sigma 1.5, population covariance), on frames mapped from [-1, 1] to [0, 1]."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity((a_HWC + 1) / 2, (b_HWC + 1) / 2, data_range=1.0, channel_axis=-1,
                                       gaussian_weights=True, sigma=1.5, use_sample_covariance=False))


def test_ssim_identical_is_one():
    x = _frames(0)
    assert abs(ssim(x, x).item() - 1) < 1e-6
    assert torch.allclose(ssim(x, x, per_sample=True), torch.ones(2), atol=1e-6)


def test_ssim_decreases_with_noise():
    x = _frames(1)
    g = torch.Generator().manual_seed(2)
    noise = torch.randn(x.shape, generator=g)
    scores = [ssim((x + s * noise).clamp(-1, 1), x).item() for s in (0.05, 0.2, 0.6)]
    assert scores[0] < 1 and scores[0] > scores[1] > scores[2]


def test_ssim_per_sample_shape_for_images_and_videos():
    images, videos = _frames(3, (4, 16, 16, 3)), _frames(4, (3, 2, 16, 16, 3))
    assert ssim(images, images.flip(0), per_sample=True).shape == (4,)
    per_video = ssim(videos, videos.flip(0), per_sample=True)
    assert per_video.shape == (3,)
    assert torch.isclose(per_video.mean(), ssim(videos, videos.flip(0)), atol=1e-6)


def test_ssim_matches_scikit_image():
    a = _frames(5, (1, 30, 27, 3))
    b = (0.7 * a + 0.3 * _frames(6, (1, 30, 27, 3))).clamp(-1, 1)  # related, so SSIM is mid-range
    expected = _ssim_reference(a[0].double().numpy(), b[0].double().numpy())
    assert abs(ssim(a, b).item() - expected) < 1e-4


# --------------------------------------------------------------------------------- Fréchet / FVD

def test_frechet_equal_covariances_is_mean_distance():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(5, 5))
    sigma = m @ m.T + np.eye(5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(((mu1 - mu2) ** 2).sum(), rel=1e-6, abs=1e-8)
    assert frechet_distance(mu1, sigma, mu1, sigma) == pytest.approx(0, abs=1e-8)


def test_frechet_diagonal_covariances_closed_form():
    rng = np.random.default_rng(1)
    var1, var2 = rng.uniform(0.1, 3, 6), rng.uniform(0.1, 3, 6)
    var1[0] = 0.0  # a degenerate direction must not break the square root
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    expected = ((mu1 - mu2) ** 2).sum() + (var1 + var2 - 2 * np.sqrt(var1 * var2)).sum()
    assert frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(expected, rel=1e-6)


def test_gaussian_stats_of_samples_give_analytic_distance():
    rng = np.random.default_rng(2)
    std1, std2 = np.array([1.0, 2.0, 0.5]), np.array([1.5, 1.0, 0.5])
    mu1, mu2 = np.zeros(3), np.array([1.0, -1.0, 0.0])
    x = mu1 + std1 * rng.normal(size=(20000, 3))
    y = mu2 + std2 * rng.normal(size=(20000, 3))
    expected = ((mu1 - mu2) ** 2).sum() + ((std1 - std2) ** 2).sum()
    mu_x, sigma_x = gaussian_stats(x)
    assert np.allclose(mu_x, mu1, atol=0.05) and np.allclose(sigma_x, np.diag(std1**2), atol=0.1)
    assert frechet_distance(*gaussian_stats(x), *gaussian_stats(y)) == pytest.approx(expected, rel=0.05)
    assert frechet_distance(*gaussian_stats(x), *gaussian_stats(x)) == pytest.approx(0, abs=1e-8)


class _TinyI3D(torch.nn.Module):
    """Stands in for I3D: checks the input layout, then pools and projects to 6 features."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(3 * 4, 6)
        with torch.no_grad():
            self.proj.weight.copy_(torch.linspace(-1, 1, 72).reshape(6, 12))
            self.proj.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1] == 3 and x.shape[3] == 224 and x.shape[4] == 224
        pooled_BCT = x.mean(dim=(3, 4))
        pooled_BCt = torch.nn.functional.adaptive_avg_pool1d(pooled_BCT, 4)  # time -> 4 bins
        return self.proj(pooled_BCt.flatten(1))


def _save_scripted(module: torch.nn.Module, path) -> None:
    with warnings.catch_warnings():  # torch 2.13 marks TorchScript deprecated; it is the safe format here
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(module), str(path))


@pytest.fixture
def i3d_path(tmp_path):
    path = tmp_path / "i3d.pt"
    _save_scripted(_TinyI3D(), path)
    return path


def test_fvd_with_torchscript_module(i3d_path):
    g = torch.Generator().manual_seed(0)
    videos = torch.rand(10, 8, 32, 40, 3, generator=g) * 2 - 1
    different = (videos * 0.3 + 0.5).clamp(-1, 1)
    same = fvd(videos, videos, i3d_path, batch=4, device="cpu")
    assert same == pytest.approx(0, abs=1e-6)
    assert fvd(videos, different, i3d_path, batch=3, device="cpu") > 100 * max(same, 1e-9)


def test_fvd_rejects_missing_and_non_torchscript_files(tmp_path):
    videos = torch.zeros(2, 4, 16, 16, 3)
    missing = tmp_path / "nope.pt"
    with pytest.raises(GenieError, match="nope.pt"):
        fvd(videos, videos, missing)
    text = tmp_path / "i3d.txt"
    text.write_text("not a model")
    with pytest.raises(GenieError, match="i3d.txt"):
        fvd(videos, videos, text)
    pickled = tmp_path / "pickled.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), pickled)
    with pytest.raises(GenieError, match="pickled.pt"):
        fvd(videos, videos, pickled)


def test_fvd_rejects_modules_without_2d_features(tmp_path):
    path = tmp_path / "flat.pt"
    _save_scripted(torch.nn.Flatten(0), path)
    with pytest.raises(GenieError, match="flat.pt"):
        fvd(torch.zeros(2, 2, 8, 8, 3), torch.zeros(2, 2, 8, 8, 3), path, device="cpu")


# -------------------------------------------------------------------------- action statistics

def test_nmi_perfect_and_independent():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 8, 5000)
    perm = rng.permutation(8) + 100  # label values are arbitrary
    assert normalized_mutual_information(a, perm[a]) == pytest.approx(1.0, abs=1e-9)
    assert normalized_mutual_information(a, rng.permutation(perm[a])) < 0.05
    assert normalized_mutual_information(a, np.zeros_like(a)) == pytest.approx(0.0, abs=1e-12)


def test_code_usage_fractions():
    usage = code_usage(torch.tensor([0, 0, 2, 2, 2, 3]), num_codes=5)
    assert len(usage) == 5 and sum(usage) == pytest.approx(1.0)
    assert usage[1] == usage[4] == 0 and usage[2] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        code_usage([0, 5], num_codes=5)


def _blobs(seed: int, n_per: int = 200):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=20, size=(5, 3)) * np.array([1.0, 100.0, 0.01])  # mixed units
    truth = np.repeat(np.arange(5), n_per)
    points = centres[truth] + rng.normal(size=(truth.size, 3)) * np.array([1.0, 100.0, 0.01])
    return points, truth


def test_kmeans_recovers_blobs_and_is_deterministic():
    points, truth = _blobs(0)
    labels = kmeans(points, 5, seed=3)
    assert normalized_mutual_information(labels, truth) > 0.99
    assert np.array_equal(labels, kmeans(points, 5, seed=3))


def test_kmeans_with_more_clusters_than_distinct_points():
    points = np.repeat(np.array([[0.0, 1.0], [2.0, 3.0], [5.0, -1.0]]), 10, axis=0)
    labels = kmeans(points, 8)
    assert sorted(np.unique(labels)) == [0, 1, 2]
    assert normalized_mutual_information(labels, np.repeat(np.arange(3), 10)) == pytest.approx(1.0)


def _planted(seed: int, n: int = 1500):
    rng = np.random.default_rng(seed)
    latents = rng.normal(size=(n, 6))
    actions = latents @ rng.normal(size=(6, 3)) + 0.5
    return latents, actions, kmeans(actions, 4, seed=seed)


def test_linear_probe_planted_mapping():
    latents, actions, labels = _planted(0)
    result = linear_probe(latents, labels, actions, seed=1)
    assert result.accuracy > 0.9 and result.r2 > 0.95
    assert result.accuracy > result.chance + 0.3


def test_linear_probe_by_episode_groups():
    latents, actions, labels = _planted(1)
    groups = np.repeat(np.arange(30), 50)
    result = linear_probe(latents, labels, actions, groups_N=groups, seed=0)
    assert result.accuracy > 0.9 and result.r2 > 0.95


def test_linear_probe_shuffled_targets_is_chance():
    latents, actions, labels = _planted(2)
    perm = np.random.default_rng(5).permutation(len(latents))
    result = linear_probe(latents, labels[perm], actions[perm], seed=0)
    assert abs(result.r2) < 0.1
    assert abs(result.accuracy - result.chance) < 0.1


def test_grouped_split_keeps_episodes_whole():
    from genie_robotics.analysis.action_statistics import _split

    groups = np.repeat(np.arange(10), 7)
    train, test = _split(len(groups), groups, 0.7, seed=4)
    assert len(train) + len(test) == len(groups)
    assert not set(groups[train]) & set(groups[test])
    assert len(set(groups[train])) == 7
