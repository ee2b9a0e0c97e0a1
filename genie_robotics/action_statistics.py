"""How latent actions relate to true robot actions (see DESIGN.md, "latent-action consistency").

The LAM learns discrete codes without labels, so nothing ties code 3 to "move left". These
statistics ask whether the codes (or the continuous latents before quantisation) carry the
information in the true actions anyway: mutual information between codes and clustered true
actions, a linear probe from latents to true actions on held-out data, and code usage (a
collapsed codebook uses one or two codes, which caps what the codes can say).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


def _numpy(x, dtype=None) -> np.ndarray:
    """Accept numpy arrays, lists and (possibly CUDA / grad-tracking) torch tensors."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def _standardise(train_NF: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Zero mean, unit variance using the statistics of `train_NF`; constant features stay 0."""
    mean_F, std_F = train_NF.mean(0), train_NF.std(0)
    std_F = np.where(std_F > 1e-12, std_F, 1.0)
    return [(x - mean_F) / std_F for x in (train_NF, *others)]


def _squared_distances(points_NF: np.ndarray, centres_KF: np.ndarray) -> np.ndarray:
    sq_NK = (points_NF**2).sum(1)[:, None] - 2 * points_NF @ centres_KF.T + (centres_KF**2).sum(1)[None]
    return np.maximum(sq_NK, 0.0)


def kmeans(points_NF, k: int, seed: int = 0, iters: int = 50) -> np.ndarray:
    """Cluster labels [N] (int64) of k-means on standardised features, k-means++ initialised.

    Features are standardised first so that dimensions in different units (metres, radians,
    gripper) weigh alike. Deterministic for a given seed. With fewer distinct points than `k`,
    only that many clusters are made (labels are 0..distinct-1), since k-means++ cannot place
    a new centre where every point already sits on one.
    """
    points_NF = _numpy(points_NF, np.float64)
    if points_NF.ndim == 1:
        points_NF = points_NF[:, None]
    n = points_NF.shape[0]
    if n == 0 or k < 1:
        raise ValueError(f"kmeans needs points and k >= 1, got {n} points, k={k}")
    (points_NF,) = _standardise(points_NF)
    rng = np.random.default_rng(seed)

    centres = [points_NF[rng.integers(n)]]
    # Exact differences here (not the expanded form), so duplicates of a centre are exactly 0.
    closest_N = ((points_NF - centres[0]) ** 2).sum(1)
    while len(centres) < k and closest_N.sum() > 0:
        # k-means++: the next centre is drawn with probability proportional to D(x)^2.
        centres.append(points_NF[rng.choice(n, p=closest_N / closest_N.sum())])
        closest_N = np.minimum(closest_N, ((points_NF - centres[-1]) ** 2).sum(1))
    centres_KF = np.stack(centres)

    labels_N = np.full(n, -1)
    for _ in range(iters):
        dist_NK = _squared_distances(points_NF, centres_KF)
        new_labels_N = dist_NK.argmin(1)
        if np.array_equal(new_labels_N, labels_N):
            break
        labels_N = new_labels_N
        for j in range(len(centres_KF)):
            members = labels_N == j
            if members.any():
                centres_KF[j] = points_NF[members].mean(0)
            else:  # empty cluster: restart it on the point worst served by its centre
                far = dist_NK[np.arange(n), labels_N].argmax()
                centres_KF[j] = points_NF[far]
                dist_NK[far] = 0.0
    return np.unique(labels_N, return_inverse=True)[1].astype(np.int64)  # contiguous 0..K-1


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def normalized_mutual_information(labels_a_N, labels_b_N) -> float:
    """NMI = 2 I(a; b) / (H(a) + H(b)) (arithmetic-mean normalisation), in [0, 1].

    1 when one labelling is a relabelling of the other, about 0 when they are independent (a
    small positive bias remains for few samples per cell). Label values are arbitrary. When
    both labellings are constant (both entropies 0) the partitions are identical, so we return
    1.0, keeping "identical partitions give 1"; a constant labelling against a varied one gives
    0 (it says nothing about the other).
    """
    a_N, b_N = _numpy(labels_a_N).ravel(), _numpy(labels_b_N).ravel()
    if a_N.shape != b_N.shape or a_N.size == 0:
        raise ValueError(f"need two equally long, non-empty labellings, got {a_N.shape} and {b_N.shape}")
    _, a_idx_N = np.unique(a_N, return_inverse=True)
    _, b_idx_N = np.unique(b_N, return_inverse=True)
    num_a, num_b = a_idx_N.max() + 1, b_idx_N.max() + 1
    joint_AB = np.bincount(a_idx_N * num_b + b_idx_N, minlength=num_a * num_b).reshape(num_a, num_b)
    h_a, h_b = _entropy(joint_AB.sum(1)), _entropy(joint_AB.sum(0))
    if h_a + h_b == 0:
        return 1.0
    mutual_info = h_a + h_b - _entropy(joint_AB.ravel())
    return float(np.clip(2 * mutual_info / (h_a + h_b), 0.0, 1.0))


def code_usage(codes_N, num_codes: int) -> list[float]:
    """Fraction of samples using each of the `num_codes` codes (sums to 1); shows collapse."""
    codes_N = _numpy(codes_N).ravel().astype(np.int64)
    if codes_N.size == 0 or codes_N.min() < 0 or codes_N.max() >= num_codes:
        raise ValueError(f"codes must be a non-empty array of integers in [0, {num_codes})")
    return (np.bincount(codes_N, minlength=num_codes) / codes_N.size).tolist()


@dataclass
class ProbeResult:
    """Held-out scores of a linear probe from latents to true actions.

    accuracy: classifying the action labels; chance: the same for always guessing the training
    majority label; r2: ridge regression to the continuous actions, 1 - SSE/SST averaged over
    action dimensions (0 = no better than the held-out mean, can be negative).
    """

    accuracy: float
    chance: float
    r2: float


def _split(n: int, groups_N, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train / test indices from a seeded permutation; whole groups (episodes) stay on one side,
    so that near-identical neighbouring frames cannot leak from train to test."""
    rng = np.random.default_rng(seed)
    if groups_N is None:
        order = rng.permutation(n)
        n_train = int(np.clip(round(train_fraction * n), 1, n - 1))
        return order[:n_train], order[n_train:]
    groups_N = _numpy(groups_N).ravel()
    if groups_N.shape[0] != n:
        raise ValueError(f"groups has {groups_N.shape[0]} entries for {n} samples")
    names = rng.permutation(np.unique(groups_N))
    if len(names) < 2:
        raise ValueError("a grouped split needs at least 2 groups")
    n_train = int(np.clip(round(train_fraction * len(names)), 1, len(names) - 1))
    in_train_N = np.isin(groups_N, names[:n_train])
    return np.flatnonzero(in_train_N), np.flatnonzero(~in_train_N)


def _logistic_regression(x_ND: np.ndarray, y_N: np.ndarray, num_classes: int, weight_decay: float) -> tuple:
    """Multinomial logistic regression by L-BFGS (a convex problem: zero init is deterministic)."""
    x_ND_t, y_N_t = torch.from_numpy(x_ND), torch.from_numpy(y_N)
    weight_DC = torch.zeros(x_ND.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
    bias_C = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([weight_DC, bias_C], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(x_ND_t @ weight_DC + bias_C, y_N_t) + weight_decay * weight_DC.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return weight_DC.detach().numpy(), bias_C.detach().numpy()


def _ridge(x_ND: np.ndarray, y_NA: np.ndarray, penalty: float) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form ridge on centred data, so the intercept is not penalised."""
    x_mean_D, y_mean_A = x_ND.mean(0), y_NA.mean(0)
    xc_ND = x_ND - x_mean_D
    gram_DD = xc_ND.T @ xc_ND + penalty * x_ND.shape[0] * np.eye(x_ND.shape[1])
    weight_DA = np.linalg.solve(gram_DD, xc_ND.T @ (y_NA - y_mean_A))
    return weight_DA, y_mean_A - x_mean_D @ weight_DA


def _r2(pred_NA: np.ndarray, target_NA: np.ndarray) -> float:
    """1 - SSE/SST per dimension, averaged over dimensions that vary in the held-out set."""
    sst_A = ((target_NA - target_NA.mean(0)) ** 2).sum(0)
    sse_A = ((target_NA - pred_NA) ** 2).sum(0)
    varies_A = sst_A > 1e-12
    return float(np.mean(1 - sse_A[varies_A] / sst_A[varies_A])) if varies_A.any() else float("nan")


def linear_probe(latents_ND, action_labels_N, actions_NA, groups_N=None, train_fraction: float = 0.7,
                 seed: int = 0) -> ProbeResult:
    """How linearly decodable the true actions are from continuous latent actions, held out.

    Two probes on the same seeded train/test split (by episode when `groups_N` is given):
    multinomial logistic regression to the integer `action_labels_N` (e.g. k-means clusters of
    the true actions) with accuracy against the majority-class rate, and ridge regression to the
    continuous `actions_NA` with R^2. Latents are standardised with training statistics; both
    probes are lightly L2-regularised so that they stay stable when latents are collinear.
    """
    latents_ND = _numpy(latents_ND, np.float64)
    latents_ND = latents_ND.reshape(latents_ND.shape[0], -1)
    labels_N = _numpy(action_labels_N).ravel()
    actions_NA = _numpy(actions_NA, np.float64)
    actions_NA = actions_NA.reshape(actions_NA.shape[0], -1)
    n = latents_ND.shape[0]
    if n < 2 or labels_N.shape[0] != n or actions_NA.shape[0] != n:
        raise ValueError(f"need >= 2 samples and equal lengths, got {n}, {labels_N.shape[0]}, {actions_NA.shape[0]}")
    train, test = _split(n, groups_N, train_fraction, seed)
    x_train_ND, x_test_ND = _standardise(latents_ND[train], latents_ND[test])

    _, classes_N = np.unique(labels_N, return_inverse=True)
    weight_DC, bias_C = _logistic_regression(x_train_ND, classes_N[train], classes_N.max() + 1, weight_decay=1e-4)
    accuracy = float(((x_test_ND @ weight_DC + bias_C).argmax(1) == classes_N[test]).mean())
    majority = np.bincount(classes_N[train]).argmax()
    chance = float((classes_N[test] == majority).mean())

    weight_DA, bias_A = _ridge(x_train_ND, actions_NA[train], penalty=1e-3)
    r2 = _r2(x_test_ND @ weight_DA + bias_A, actions_NA[test])
    return ProbeResult(accuracy=accuracy, chance=chance, r2=r2)


def per_code_means(codes_N: np.ndarray, actions_NA: np.ndarray, num_codes: int) -> tuple[np.ndarray, np.ndarray]:
    """(means float32 [K, A], counts int64 [K]) of the actions paired with each code; unseen -> overall mean."""
    codes_N = np.asarray(codes_N, dtype=np.int64)
    actions_NA = np.asarray(actions_NA, dtype=np.float64)
    counts = np.bincount(codes_N, minlength=num_codes).astype(np.int64)
    sums = np.zeros((num_codes, actions_NA.shape[1]), dtype=np.float64)
    np.add.at(sums, codes_N, actions_NA)
    overall = actions_NA.mean(axis=0)
    seen = counts > 0
    means = np.where(seen[:, None], sums / np.maximum(counts, 1)[:, None], overall[None])
    return means.astype(np.float32), counts
